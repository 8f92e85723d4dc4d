//! Tenants and who owns which id, in memory: the directory the functions read and the writer
//! administration uses, with the table's rules (one owner per id, expiry by the wall clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::admin::{OwnershipError, TenantWriter};
use crate::ports::{OwnerKind, TenantDirectory};
use crate::tenant::{Tenant, TenantId};
use crate::time::{Clock, SystemClock};

#[derive(Clone, Default)]
pub struct MemoryTenants {
    tenants: Arc<Mutex<HashMap<TenantId, Tenant>>>,
    owners: Arc<Mutex<HashMap<String, TenantId>>>,
    /// When a mapping stops working (a rotated-out API key), unix seconds.
    expiries: Arc<Mutex<HashMap<String, i64>>>,
}

impl MemoryTenants {
    pub fn add(&self, tenant: Tenant, phones: &[&str], wabas: &[&str]) {
        let mut owners = self.owners.lock().unwrap();
        for p in phones {
            owners.insert(format!("PHONE#{p}"), tenant.id.clone());
        }
        for w in wabas {
            owners.insert(format!("WABA#{w}"), tenant.id.clone());
        }
        self.tenants
            .lock()
            .unwrap()
            .insert(tenant.id.clone(), tenant);
    }
}

impl MemoryTenants {
    /// Stores or replaces a tenant's record.
    pub fn put_tenant(&self, tenant: Tenant) {
        self.tenants
            .lock()
            .unwrap()
            .insert(tenant.id.clone(), tenant);
    }

    pub fn set_owner(&self, kind: OwnerKind, id: &str, tenant: &TenantId) {
        self.owners
            .lock()
            .unwrap()
            .insert(format!("{}#{id}", kind.prefix()), tenant.clone());
    }

    pub fn remove_owner(&self, kind: OwnerKind, id: &str) {
        self.owners
            .lock()
            .unwrap()
            .remove(&format!("{}#{id}", kind.prefix()));
    }
}

impl MemoryTenants {
    /// When the mapping of `id` stops working, if it was set to.
    pub fn expiry(&self, kind: OwnerKind, id: &str) -> Option<i64> {
        let key = format!("{}#{id}", kind.prefix());
        self.expiries.lock().unwrap().get(&key).copied()
    }
}

impl TenantWriter for MemoryTenants {
    async fn put_tenant(&self, tenant: &Tenant) -> anyhow::Result<()> {
        MemoryTenants::put_tenant(self, tenant.clone());
        Ok(())
    }

    async fn add_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> Result<(), OwnershipError> {
        let mut owners = self.owners.lock().unwrap();
        let key = format!("{}#{id}", kind.prefix());
        if owners.contains_key(&key) {
            return Err(OwnershipError::Taken {
                kind: kind.prefix(),
                id: id.to_owned(),
            });
        }
        owners.insert(key, tenant.clone());
        // A phone number is listed on its tenant's record in the same write, as in the table.
        if kind == OwnerKind::Phone
            && let Some(record) = self.tenants.lock().unwrap().get_mut(tenant)
        {
            record.phone_number_ids.push(id.to_owned());
        }
        Ok(())
    }

    async fn remove_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> anyhow::Result<bool> {
        let mut owners = self.owners.lock().unwrap();
        let key = format!("{}#{id}", kind.prefix());
        if owners.get(&key) != Some(tenant) {
            return Ok(false);
        }
        owners.remove(&key);
        if kind == OwnerKind::Phone
            && let Some(record) = self.tenants.lock().unwrap().get_mut(tenant)
        {
            record.phone_number_ids.retain(|p| p != id);
        }
        Ok(true)
    }

    async fn expire_owner(&self, kind: OwnerKind, id: &str, at: i64) -> anyhow::Result<()> {
        let key = format!("{}#{id}", kind.prefix());
        if self.owners.lock().unwrap().contains_key(&key) {
            let mut expiries = self.expiries.lock().unwrap();
            let until = expiries.get(&key).map_or(at, |&sooner| sooner.min(at));
            expiries.insert(key, until);
        }
        Ok(())
    }

    async fn api_key_hashes(&self, tenant: &TenantId) -> anyhow::Result<Vec<String>> {
        let prefix = format!("{}#", OwnerKind::ApiKey.prefix());
        let owners = self.owners.lock().unwrap();
        let mut hashes: Vec<String> = owners
            .iter()
            .filter(|(_, owner)| *owner == tenant)
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        hashes.sort();
        Ok(hashes)
    }
}

impl TenantDirectory for MemoryTenants {
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        Ok(self.tenants.lock().unwrap().get(id).cloned())
    }
    async fn owner(&self, kind: OwnerKind, id: &str) -> Result<Option<TenantId>, Error> {
        let key = format!("{}#{id}", kind.prefix());
        // A mapping set to expire stops working then, by the wall clock, as in the table.
        let expired = self.expiries.lock().unwrap().get(&key).copied();
        if expired.is_some_and(|at| at <= SystemClock.now_secs()) {
            return Ok(None);
        }
        Ok(self.owners.lock().unwrap().get(&key).cloned())
    }
    async fn record_owner(
        &self,
        kind: OwnerKind,
        id: &str,
        tenant: &TenantId,
    ) -> Result<bool, Error> {
        let mut owners = self.owners.lock().unwrap();
        let key = format!("{}#{id}", kind.prefix());
        match owners.get(&key) {
            Some(existing) => Ok(existing == tenant),
            None => {
                owners.insert(key, tenant.clone());
                Ok(true)
            }
        }
    }
}
