//! Live WebSocket connections in the Connections table: one item per connection, keyed by
//! tenant and connection id, so the forwarder lists a tenant's connections with one strongly
//! consistent Query (a connection made a moment ago is seen). `$disconnect` and `$default`
//! know only the connection id: the `ByConnection` index finds its tenant.
//!
//! The bounds live in the same table, in a partition of their own per tenant,
//! `<tenant>#tokens` (no tenant id holds a `#`, so nothing there is ever listed or counted as
//! a connection): one item per token nonce counting the connections it opened (TTL: the
//! token's expiry), and `#revoked`, the tenant's latest revocation (TTL: when every token
//! minted before it has expired). A connection's frame allowance is an attribute of its own
//! item. The realtime function may write only this table and read the Tenants table.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use gateway_core::Error;
use gateway_core::realtime::{Connection, ConnectionId, ConnectionStore, FrameRate, Framed, Scope};
use gateway_core::tenant::TenantId;

use super::*;

/// The table's keys and its index; template.yaml names the same ones (a test checks).
pub const TENANT: &str = "tenant";
pub const CONNECTION_ID: &str = "connection_id";
pub const BY_CONNECTION: &str = "ByConnection";
const FIELDS: &str = "fields";
const CONNECTED_AT: &str = "connected_at";
/// A post that finds a connection recorded this recently gone is early, not late: API
/// Gateway answers 410 while `$connect` is still running.
const YOUNG_SECS: i64 = 10;
const PHONES: &str = "phones";
/// A tenant's connections listed at most; the rest wait for the ones before them to close.
const MAX_LISTED: usize = 2_000;
/// On a connection: until when its frame allowance is spent (unix seconds).
const FRAMES_UNTIL: &str = "frames_until";
/// On a token's item: the connections it opened.
const USES: &str = "uses";
/// The sort key of a tenant's revocation, and its attribute.
const REVOKED: &str = "#revoked";
const REVOKED_AT: &str = "revoked_at";

/// The partition of `tenant`'s token uses and revocation.
fn bounds_partition(tenant: &TenantId) -> String {
    format!("{}#tokens", tenant.as_str())
}

#[derive(Clone, Debug)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

fn strings(item: &Item, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnections {
            client,
            table: table.into(),
        }
    }

    /// The tenants holding a record of connection `id`, through the `ByConnection` index
    /// (eventually consistent: a connection made a moment ago may not be there yet). Only
    /// connection records are in the index; a `#` partition never is a connection's.
    async fn owners(&self, id: &ConnectionId) -> Result<Vec<String>, Error> {
        let found = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_CONNECTION)
            .key_condition_expression("#c = :c")
            .expression_attribute_names("#c", CONNECTION_ID)
            .expression_attribute_values(":c", s(id.as_str()))
            .send()
            .await
            .map_err(unavailable("finding a connection"))?;
        Ok(found
            .items()
            .iter()
            .filter_map(|item| get_s(item, TENANT))
            .filter(|tenant| !tenant.contains('#'))
            .collect())
    }
}

impl ConnectionStore for DynamoConnections {
    async fn add(
        &self,
        tenant: &TenantId,
        connection: &Connection,
        now: i64,
        expires_at: i64,
    ) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(TENANT, s(tenant.as_str()))
            .item(CONNECTION_ID, s(connection.id.as_str()))
            .item(FIELDS, list(&connection.scope.fields))
            .item(PHONES, list(&connection.scope.phones))
            .item(CONNECTED_AT, n(now))
            .item(TTL_ATTRIBUTE, n(expires_at))
            .send()
            .await
            .map_err(unavailable("recording a connection"))?;
        Ok(())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), Error> {
        for tenant in self.owners(id).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(TENANT, s(tenant))
                .key(CONNECTION_ID, s(id.as_str()))
                .send()
                .await
                .map_err(unavailable("forgetting a connection"))?;
        }
        Ok(())
    }

    async fn forget(&self, tenant: &TenantId, id: &ConnectionId) -> Result<(), Error> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(TENANT, s(tenant.as_str()))
            .key(CONNECTION_ID, s(id.as_str()))
            .condition_expression("attribute_not_exists(#at) OR #at < :young")
            .expression_attribute_names("#at", CONNECTED_AT)
            .expression_attribute_values(":young", n(crate::now() - YOUNG_SECS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("forgetting a gone connection")(e)),
        }
    }

    async fn live(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        let now = crate::now();
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#t = :t")
                .expression_attribute_names("#t", TENANT)
                .expression_attribute_values(":t", s(tenant.as_str()))
                // Never read past the cap: a page is otherwise up to 1 MB of records.
                .limit((MAX_LISTED - out.len()).max(1) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("listing connections"))?;
            for item in page.items() {
                // TTL deletes lag by up to days: an expired record is no live connection.
                if get_n(item, TTL_ATTRIBUTE).is_some_and(|at| at <= now) {
                    continue;
                }
                if let Some(id) = get_s(item, CONNECTION_ID) {
                    out.push(Connection {
                        id: ConnectionId::new(id),
                        scope: Scope {
                            fields: strings(item, FIELDS),
                            phones: strings(item, PHONES),
                        },
                    });
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() || out.len() >= MAX_LISTED {
                out.truncate(MAX_LISTED);
                return Ok(out);
            }
        }
    }

    async fn delete(&self, tenant: &TenantId, id: &ConnectionId) -> Result<(), Error> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(TENANT, s(tenant.as_str()))
            .key(CONNECTION_ID, s(id.as_str()))
            .send()
            .await
            .map_err(unavailable("forgetting a closed connection"))?;
        Ok(())
    }

    /// One strongly consistent `Select=COUNT` Query of the tenant's partition (its connections
    /// only), unexpired records only: about 1 read unit per 4 KB of records (some 20
    /// connections), so a tenant at 200 costs 2 to 3 units per connect.
    async fn count(&self, tenant: &TenantId, now: i64, at_most: usize) -> Result<usize, Error> {
        let mut counted = 0usize;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .select(Select::Count)
                .key_condition_expression("#t = :t")
                .filter_expression("#x > :now")
                .expression_attribute_names("#t", TENANT)
                .expression_attribute_names("#x", TTL_ATTRIBUTE)
                .expression_attribute_values(":t", s(tenant.as_str()))
                .expression_attribute_values(":now", n(now))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("counting connections"))?;
            counted += usize::try_from(page.count).unwrap_or_default();
            start = page.last_evaluated_key;
            if start.is_none() || counted >= at_most {
                return Ok(counted);
            }
        }
    }

    async fn use_token(
        &self,
        tenant: &TenantId,
        nonce: &str,
        max: u32,
        expires_at: i64,
    ) -> Result<bool, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TENANT, s(bounds_partition(tenant)))
            .key(CONNECTION_ID, s(nonce))
            .update_expression("SET #x = :exp ADD #u :one")
            .condition_expression("attribute_not_exists(#u) OR #u < :max")
            .expression_attribute_names("#x", TTL_ATTRIBUTE)
            .expression_attribute_names("#u", USES)
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(i64::from(max)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("counting a token's use")(e)),
        }
    }

    /// The `ByConnection` index finds the tenant (eventually consistent: a connection made a
    /// moment ago may not be there yet, and is `Unknown`); then at most two conditional
    /// updates of the allowance, as [`FrameRate::spend`] computes it: a fresh allowance when
    /// it is not spent past `now`, else one more frame when it is spent no further than
    /// `now` + the tolerance. Both refused: one frame too many.
    async fn frame(&self, id: &ConnectionId, now: i64, rate: FrameRate) -> Result<Framed, Error> {
        let Some(tenant) = self.owners(id).await?.into_iter().next() else {
            return Ok(Framed::Unknown);
        };
        let tenant = TenantId::new(tenant);
        let fresh = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TENANT, s(tenant.as_str()))
            .key(CONNECTION_ID, s(id.as_str()))
            .update_expression("SET #f = :next")
            .condition_expression(
                "attribute_exists(#c) AND (attribute_not_exists(#f) OR #f < :now)",
            )
            .expression_attribute_names("#c", CONNECTION_ID)
            .expression_attribute_names("#f", FRAMES_UNTIL)
            .expression_attribute_values(":next", n(now + rate.every_secs))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match fresh {
            Ok(_) => return Ok(Framed::Allowed),
            Err(e) if is_conditional_failure(&e) => {}
            Err(e) => return Err(unavailable("counting a frame")(e)),
        }
        let one_more = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(TENANT, s(tenant.as_str()))
            .key(CONNECTION_ID, s(id.as_str()))
            .update_expression("SET #f = #f + :every")
            .condition_expression("attribute_exists(#c) AND #f BETWEEN :now AND :limit")
            .expression_attribute_names("#c", CONNECTION_ID)
            .expression_attribute_names("#f", FRAMES_UNTIL)
            .expression_attribute_values(":every", n(rate.every_secs))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":limit", n(now + rate.tolerance()))
            .send()
            .await;
        match one_more {
            Ok(_) => Ok(Framed::Allowed),
            // Spent too far ahead, or the record went meanwhile (closing it is no harm).
            Err(e) if is_conditional_failure(&e) => Ok(Framed::TooFast(tenant)),
            Err(e) => Err(unavailable("counting a frame")(e)),
        }
    }

    async fn revoke(&self, tenant: &TenantId, at: i64, expires_at: i64) -> Result<(), Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(TENANT, s(bounds_partition(tenant)))
            .item(CONNECTION_ID, s(REVOKED))
            .item(REVOKED_AT, n(at))
            .item(TTL_ATTRIBUTE, n(expires_at))
            .condition_expression("attribute_not_exists(#a) OR #a <= :at")
            .expression_attribute_names("#a", REVOKED_AT)
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A later revocation is already recorded: it stands.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("recording a revocation")(e)),
        }
    }

    async fn revoked_at(&self, tenant: &TenantId) -> Result<Option<i64>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TENANT, s(bounds_partition(tenant)))
            .key(CONNECTION_ID, s(REVOKED))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading a revocation"))?;
        Ok(out.item.as_ref().and_then(|item| get_n(item, REVOKED_AT)))
    }
}
