//! The SSRF guard: which addresses a webhook or callback may never reach. The HTTP client
//! resolves a host once, checks every address here, and connects only to a checked one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is not a public unicast address: loopback, private, link-local, CGNAT,
/// multicast, documentation, benchmarking, reserved, the cloud metadata addresses, and the
/// IPv6 forms that embed one of those (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: [([u8; 4], u32); 16] = [
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // CGNAT
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, incl. 169.254.169.254 metadata
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, incl. broadcast
        ([255, 255, 255, 255], 32),
    ];
    BLOCKED.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn embedded_v4(ip: Ipv6Addr, at_bit: u32) -> Ipv4Addr {
    Ipv4Addr::from(((u128::from(ip) >> (96 - at_bit)) & 0xffff_ffff) as u32)
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d: judged by the IPv4 address.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return is_forbidden_v4(embedded_v4(ip, 96));
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
        return is_forbidden_v4(embedded_v4(ip, 16));
    }
    const BLOCKED: [([u16; 8], u32); 13] = [
        ([0, 0, 0, 0, 0, 0, 0, 0], 128),         // unspecified
        ([0, 0, 0, 0, 0, 0, 0, 1], 128),         // loopback
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // local-use NAT64
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard-only
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),     // IETF assignments, incl. Teredo
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),     // segment routing
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique local, incl. fd00:ec2::254
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local (deprecated)
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
        ([0, 0, 0, 0, 0, 0, 0, 0], 8),           // reserved ::/8: ::, ::1, IPv4-compatible
    ];
    BLOCKED.iter().any(|(net, prefix)| in_v6(ip, *net, *prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_blocked_family_is_refused() {
        let blocked = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:0001::1",
            "2002:c0a8:0101::1",
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "5f00::1",
        ];
        for addr in blocked {
            let ip: IpAddr = addr.parse().unwrap();
            assert!(is_forbidden(ip), "{addr} should be blocked");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "31.13.64.35",
            "52.95.110.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a03:2880:f12f:83:face:b00c:0:25de",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
            "2001:4860:4860::8888",
        ];
        for addr in allowed {
            let ip: IpAddr = addr.parse().unwrap();
            assert!(!is_forbidden(ip), "{addr} should be allowed");
        }
    }
}
