//! In-memory real-time ports, for unit tests only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::realtime::{Connection, ConnectionId, ConnectionStore, Posted, Poster, TokenKey};
use crate::signature::Secret;
use crate::tenant::TenantId;

/// Per tenant: each connection with its record's expiry.
type ByTenant = BTreeMap<String, Vec<(Connection, i64)>>;

#[derive(Clone, Default)]
pub struct MemoryConnections {
    by_tenant: Arc<Mutex<ByTenant>>,
    failing: Arc<Mutex<bool>>,
}

impl MemoryConnections {
    pub fn fail(&self, on: bool) {
        *self.failing.lock().unwrap() = on;
    }

    pub fn ids(&self, tenant: &str) -> Vec<String> {
        let all = self.by_tenant.lock().unwrap();
        all.get(tenant)
            .map(|c| c.iter().map(|(c, _)| c.id.0.clone()).collect())
            .unwrap_or_default()
    }

    pub fn expires_at(&self, tenant: &str) -> Vec<i64> {
        let all = self.by_tenant.lock().unwrap();
        all.get(tenant)
            .map(|c| c.iter().map(|(_, at)| *at).collect())
            .unwrap_or_default()
    }

    fn check(&self) -> Result<(), Error> {
        match *self.failing.lock().unwrap() {
            true => Err(Error::unavailable("connections down")),
            false => Ok(()),
        }
    }
}

impl ConnectionStore for MemoryConnections {
    async fn add(
        &self,
        tenant: &TenantId,
        connection: &Connection,
        _now: i64,
        expires_at: i64,
    ) -> Result<(), Error> {
        self.check()?;
        let mut all = self.by_tenant.lock().unwrap();
        all.entry(tenant.0.clone())
            .or_default()
            .push((connection.clone(), expires_at));
        Ok(())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), Error> {
        self.check()?;
        for list in self.by_tenant.lock().unwrap().values_mut() {
            list.retain(|(c, _)| &c.id != id);
        }
        Ok(())
    }

    async fn forget(&self, _tenant: &TenantId, id: &ConnectionId) -> Result<(), Error> {
        self.remove(id).await
    }

    async fn live(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        self.check()?;
        let all = self.by_tenant.lock().unwrap();
        Ok(all
            .get(tenant.as_str())
            .map(|c| c.iter().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default())
    }
}

/// A frame and the connection it was posted to.
type Frame = (String, Vec<u8>);

/// Records every frame per connection; connections in `gone` answer `Gone`, and all fail
/// while `failing` is set.
#[derive(Clone, Default)]
pub struct MemoryPoster {
    pub frames: Arc<Mutex<Vec<Frame>>>,
    pub gone: Arc<Mutex<BTreeSet<String>>>,
    pub failing: Arc<Mutex<bool>>,
}

impl MemoryPoster {
    pub fn frames_to(&self, id: &str) -> Vec<serde_json::Value> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, _)| to == id)
            .map(|(_, f)| serde_json::from_slice(f).unwrap())
            .collect()
    }
}

impl Poster for MemoryPoster {
    async fn post(&self, id: &ConnectionId, frame: &[u8]) -> Posted {
        if *self.failing.lock().unwrap() {
            return Posted::Failed("poster down".into());
        }
        if self.gone.lock().unwrap().contains(id.as_str()) {
            return Posted::Gone;
        }
        self.frames
            .lock()
            .unwrap()
            .push((id.0.clone(), frame.to_vec()));
        Posted::Sent
    }
}

/// A token key in memory: none until the first `key(true)`.
#[derive(Clone, Default)]
pub struct MemoryTokenKey {
    key: Arc<Mutex<Option<Secret>>>,
}

impl TokenKey for MemoryTokenKey {
    async fn key(&self, create: bool, _fresh: bool) -> Result<Option<Secret>, Error> {
        let mut key = self.key.lock().unwrap();
        if key.is_none() && create {
            *key = Some(Secret::new("memory-token-key"));
        }
        Ok(key.clone())
    }
}
