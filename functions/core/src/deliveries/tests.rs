//! The deliveries service over the forwarder's own records, in memory.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::event::split_events;
use crate::forward::{ForwardConfig, ForwardPorts, Forwarder, Outcome};
use crate::memory::*;
use crate::ports::DeliveryResult;
use crate::retry::FailureKind;
use crate::signature::Secret;
use crate::tenant::{Tenant, WebhookSecret};

const MESSAGE: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.m1","type":"text","text":{"body":"hi"}}]},"field":"messages"}]}]}"#;

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: TenantId(id.into()),
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
    forwarder: Forwarder<
        MemoryIdempotency,
        MemoryTenants,
        MemoryMessages,
        ScriptedSender,
        MemoryParking,
        MemoryHealth,
    >,
    service: DeliveriesService<MemoryIdempotency, MemoryRequeue, MemoryHealth>,
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
        service: DeliveriesService::new(log, requeue.clone(), health, Duration::from_secs(60)),
        requeue,
        sender,
    }
}

fn body(r: &crate::send::ApiResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn a_failed_attempt_is_listed_read_and_replayed_by_its_tenant_only() {
    let f = fixture(vec![down(), DeliveryResult::Delivered { status: 204 }]);
    let event = split_events(MESSAGE).unwrap().remove(0);
    let outcome = f
        .forwarder
        .forward(&event, Some("QUEUED"), 1_000, 0.5)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Retry { .. }));

    let a = tenant("a");
    let now_ms = 2_000_000;
    let listed = f
        .service
        .events(&a, Some("status=pending"), now_ms)
        .await
        .unwrap();
    let listed = body(&listed);
    assert_eq!(listed["data"][0]["event_id"], "wamid.m1");
    let attempt = &listed["data"][0]["attempts"][0];
    assert_eq!(attempt["status"], 503);
    assert_eq!(attempt["error"], "HTTP 503");
    assert_eq!(attempt["at"], "1970-01-01T00:16:40Z");
    assert_eq!(attempt["next_retry_at"], "1970-01-01T00:16:45Z");
    assert_eq!(listed["next_cursor"], Value::Null);
    let failed = body(
        &f.service
            .events(&a, Some("status=failed"), now_ms)
            .await
            .unwrap(),
    );
    assert_eq!(failed["data"].as_array().unwrap().len(), 0);

    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["destination"], "https://a.example/hook");
    assert_eq!(read["format"], "meta");

    // Tenant b sees nothing of a's, whichever way it asks.
    let b = tenant("b");
    let theirs = body(
        &f.service
            .events(&b, Some("status=pending"), now_ms)
            .await
            .unwrap(),
    );
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        f.service.event(&b, "wamid.m1").await.unwrap_err().status(),
        404
    );
    assert_eq!(
        f.service.replay(&b, "wamid.m1").await.unwrap_err().status(),
        404
    );
    let recovered = f
        .service
        .recover(&b, br#"{"since":"1970-01-01T00:00:00Z"}"#, now_ms)
        .await
        .unwrap();
    assert_eq!(body(&recovered)["recovered"], 0);
    assert!(f.requeue.bodies.lock().unwrap().is_empty());

    let replayed = f.service.replay(&a, "wamid.m1").await.unwrap();
    assert_eq!(replayed.status, 202);
    assert_eq!(*f.requeue.bodies.lock().unwrap(), ["QUEUED"]);
    // The replay is claimable at once and delivered.
    let again = f
        .forwarder
        .forward(&event, Some("QUEUED"), 1_001, 0.5)
        .await
        .unwrap();
    assert_eq!(again, Outcome::Delivered);
    let read = body(&f.service.event(&a, "wamid.m1").await.unwrap());
    assert_eq!(read["status"], "delivered");
    assert_eq!(read["delivered"]["status"], 204);
    assert_eq!(read["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(f.sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn recovery_requeues_each_failed_event_once() {
    let f = fixture(vec![down(); 3]);
    let event = split_events(MESSAGE).unwrap().remove(0);
    f.forwarder
        .forward(&event, Some("QUEUED"), 1_000, 0.5)
        .await
        .unwrap();
    let a = tenant("a");
    let recover = |since: &'static str| {
        let body = format!(r#"{{"since":"{since}"}}"#);
        let service = &f.service;
        let a = a.clone();
        async move { service.recover(&a, body.as_bytes(), 2_000_000).await }
    };
    // Changed before `since`: not recovered.
    assert_eq!(
        body(&recover("1970-01-01T00:20:00Z").await.unwrap())["recovered"],
        0
    );
    let first = body(&recover("1970-01-01T00:00:00Z").await.unwrap());
    assert_eq!(first["recovered"], 1);
    assert_eq!(first["event_ids"][0], "wamid.m1");
    assert_eq!(first["complete"], true);
    assert_eq!(f.requeue.bodies.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_queries_and_bodies_name_their_field() {
    let f = fixture(vec![]);
    let a = tenant("a");
    let cases = [
        (None, "status"),
        (Some("status=lost"), "status"),
        (Some("status=failed&since=yesterday"), "since"),
        (Some("status=failed&limit=0"), "limit"),
        (Some("status=failed&limit=101"), "limit"),
        (
            Some("status=failed&since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z"),
            "until",
        ),
    ];
    for (query, field) in cases {
        let err = f.service.events(&a, query, 0).await.unwrap_err();
        assert_eq!(err.status(), 400, "{query:?}");
        assert!(
            err.gateway_body().contains(field),
            "{query:?}: {}",
            err.gateway_body()
        );
    }
    for (body, field) in [
        (&br#"{}"#[..], "since"),
        (br#"{"since":5}"#, "since"),
        (br#"{"since":"2026-12-01T00:00:00Z","until":"x"}"#, "until"),
        (br#"{"since":"2026-12-01T00:00:00Z","from":"x"}"#, "from"),
    ] {
        let err = f.service.recover(&a, body, 0).await.unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.gateway_body().contains(field), "{}", err.gateway_body());
    }
    assert_eq!(
        f.service.event(&a, "bad id").await.unwrap_err().status(),
        400
    );
    assert_eq!(
        f.service
            .replay(&a, "wamid.none")
            .await
            .unwrap_err()
            .status(),
        404
    );
}

#[tokio::test]
async fn without_a_kept_payload_a_replay_says_why() {
    let f = fixture(vec![down()]);
    let event = split_events(MESSAGE).unwrap().remove(0);
    f.forwarder.forward(&event, None, 1_000, 0.5).await.unwrap();
    let err = f
        .service
        .replay(&tenant("a"), "wamid.m1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(err.gateway_body().contains("EventRetentionDays"));
}
