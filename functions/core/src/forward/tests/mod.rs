//! The forwarder over in-memory ports.

use super::*;
use crate::endpoint_health::BreakerPolicy;
use crate::format::DeliveryFormat;
use crate::memory::*;
use crate::meta::split::split_events;
use crate::ports::MessageRecord;
use crate::ports::OwnerKind;
use crate::retry::FailureKind;
use crate::signature::{Secret, verify_hub_signature};
use crate::tenant::{Tenant, TenantId, WebhookSecret};

const STATUS: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"statuses":[{"id":"wamid.1","status":"read","timestamp":"50","recipient_id":"1"}]},"field":"messages"}]}]}"#;

fn tenant(id: &str, url: &str) -> Tenant {
    Tenant {
        id: TenantId::new(id),
        name: id.into(),
        webhook_url: url.into(),
        webhook_secrets: vec![WebhookSecret {
            secret: Secret::new(format!("whsec_{id}")),
            expires_at: None,
        }],
        format: DeliveryFormat::Meta,
        callback_domains: vec![],
        phone_number_ids: vec!["P".into()],
        active: true,
        destinations: Default::default(),
    }
}

type TestForwarder = crate::bundle::PortsForwarder<crate::memory::MemoryPorts>;

fn forwarder(script: Vec<DeliveryResult>) -> (TestForwarder, ScriptedSender, MemoryMessages) {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "https://acme.example/hook"), &["P"], &["W"]);
    let sender = ScriptedSender::new(script);
    let messages = MemoryMessages::default();
    let ports = ForwardPorts {
        idempotency: MemoryIdempotency::default(),
        tenants,
        messages: messages.clone(),
        sender: sender.clone(),
        parking: MemoryParking::default(),
        health: MemoryHealth::default(),
    };
    let f = Forwarder::new(ports, without_breaker());
    (f, sender, messages)
}

fn forwarder_with(tenants: MemoryTenants, sender: ScriptedSender) -> TestForwarder {
    let ports = ForwardPorts {
        idempotency: MemoryIdempotency::default(),
        tenants,
        messages: MemoryMessages::default(),
        sender,
        parking: MemoryParking::default(),
        health: MemoryHealth::default(),
    };
    Forwarder::new(ports, without_breaker())
}

/// The breaker has its own tests; here one event failing again and again must stay on its
/// schedule.
fn without_breaker() -> ForwardConfig {
    ForwardConfig {
        breaker: BreakerPolicy {
            threshold: u32::MAX,
            ..BreakerPolicy::default()
        },
        ..ForwardConfig::default()
    }
}

fn ok() -> DeliveryResult {
    DeliveryResult::Delivered { status: 200 }
}

fn failed(kind: FailureKind) -> DeliveryResult {
    DeliveryResult::Failed {
        kind,
        status: Some(500),
        retry_after: None,
        reason: "500".into(),
    }
}

#[tokio::test]
async fn an_event_is_delivered_signed_to_the_phone_owner_and_only_once() {
    let (f, sender, _) = forwarder(vec![ok()]);
    let event = split_events(STATUS).unwrap().remove(0);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(
        f.forward(&event, None, 101, 0.5).await.unwrap(),
        Outcome::Duplicate
    );
    let sent = sender.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url, "https://acme.example/hook");
    assert_eq!(sent[0].body, STATUS);
    assert_eq!(sent[0].signatures.webhook_id, "wamid.1:read");
    let secret = [Secret::new("whsec_acme")];
    assert!(verify_hub_signature(&secret, &sent[0].body, Some(&sent[0].signatures.hub)).is_ok());
}

#[tokio::test]
async fn a_failed_delivery_is_retried_on_the_schedule_and_then_exhausted() {
    let (f, sender, _) = forwarder(vec![failed(FailureKind::Failed)]);
    let event = split_events(STATUS).unwrap().remove(0);
    let mut delays = Vec::new();
    let mut now = 100;
    for _ in 0..7 {
        match f.forward(&event, None, now, 0.5).await.unwrap() {
            Outcome::Retry { after } => {
                // A copy received before the retry is due waits for it and is no attempt.
                assert_eq!(
                    f.forward(&event, None, now + 2, 0.5).await.unwrap(),
                    Outcome::Retry {
                        after: after - Duration::from_secs(2)
                    }
                );
                delays.push(after.as_secs());
                now += after.as_secs() as i64;
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    assert_eq!(delays, [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]);
    assert_eq!(
        f.forward(&event, None, now, 0.5).await.unwrap(),
        Outcome::Exhausted
    );
    assert_eq!(sender.sent.lock().unwrap().len(), 8);
    // Redriven from the DLQ, it gets a whole new schedule.
    assert_eq!(
        f.forward(&event, None, now + 86_400, 0.5).await.unwrap(),
        Outcome::Retry {
            after: Duration::from_secs(5)
        }
    );
}

#[tokio::test]
async fn receives_that_find_another_workers_claim_are_not_attempts() {
    let (f, sender, _) = forwarder(vec![failed(FailureKind::Failed)]);
    let event = split_events(STATUS).unwrap().remove(0);
    let key = event_key(&event.id);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Retry {
            after: Duration::from_secs(5)
        }
    );
    // A worker that died mid-delivery left its claim behind, once the retry was due.
    assert_eq!(
        f.idempotency
            .claim(&key, None, Duration::from_secs(60), 105_000)
            .await
            .unwrap(),
        Claim::Acquired { failed_attempts: 1 }
    );
    for _ in 0..20 {
        assert_eq!(
            f.forward(&event, None, 106, 0.5).await.unwrap(),
            Outcome::Retry {
                after: f.config.in_progress_for
            }
        );
    }
    f.idempotency.release(&key).await.unwrap();
    // The next real attempt is the second: its failure waits the schedule's second step.
    assert_eq!(
        f.forward(&event, None, 107, 0.5).await.unwrap(),
        Outcome::Retry {
            after: Duration::from_secs(300)
        }
    );
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn two_events_are_two_deliveries_not_one_and_a_duplicate() {
    let (f, sender, _) = forwarder(vec![ok()]);
    let other = String::from_utf8(STATUS.to_vec())
        .unwrap()
        .replace("wamid.1", "wamid.2");
    for body in [STATUS, other.as_bytes()] {
        let event = split_events(body).unwrap().remove(0);
        assert_eq!(
            f.forward(&event, None, 100, 0.5).await.unwrap(),
            Outcome::Delivered
        );
    }
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn media_in_a_delivered_message_becomes_the_tenants_and_statuses_name_none() {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "https://acme.example/hook"), &["P"], &["W"]);
    let f = forwarder_with(tenants.clone(), ScriptedSender::new(vec![ok()]));
    let image = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.i","type":"image","image":{"id":"777"}}]},"field":"messages"}]}]}"#;
    let event = split_events(image).unwrap().remove(0);
    f.forward(&event, None, 100, 0.5).await.unwrap();
    assert_eq!(
        tenants.owner(OwnerKind::Media, "777").await.unwrap(),
        Some(TenantId::new("acme"))
    );
    // A status that happens to carry a media-shaped object names no media.
    let status = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"metadata":{"phone_number_id":"P"},"statuses":[{"id":"wamid.s","status":"sent","x":{"type":"image","image":{"id":"888"}}}]},"field":"messages"}]}]}"#;
    let event = split_events(status).unwrap().remove(0);
    f.forward(&event, None, 100, 0.5).await.unwrap();
    assert_eq!(tenants.owner(OwnerKind::Media, "888").await.unwrap(), None);
}

#[tokio::test]
async fn a_suspended_tenants_event_is_deferred_not_dropped() {
    let tenants = MemoryTenants::default();
    let mut suspended = tenant("acme", "https://acme.example/hook");
    suspended.active = false;
    tenants.add(suspended, &["P"], &["W"]);
    let sender = ScriptedSender::new(vec![ok()]);
    let f = forwarder_with(tenants, sender.clone());
    let event = split_events(STATUS).unwrap().remove(0);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Retry {
            after: Duration::from_secs(5)
        }
    );
    let mut now = 105;
    for _ in 0..6 {
        match f.forward(&event, None, now, 0.5).await.unwrap() {
            Outcome::Retry { after } => now += after.as_secs() as i64,
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    assert_eq!(
        f.forward(&event, None, now, 0.5).await.unwrap(),
        Outcome::Exhausted
    );
    assert!(sender.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_nobody_owns_is_acknowledged_as_unroutable() {
    let (f, sender, _) = forwarder(vec![ok()]);
    let body = String::from_utf8(STATUS.to_vec())
        .unwrap()
        .replace("\"P\"", "\"OTHER\"")
        .replace("\"W\"", "\"W2\"");
    let event = split_events(body.as_bytes()).unwrap().remove(0);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Unroutable
    );
    assert!(sender.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_status_goes_to_the_messages_callback_url_and_updates_its_record() {
    let (f, sender, messages) = forwarder(vec![ok()]);
    messages
        .put(&MessageRecord {
            wamid: crate::ids::Wamid::from_meta("wamid.1"),
            tenant_id: TenantId::new("acme"),
            phone_number_id: crate::ids::PhoneNumberId::from_meta("P"),
            recipient: "1".into(),
            callback_url: Some("https://cb.acme.example/s".into()),
            created_at: 1,
            last_status: None,
            statuses: Default::default(),
        })
        .await
        .unwrap();
    let event = split_events(STATUS).unwrap().remove(0);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(
        sender.sent.lock().unwrap()[0].url,
        "https://cb.acme.example/s"
    );
    let record = messages.get("wamid.1").await.unwrap().unwrap();
    assert_eq!(
        record
            .last_status
            .as_ref()
            .map(crate::ids::MessageStatus::as_str),
        Some("read")
    );
    assert_eq!(record.statuses["read"], 50);
}

mod destinations;
mod hosts;
