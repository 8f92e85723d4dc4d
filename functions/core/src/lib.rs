//! gateway-core: what the gateway does, independent of where it runs. Meta's webhook model,
//! signatures, event splitting, routing, delivery formats, the retry policy and the ports
//! (traits) the adapters implement. No AWS SDK, no Lambda, no network here.

pub mod admin;
pub mod bundle;
pub mod cache;
pub mod deliveries;
pub mod endpoint_health;
pub mod error;
pub mod format;
pub mod forward;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod mask;
pub mod meta;
pub mod metrics;
pub mod ports;
pub mod query;
pub mod realtime;
pub mod retry;
pub mod send;
pub mod signature;
pub mod ssrf;
pub mod tenant;
pub mod time;

#[cfg(any(test, feature = "memory"))]
pub mod memory;

pub use error::Error;
