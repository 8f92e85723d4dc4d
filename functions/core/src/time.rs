//! Time as the services see it: a `Clock` they are given, so what depends on "now" (rotation
//! grace, retry times, claims) is pinned in tests. The functions and gatewayctl use
//! [`SystemClock`]; tests use [`FixedClock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    /// Unix milliseconds now.
    fn now_ms(&self) -> i64;

    /// Unix seconds now.
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// A clock that moves only when told; clones share the time.
#[derive(Debug, Clone, Default)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    pub fn at_ms(ms: i64) -> Self {
        FixedClock(Arc::new(AtomicI64::new(ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down_even_before_the_epoch() {
        let clock = FixedClock::at_ms(1_999);
        assert_eq!(clock.now_secs(), 1);
        clock.advance_ms(1);
        assert_eq!(clock.now_secs(), 2);
        assert_eq!(FixedClock::at_ms(-1).now_secs(), -1);
        let now = SystemClock.now_secs();
        assert!(now > 1_700_000_000, "{now}");
    }
}
