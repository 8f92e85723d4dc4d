//! The deliveries service over the forwarder's own records, in memory: the shared fixture
//! (a forwarder and the service over one log), and the tests grouped by what they exercise.

mod limits;
mod recover;
mod replay;

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::forward::{ForwardConfig, ForwardPorts, Forwarder};
use crate::memory::*;
use crate::meta::Event;
use crate::meta::split::split_events;
use crate::ports::DeliveryResult;
use crate::retry::FailureKind;
use crate::signature::Secret;
use crate::tenant::{Tenant, WebhookSecret};

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: TenantId::new(id),
        name: id.into(),
        webhook_url: format!("https://{id}.example/hook"),
        webhook_secrets: vec![WebhookSecret {
            secret: Secret::new(format!("whsec_{id}")),
            expires_at: None,
        }],
        format: crate::format::DeliveryFormat::Meta,
        callback_domains: vec![],
        phone_number_ids: vec![],
        active: true,
        destinations: Default::default(),
    }
}

fn down() -> DeliveryResult {
    DeliveryResult::Failed {
        kind: FailureKind::Failed,
        status: Some(503),
        retry_after: None,
        reason: "HTTP 503".into(),
    }
}

struct Fixture {
    forwarder: crate::bundle::PortsForwarder<crate::memory::MemoryPorts>,
    service: crate::bundle::PortsDeliveries<crate::memory::MemoryPorts>,
    log: MemoryIdempotency,
    requeue: MemoryRequeue,
    sender: ScriptedSender,
}

fn fixture(script: Vec<DeliveryResult>) -> Fixture {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("a"), &["P"], &["W"]);
    let log = MemoryIdempotency::default();
    let health = MemoryHealth::default();
    let sender = ScriptedSender::new(script);
    let requeue = MemoryRequeue::default();
    let ports = ForwardPorts {
        idempotency: log.clone(),
        tenants,
        messages: MemoryMessages::default(),
        sender: sender.clone(),
        parking: MemoryParking::default(),
        health: health.clone(),
    };
    Fixture {
        forwarder: Forwarder::new(ports, ForwardConfig::default()),
        service: DeliveriesService::new(
            log.clone(),
            requeue.clone(),
            health,
            Duration::from_secs(60),
        ),
        log,
        requeue,
        sender,
    }
}

fn body(r: &crate::send::ApiResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// The status a call answered with, whether it succeeded or not.
fn status(r: &Result<crate::send::ApiResponse, crate::Error>) -> u16 {
    match r {
        Ok(response) => response.status,
        Err(e) => e.status(),
    }
}

/// Message `n` of tenant a's number, as the queue holds it.
fn message(n: usize) -> (Event, String) {
    let raw = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"P"}},"messages":[{{"from":"1","id":"wamid.m{n}","type":"text","text":{{"body":"hi"}}}}]}},"field":"messages"}}]}}]}}"#
    );
    let event = split_events(raw.as_bytes()).unwrap().remove(0);
    let queued = event.to_queue_body();
    (event, queued)
}

/// Copies the service put back on the queue.
fn copies(f: &Fixture) -> Vec<String> {
    f.requeue.bodies.lock().unwrap().clone()
}

const SINCE_EPOCH: &[u8] = br#"{"since":"1970-01-01T00:00:00Z"}"#;
