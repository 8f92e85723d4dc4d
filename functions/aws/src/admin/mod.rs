//! What operating a gateway needs from AWS beside the tenant use cases (core's
//! [`gateway_core::admin::TenantAdmin`], built by [`crate::Gateway::admin`]): the dead-letter
//! queue and the parked events, listed and replayed, and the system's random bytes for new
//! secrets.

use gateway_core::admin::{Entropy, TenantAdmin};
use gateway_core::time::SystemClock;
use rand::RngCore;

use crate::dynamo::DynamoTenants;

/// The system's cryptographic generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, bytes: &mut [u8]) {
        rand::rng().fill_bytes(bytes);
    }
}

/// The tenant use cases over the Tenants table.
pub type Admin = TenantAdmin<DynamoTenants, SystemClock, OsEntropy>;

mod dlq;

pub use dlq::*;
