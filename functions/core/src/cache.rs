//! Tenant lookups cached in a warm function: each event and each send reads who owns a phone
//! number or an API key and then the tenant's record. Both change rarely (an operator adds a
//! number, rotates a key or a secret, suspends a tenant), so a warm function keeps what it read
//! for a bounded time (`TENANT_CACHE_SECONDS`, 60 by default; 0 turns the cache off). A change
//! takes effect in every function within that time. Only what exists is kept: an unknown phone
//! number or key is read again each time, so a number added to a tenant routes at once.
//! Ownership of templates, media and flows, learnt from Meta's answers while functions run, is
//! never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Error;
use crate::ports::{OwnerKind, TenantDirectory};
use crate::tenant::{Tenant, TenantId};

/// The most entries one function keeps; when full, the cache starts again empty.
pub const MAX_ENTRIES: usize = 10_000;

/// The kinds whose ownership is cached: set by an operator, never learnt at run time.
fn cached_kind(kind: OwnerKind) -> bool {
    matches!(kind, OwnerKind::Phone | OwnerKind::Waba | OwnerKind::ApiKey)
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Tenant(String),
    Owner(OwnerKind, String),
}

#[derive(Clone)]
enum Entry {
    Tenant(Box<Tenant>),
    Owner(TenantId),
}

/// What time it is; a test moves it.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

pub struct CachedTenants<T> {
    inner: T,
    ttl: Duration,
    clock: Clock,
    entries: Mutex<HashMap<Key, (Instant, Entry)>>,
}

impl<T> CachedTenants<T> {
    pub fn new(inner: T, ttl: Duration) -> Self {
        Self::with_clock(inner, ttl, Arc::new(Instant::now))
    }

    pub fn with_clock(inner: T, ttl: Duration, clock: Clock) -> Self {
        CachedTenants {
            inner,
            ttl,
            clock,
            entries: Mutex::default(),
        }
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn fresh(&self, key: &Key) -> Option<Entry> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (stored, entry) = entries.get(key)?;
        ((self.clock)().saturating_duration_since(*stored) < self.ttl).then(|| entry.clone())
    }

    fn keep(&self, key: Key, entry: Entry) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, ((self.clock)(), entry));
    }
}

impl<T: TenantDirectory> TenantDirectory for CachedTenants<T> {
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        let key = Key::Tenant(id.as_str().to_owned());
        if let Some(Entry::Tenant(tenant)) = self.fresh(&key) {
            return Ok(Some(*tenant));
        }
        let found = self.inner.tenant(id).await?;
        if let Some(tenant) = &found {
            self.keep(key, Entry::Tenant(Box::new(tenant.clone())));
        }
        Ok(found)
    }

    async fn owner(&self, kind: OwnerKind, id: &str) -> Result<Option<TenantId>, Error> {
        if !cached_kind(kind) {
            return self.inner.owner(kind, id).await;
        }
        let key = Key::Owner(kind, id.to_owned());
        if let Some(Entry::Owner(owner)) = self.fresh(&key) {
            return Ok(Some(owner));
        }
        let found = self.inner.owner(kind, id).await?;
        if let Some(owner) = &found {
            self.keep(key, Entry::Owner(owner.clone()));
        }
        Ok(found)
    }

    async fn record_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> Result<bool, Error> {
        self.inner.record_owner(kind, id, tenant).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryTenants;

    struct Fixture {
        now: Arc<Mutex<Instant>>,
        cached: CachedTenants<MemoryTenants>,
        store: MemoryTenants,
    }

    fn fixture(ttl: Duration) -> Fixture {
        let now = Arc::new(Mutex::new(Instant::now()));
        let clock_now = now.clone();
        let store = MemoryTenants::default();
        let cached = CachedTenants::with_clock(
            store.clone(),
            ttl,
            Arc::new(move || *clock_now.lock().unwrap()),
        );
        Fixture { now, cached, store }
    }

    impl Fixture {
        fn advance(&self, by: Duration) {
            *self.now.lock().unwrap() += by;
        }
    }

    fn tenant(id: &str, active: bool) -> Tenant {
        Tenant {
            id: TenantId::new(id),
            name: "acme".into(),
            webhook_url: "https://example.com/hook".into(),
            webhook_secrets: vec![],
            format: crate::format::DeliveryFormat::Meta,
            callback_domains: vec![],
            phone_number_ids: vec![],
            active,
            destinations: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_change_takes_effect_once_the_ttl_has_passed_and_not_before() {
        let f = fixture(Duration::from_secs(60));
        let id = TenantId::new("t1");
        f.store.put_tenant(tenant("t1", true));
        assert!(f.cached.tenant(&id).await.unwrap().unwrap().active);
        f.store.put_tenant(tenant("t1", false));
        f.advance(Duration::from_secs(59));
        assert!(
            f.cached.tenant(&id).await.unwrap().unwrap().active,
            "cached within the TTL"
        );
        f.advance(Duration::from_secs(1));
        assert!(
            !f.cached.tenant(&id).await.unwrap().unwrap().active,
            "read again after it"
        );
    }

    #[tokio::test]
    async fn unknown_ids_and_learnt_ownership_are_read_every_time() {
        let f = fixture(Duration::from_secs(60));
        let id = TenantId::new("t1");
        f.store.put_tenant(tenant("t1", true));
        assert_eq!(f.cached.owner(OwnerKind::Phone, "111").await.unwrap(), None);
        f.store.set_owner(OwnerKind::Phone, "111", &id);
        assert_eq!(
            f.cached.owner(OwnerKind::Phone, "111").await.unwrap(),
            Some(id.clone()),
            "a number added to a tenant routes at once"
        );
        f.store.set_owner(OwnerKind::Media, "m1", &id);
        assert_eq!(
            f.cached.owner(OwnerKind::Media, "m1").await.unwrap(),
            Some(id.clone())
        );
        f.store.remove_owner(OwnerKind::Media, "m1");
        assert_eq!(
            f.cached.owner(OwnerKind::Media, "m1").await.unwrap(),
            None,
            "media ownership is never cached"
        );
    }

    #[tokio::test]
    async fn a_revoked_key_works_until_the_ttl_passes() {
        let f = fixture(Duration::from_secs(30));
        let id = TenantId::new("t1");
        f.store.set_owner(OwnerKind::ApiKey, "hash", &id);
        assert_eq!(
            f.cached.owner(OwnerKind::ApiKey, "hash").await.unwrap(),
            Some(id.clone())
        );
        f.store.remove_owner(OwnerKind::ApiKey, "hash");
        assert_eq!(
            f.cached.owner(OwnerKind::ApiKey, "hash").await.unwrap(),
            Some(id)
        );
        f.advance(Duration::from_secs(30));
        assert_eq!(
            f.cached.owner(OwnerKind::ApiKey, "hash").await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_every_time() {
        let f = fixture(Duration::ZERO);
        let id = TenantId::new("t1");
        f.store.put_tenant(tenant("t1", true));
        f.cached.tenant(&id).await.unwrap();
        f.store.put_tenant(tenant("t1", false));
        assert!(!f.cached.tenant(&id).await.unwrap().unwrap().active);
    }

    #[tokio::test]
    async fn a_full_cache_starts_again_and_keeps_answering() {
        let f = fixture(Duration::from_secs(60));
        let id = TenantId::new("t1");
        for n in 0..=MAX_ENTRIES {
            let phone = n.to_string();
            f.store.set_owner(OwnerKind::Phone, &phone, &id);
            f.cached.owner(OwnerKind::Phone, &phone).await.unwrap();
        }
        assert!(f.cached.entries.lock().unwrap().len() <= MAX_ENTRIES);
        assert_eq!(
            f.cached.owner(OwnerKind::Phone, "0").await.unwrap(),
            Some(id)
        );
    }
}
