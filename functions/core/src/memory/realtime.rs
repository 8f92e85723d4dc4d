//! In-memory real-time ports, for unit tests only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::Error;
use crate::realtime::{
    Closer, Connection, ConnectionId, ConnectionStore, FrameRate, Framed, Posted, Poster, TokenKey,
};
use crate::signature::Secret;
use crate::tenant::TenantId;

/// Per tenant: each connection with its record's expiry.
type ByTenant = BTreeMap<String, Vec<(Connection, i64)>>;

#[derive(Clone, Default)]
pub struct MemoryConnections {
    by_tenant: Arc<Mutex<ByTenant>>,
    /// Per connection id: until when its frame allowance is spent.
    frames: Arc<Mutex<BTreeMap<String, i64>>>,
    /// Per tenant and token nonce: the connections the token opened.
    uses: Arc<Mutex<BTreeMap<(String, String), u32>>>,
    /// Per tenant: its latest revocation.
    revoked: Arc<Mutex<BTreeMap<String, i64>>>,
    failing: Arc<Mutex<bool>>,
}

impl MemoryConnections {
    pub fn fail(&self, on: bool) {
        *self.failing.lock().unwrap() = on;
    }

    pub fn ids(&self, tenant: &str) -> Vec<String> {
        let all = self.by_tenant.lock().unwrap();
        all.get(tenant)
            .map(|c| c.iter().map(|(c, _)| c.id.as_str().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn expires_at(&self, tenant: &str) -> Vec<i64> {
        let all = self.by_tenant.lock().unwrap();
        all.get(tenant)
            .map(|c| c.iter().map(|(_, at)| *at).collect())
            .unwrap_or_default()
    }

    /// How many connections the token `nonce` of `tenant` has opened.
    pub fn uses(&self, tenant: &str, nonce: &str) -> u32 {
        let uses = self.uses.lock().unwrap();
        uses.get(&(tenant.to_owned(), nonce.to_owned()))
            .copied()
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
        all.entry(tenant.as_str().to_owned())
            .or_default()
            .push((connection.clone(), expires_at));
        Ok(())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), Error> {
        self.check()?;
        for list in self.by_tenant.lock().unwrap().values_mut() {
            list.retain(|(c, _)| &c.id != id);
        }
        self.frames.lock().unwrap().remove(id.as_str());
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

    async fn delete(&self, tenant: &TenantId, id: &ConnectionId) -> Result<(), Error> {
        self.check()?;
        if let Some(list) = self.by_tenant.lock().unwrap().get_mut(tenant.as_str()) {
            list.retain(|(c, _)| &c.id != id);
        }
        self.frames.lock().unwrap().remove(id.as_str());
        Ok(())
    }

    async fn count(&self, tenant: &TenantId, now: i64, _at_most: usize) -> Result<usize, Error> {
        self.check()?;
        let all = self.by_tenant.lock().unwrap();
        Ok(all
            .get(tenant.as_str())
            .map(|c| c.iter().filter(|(_, at)| *at > now).count())
            .unwrap_or_default())
    }

    async fn use_token(
        &self,
        tenant: &TenantId,
        nonce: &str,
        max: u32,
        _expires_at: i64,
    ) -> Result<bool, Error> {
        self.check()?;
        let mut uses = self.uses.lock().unwrap();
        let used = uses
            .entry((tenant.as_str().to_owned(), nonce.to_owned()))
            .or_default();
        if *used >= max {
            return Ok(false);
        }
        *used += 1;
        Ok(true)
    }

    async fn frame(&self, id: &ConnectionId, now: i64, rate: FrameRate) -> Result<Framed, Error> {
        self.check()?;
        let tenant = {
            let all = self.by_tenant.lock().unwrap();
            all.iter()
                .find(|(_, list)| list.iter().any(|(c, _)| &c.id == id))
                .map(|(tenant, _)| TenantId::new(tenant.clone()))
        };
        let Some(tenant) = tenant else {
            return Ok(Framed::Unknown);
        };
        let mut frames = self.frames.lock().unwrap();
        let spent = frames.get(id.as_str()).copied();
        Ok(match rate.spend(spent, now) {
            Some(until) => {
                frames.insert(id.as_str().to_owned(), until);
                Framed::Allowed
            }
            None => Framed::TooFast(tenant),
        })
    }

    async fn revoke(&self, tenant: &TenantId, at: i64, _expires_at: i64) -> Result<(), Error> {
        self.check()?;
        let mut revoked = self.revoked.lock().unwrap();
        let latest = revoked.entry(tenant.as_str().to_owned()).or_insert(at);
        *latest = (*latest).max(at);
        Ok(())
    }

    async fn revoked_at(&self, tenant: &TenantId) -> Result<Option<i64>, Error> {
        self.check()?;
        Ok(self.revoked.lock().unwrap().get(tenant.as_str()).copied())
    }
}

/// A frame and the connection it was posted to.
type Frame = (String, Vec<u8>);

/// Records every frame per connection; connections in `gone` answer `Gone`, and all fail
/// while `failing` is set. As a [`Closer`], records the connections it closed (and they are
/// gone from then on); closing fails while `failing` is set.
#[derive(Clone, Default)]
pub struct MemoryPoster {
    pub frames: Arc<Mutex<Vec<Frame>>>,
    pub gone: Arc<Mutex<BTreeSet<String>>>,
    pub failing: Arc<Mutex<bool>>,
    pub closed: Arc<Mutex<Vec<String>>>,
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

impl MemoryPoster {
    /// The connections closed, in order.
    pub fn closed_ids(&self) -> Vec<String> {
        self.closed.lock().unwrap().clone()
    }
}

impl Closer for MemoryPoster {
    async fn close(&self, id: &ConnectionId) -> Result<(), Error> {
        if *self.failing.lock().unwrap() {
            return Err(Error::unavailable("management API down"));
        }
        self.closed.lock().unwrap().push(id.as_str().to_owned());
        self.gone.lock().unwrap().insert(id.as_str().to_owned());
        Ok(())
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
            .push((id.as_str().to_owned(), frame.to_vec()));
        Posted::Sent
    }
}

/// A token key in memory, as the table adapter behaves: one stored key (none until the first
/// `key(true, _)`), and what this function kept of it, read again only when asked for
/// `fresh`. [`MemoryTokenKey::another_function`] shares the stored key with a kept copy of
/// its own; [`MemoryTokenKey::rotate`] replaces the stored key as an operator would.
#[derive(Clone, Default)]
pub struct MemoryTokenKey {
    stored: Arc<Mutex<Option<Secret>>>,
    kept: Arc<Mutex<Option<Secret>>>,
    made: Arc<Mutex<u32>>,
}

impl MemoryTokenKey {
    /// Another function over the same stored key: it keeps its own copy.
    pub fn another_function(&self) -> Self {
        MemoryTokenKey {
            stored: self.stored.clone(),
            kept: Arc::default(),
            made: self.made.clone(),
        }
    }

    /// Replaces the stored key; functions keep the old one until they read it fresh.
    pub fn rotate(&self) {
        let mut made = self.made.lock().unwrap();
        *made += 1;
        *self.stored.lock().unwrap() = Some(Secret::new(format!("memory-token-key-{made}")));
    }
}

impl TokenKey for MemoryTokenKey {
    async fn key(&self, create: bool, fresh: bool) -> Result<Option<Secret>, Error> {
        let mut kept = self.kept.lock().unwrap();
        if kept.is_none() || fresh {
            let mut stored = self.stored.lock().unwrap();
            if stored.is_none() && create {
                *stored = Some(Secret::new("memory-token-key"));
            }
            *kept = stored.clone();
        }
        Ok(kept.clone())
    }
}
