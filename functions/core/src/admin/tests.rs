//! The tenant use cases over the memory fake: what is stored, what is refused and named, and
//! what rotation keeps working for how long.

use std::sync::atomic::{AtomicU8, Ordering};

use super::destinations::valid_field;
use super::*;
use crate::memory::MemoryTenants;
use crate::time::FixedClock;

const NOW_MS: i64 = 1_800_000_000_000;

/// Bytes 0, 1, 2... across calls: every secret differs, and each is known.
#[derive(Default)]
struct Counting(AtomicU8);

impl Entropy for Counting {
    fn fill(&self, bytes: &mut [u8]) {
        for b in bytes {
            *b = self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

type Admin = TenantAdmin<MemoryTenants, FixedClock, Counting>;

fn admin() -> (Admin, MemoryTenants, FixedClock) {
    let tenants = MemoryTenants::default();
    let clock = FixedClock::at_ms(NOW_MS);
    let admin = TenantAdmin::new(
        tenants.clone(),
        TargetPolicy::PublicHttpsOnly,
        clock.clone(),
        Counting::default(),
    );
    (admin, tenants, clock)
}

fn spec(url: &str) -> TenantSpec {
    TenantSpec {
        name: "acme".into(),
        webhook_url: url.into(),
        format: DeliveryFormat::Meta,
        callback_domains: vec!["Acme.Example".into()],
    }
}

#[tokio::test]
async fn a_new_tenant_is_stored_with_its_secret_and_found_by_its_key_hash_only() {
    let (admin, tenants, _) = admin();
    let new = admin.create(spec("https://acme.example/wa")).await.unwrap();
    assert_eq!(new.tenant_id, "0001020304050607");
    assert!(new.webhook_secret.starts_with("whsec_"));
    assert_eq!(new.api_key.len(), 4 + 64);
    let stored = admin.existing(&new.tenant_id).await.unwrap();
    assert_eq!(
        stored.webhook_secrets[0].secret.expose(),
        new.webhook_secret
    );
    assert_eq!(stored.callback_domains, ["acme.example"]);
    assert!(stored.active);
    let hash = ApiKey::new(&new.api_key).hash();
    let owner = tenants
        .owner(OwnerKind::ApiKey, hash.as_str())
        .await
        .unwrap();
    assert_eq!(owner.unwrap().as_str(), new.tenant_id);
    let by_raw_key = tenants
        .owner(OwnerKind::ApiKey, &new.api_key)
        .await
        .unwrap();
    assert!(by_raw_key.is_none(), "the key itself is never stored");
}

#[tokio::test]
async fn refused_values_name_their_field_and_store_nothing() {
    let (admin, tenants, _) = admin();
    let cases = [
        (
            spec("http://acme.example/wa"),
            "webhook_url",
            "must use https",
        ),
        (spec("https://127.0.0.1/wa"), "webhook_url", ""),
        (
            TenantSpec {
                name: "  ".into(),
                ..spec("https://acme.example/wa")
            },
            "name",
            "must not be empty",
        ),
        (
            TenantSpec {
                callback_domains: vec!["https://x.com".into()],
                ..spec("https://acme.example/wa")
            },
            "callback_domain",
            "`https://x.com` is not a domain name",
        ),
    ];
    for (spec, field, message) in cases {
        match admin.create(spec).await {
            Err(AdminError::Invalid {
                field: f,
                message: m,
            }) => {
                assert_eq!(f, field);
                assert!(m.contains(message), "{m}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(
        tenants
            .api_key_hashes(&TenantId::new("0001020304050607"))
            .await
            .unwrap()
            .is_empty()
    );
    let unknown = admin.update("nobody", TenantChanges::default()).await;
    assert_eq!(unknown.unwrap_err().to_string(), "unknown tenant `nobody`");
}

#[tokio::test]
async fn a_rotated_api_key_keeps_the_old_one_for_the_grace_or_revokes_it_now() {
    let (admin, tenants, clock) = admin();
    let new = admin.create(spec("https://acme.example/wa")).await.unwrap();
    let old = ApiKey::new(&new.api_key).hash();
    let next = admin.rotate_api_key(&new.tenant_id, false).await.unwrap();
    assert_ne!(next, new.api_key);
    let now = NOW_MS / 1000;
    assert_eq!(
        tenants.expiry(OwnerKind::ApiKey, old.as_str()),
        Some(now + ROTATION_GRACE_SECS)
    );
    let newest = ApiKey::new(&next).hash();
    assert_eq!(tenants.expiry(OwnerKind::ApiKey, newest.as_str()), None);
    clock.advance_ms(5_000);
    admin.rotate_api_key(&new.tenant_id, true).await.unwrap();
    assert_eq!(
        tenants.expiry(OwnerKind::ApiKey, newest.as_str()),
        Some(now + 5)
    );
    // An earlier end is never pushed back by a later rotation.
    assert_eq!(
        tenants.expiry(OwnerKind::ApiKey, old.as_str()),
        Some(now + 5)
    );
}

#[tokio::test]
async fn a_rotated_webhook_secret_signs_beside_the_old_one_until_the_grace_ends() {
    let (admin, _, clock) = admin();
    let new = admin.create(spec("https://acme.example/wa")).await.unwrap();
    let second = admin.rotate_webhook_secret(&new.tenant_id).await.unwrap();
    let tenant = admin.existing(&new.tenant_id).await.unwrap();
    let now = NOW_MS / 1000;
    let secrets: Vec<(&str, Option<i64>)> = tenant
        .webhook_secrets
        .iter()
        .map(|s| (s.secret.expose(), s.expires_at))
        .collect();
    assert_eq!(
        secrets,
        [
            (second.as_str(), None),
            (new.webhook_secret.as_str(), Some(now + ROTATION_GRACE_SECS))
        ]
    );
    // Once the grace has passed, the next rotation drops the expired secret.
    clock.advance_ms((ROTATION_GRACE_SECS + 1) * 1000);
    let third = admin.rotate_webhook_secret(&new.tenant_id).await.unwrap();
    let tenant = admin.existing(&new.tenant_id).await.unwrap();
    let kept: Vec<&str> = tenant
        .webhook_secrets
        .iter()
        .map(|s| s.secret.expose())
        .collect();
    assert_eq!(kept, [third.as_str(), second.as_str()]);
}

#[tokio::test]
async fn destinations_take_only_the_tenants_own_numbers_and_checked_urls() {
    let (admin, tenants, _) = admin();
    let a = admin.create(spec("https://acme.example/wa")).await.unwrap();
    let b = admin
        .create(spec("https://bravo.example/wa"))
        .await
        .unwrap();
    admin
        .assign(OwnerKind::Phone, "111", &a.tenant_id)
        .await
        .unwrap();
    admin
        .assign(OwnerKind::Phone, "222", &b.tenant_id)
        .await
        .unwrap();
    // Another tenant's number, however it is asked for, is refused and nothing changes.
    let taken = admin.assign(OwnerKind::Phone, "222", &a.tenant_id).await;
    assert!(matches!(
        taken,
        Err(AdminError::Ownership(OwnershipError::Taken { .. }))
    ));
    let foreign = DestinationChanges {
        phones: [("222".to_owned(), "https://acme.example/b".to_owned())].into(),
        ..Default::default()
    };
    let err = admin
        .set_destinations(&a.tenant_id, foreign)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "phone `222`: not one of this tenant's phone numbers"
    );
    let (_, removed) = admin
        .unassign(OwnerKind::Phone, "222", &a.tenant_id)
        .await
        .unwrap();
    assert!(!removed, "another tenant's number is not removed");
    let owner = tenants
        .owner(OwnerKind::Phone, "222")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.as_str(), b.tenant_id);
    for (changes, field) in [
        (
            DestinationChanges {
                phones: [("111".to_owned(), "http://acme.example/a".to_owned())].into(),
                ..Default::default()
            },
            "phone",
        ),
        (
            DestinationChanges {
                statuses: Some(Some("https://10.0.0.1/s".into())),
                ..Default::default()
            },
            "statuses_url",
        ),
        (
            DestinationChanges {
                fields: Some(vec!["Messages".into()]),
                ..Default::default()
            },
            "fields",
        ),
        (
            DestinationChanges {
                remove_phones: vec!["111".into()],
                ..Default::default()
            },
            "remove_phone",
        ),
    ] {
        match admin.set_destinations(&a.tenant_id, changes).await {
            Err(AdminError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let ok = DestinationChanges {
        phones: [("111".to_owned(), "https://acme.example/a".to_owned())].into(),
        statuses: Some(Some("https://acme.example/s".into())),
        fields: Some(vec!["messages".into()]),
        ..Default::default()
    };
    let tenant = admin.set_destinations(&a.tenant_id, ok).await.unwrap();
    assert_eq!(tenant.destinations.phones["111"], "https://acme.example/a");
    assert_eq!(
        admin.existing(&a.tenant_id).await.unwrap().destinations,
        tenant.destinations
    );
}

#[test]
fn domains_and_field_names_are_checked() {
    assert!(valid_domain("example.com"));
    assert!(valid_domain("a-b.example.co"));
    for bad in ["", "exa mple.com", "-a.com", "a..com", "https://x.com"] {
        assert!(!valid_domain(bad), "{bad}");
    }
    assert!(valid_field("messages"));
    assert!(valid_field("message_template_status_update"));
    for bad in ["", "Messages", "a b", "x;y", &"a".repeat(65)] {
        assert!(!valid_field(bad), "{bad}");
    }
}
