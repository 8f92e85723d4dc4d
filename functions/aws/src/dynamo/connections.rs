//! Live WebSocket connections in the Connections table: one item per connection, keyed by
//! tenant and connection id, so the forwarder lists a tenant's connections with one strongly
//! consistent Query (a connection made a moment ago is seen). `$disconnect` knows only the
//! connection id: the `ByConnection` index finds its tenant.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::Error;
use gateway_core::realtime::{Connection, ConnectionId, ConnectionStore, Scope};
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

#[derive(Clone, Debug)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnections {
            client,
            table: table.into(),
        }
    }
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
        for item in found.items() {
            let Some(tenant) = get_s(item, TENANT) else {
                continue;
            };
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
                        id: ConnectionId(id),
                        scope: Scope {
                            fields: strings(item, FIELDS),
                            phones: strings(item, PHONES),
                        },
                    });
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() || out.len() >= MAX_LISTED {
                return Ok(out);
            }
        }
    }
}
