//! DynamoDB adapters: the Tenants table (single-table keys), the Messages table and the
//! Idempotency table. Every table expires items through the `expires_at` TTL attribute.

mod connections;
mod deliveries;
mod endpoint_health;
mod idempotency;
mod messages;
mod tenants;
mod token_key;

pub use connections::{BY_CONNECTION, CONNECTION_ID, DynamoConnections, TENANT};
pub use deliveries::{BY_TENANT_STATE, STATE_AT_MS, TENANT_STATE};
pub use endpoint_health::DynamoHealth;
pub use gateway_core::admin::OwnershipError;
pub use idempotency::DynamoIdempotency;
pub use messages::{DynamoMessages, MESSAGE_TTL_SECS};
pub use tenants::DynamoTenants;
pub use token_key::{DynamoTokenKey, TOKEN_KEY_PK};

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::Error;

/// The TTL attribute of every table; template.yaml names the same one (a test checks).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The hash key of the Tenants and Idempotency tables.
pub const PK: &str = "pk";
/// The hash key of the Messages table.
pub const WAMID: &str = "wamid";

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn get_n(item: &Item, key: &str) -> Option<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(super) fn unavailable<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> Error {
    move |e| {
        tracing::error!(error = ?e, "{what} failed");
        Error::unavailable(what)
    }
}

pub(super) fn is_conditional_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}
