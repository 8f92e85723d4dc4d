//! The key real-time tokens are signed with: one random item, `CONFIG#realtime-token-key`, in
//! the Tenants table, made by the first token request and read by the realtime function. It
//! never leaves the gateway. A warm function keeps it for `KEPT_FOR`, and reads it again
//! (at most every `REREAD_AFTER`) when a token names another key: deleting the item (there is
//! no gatewayctl command for it) ends every token at once where the new key is read.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use gateway_core::Error;
use gateway_core::realtime::TokenKey;
use gateway_core::signature::Secret;

use super::*;

pub const TOKEN_KEY_PK: &str = "CONFIG#realtime-token-key";
const KEY: &str = "key";
const KEPT_FOR: Duration = Duration::from_secs(300);
/// The shortest time between two reads: a flood of tokens naming unknown keys costs one read
/// per function every few seconds, and "no key yet" is kept this long too.
const REREAD_AFTER: Duration = Duration::from_secs(5);

/// When the key was read, and what was found (`None`: no key yet).
type Kept = (Instant, Option<Secret>);

#[derive(Clone, Debug)]
pub struct DynamoTokenKey {
    client: Client,
    table: String,
    kept: Arc<Mutex<Option<Kept>>>,
}

impl DynamoTokenKey {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTokenKey {
            client,
            table: table.into(),
            kept: Arc::default(),
        }
    }

    async fn read(&self) -> Result<Option<Secret>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(TOKEN_KEY_PK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("token key read"))?;
        Ok(out.item.and_then(|i| get_s(&i, KEY)).map(Secret::new))
    }
}

impl TokenKey for DynamoTokenKey {
    async fn key(&self, create: bool, fresh: bool) -> Result<Option<Secret>, Error> {
        if let Some((at, key)) = self.kept.lock().expect("never poisoned").as_ref() {
            let age = at.elapsed();
            let usable = match key {
                Some(_) => age < KEPT_FOR && !(fresh && age >= REREAD_AFTER),
                None => !create && age < REREAD_AFTER,
            };
            if usable {
                return Ok(key.clone());
            }
        }
        let mut key = self.read().await?;
        if key.is_none() && create {
            let fresh = hex::encode(rand::random::<[u8; 32]>());
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(TOKEN_KEY_PK))
                .item(KEY, s(&fresh))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            key = match put {
                Ok(_) => Some(Secret::new(fresh)),
                // Another function made it first: that one is the key.
                Err(e) if is_conditional_failure(&e) => self.read().await?,
                Err(e) => return Err(unavailable("token key write")(e)),
            };
        }
        *self.kept.lock().expect("never poisoned") = Some((Instant::now(), key.clone()));
        Ok(key)
    }
}
