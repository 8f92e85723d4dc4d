//! Real time over in-memory ports: frames, scope, tokens and connect, and the forwarder's
//! fan-out beside the webhook.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::event::split_events;
use crate::format::DeliveryFormat;
use crate::forward::{ForwardConfig, ForwardPorts, Forwarder, Outcome};
use crate::memory::*;
use crate::ports::{DeliveryResult, TenantDirectory};
use crate::retry::FailureKind;
use crate::signature::Secret;
use crate::tenant::{Tenant, WebhookSecret};

const MESSAGE: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"P"},"contacts":[{"profile":{"name":"J\u00fcrgen"},"wa_id":"491"}],"messages":[{"from":"491","id":"wamid.M1","timestamp":"1700000000","type":"text","text":{"body":"Gr\u00fc\u00dfe \/ hi"}}]},"field":"messages"}]}]}"#;
const STATUS: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"statuses":[{"id":"wamid.1","status":"read","timestamp":"50","recipient_id":"1"}]},"field":"messages"}]}]}"#;
const TEMPLATE: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","time":1700000000,"changes":[{"value":{"event":"APPROVED","message_template_id":12345678901234567},"field":"message_template_status_update"}]}]}"#;

fn tenant(id: &str, phone: &str) -> Tenant {
    Tenant {
        id: TenantId(id.into()),
        name: id.into(),
        webhook_url: format!("https://{id}.example/hook"),
        webhook_secrets: vec![WebhookSecret {
            secret: Secret::new(format!("whsec_{id}")),
            expires_at: None,
        }],
        format: DeliveryFormat::Meta,
        callback_domains: vec![],
        phone_number_ids: vec![phone.into()],
        active: true,
        destinations: Default::default(),
    }
}

fn parse(frame: &[u8]) -> Value {
    assert!(frame.is_ascii(), "frames are ASCII like Meta's bodies");
    serde_json::from_slice(frame).unwrap()
}

#[test]
fn frames_name_messages_statuses_and_fields_and_carry_one_value_object() {
    let message = split_events(MESSAGE).unwrap().remove(0);
    let frame = parse(&super::frame(&message));
    assert_eq!(frame["type"], "message:new");
    assert_eq!(frame["event_id"], "wamid.M1");
    assert_eq!(frame["phone_number_id"], "P");
    assert_eq!(
        frame["payload"]["messages"][0]["text"]["body"],
        "Grüße / hi"
    );
    assert_eq!(frame["payload"]["contacts"][0]["profile"]["name"], "Jürgen");
    assert_eq!(frame["payload"]["metadata"]["phone_number_id"], "P");

    let status = split_events(STATUS).unwrap().remove(0);
    let frame = parse(&super::frame(&status));
    assert_eq!(frame["type"], "message:status");
    assert_eq!(frame["event_id"], "wamid.1:read");
    assert_eq!(frame["payload"]["statuses"][0]["status"], "read");

    let template = split_events(TEMPLATE).unwrap().remove(0);
    let raw = super::frame(&template);
    let frame = parse(&raw);
    assert_eq!(frame["type"], "message_template_status_update");
    assert_eq!(frame["phone_number_id"], Value::Null);
    // Long numbers stay exactly as Meta wrote them.
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .contains("12345678901234567")
    );
}

fn connection(id: &str, scope: Scope) -> Connection {
    Connection {
        id: ConnectionId(id.into()),
        scope,
    }
}

#[tokio::test]
async fn fan_out_posts_to_connections_in_scope_and_forgets_gone_ones() {
    let store = MemoryConnections::default();
    let poster = MemoryPoster::default();
    let acme = TenantId("acme".into());
    let calls_only = Scope {
        fields: vec!["calls".into()],
        phones: vec![],
    };
    for c in [
        connection("c1", Scope::default()),
        connection("c2", calls_only),
        connection("gone", Scope::default()),
    ] {
        store.add(&acme, &c, 0, 10).await.unwrap();
    }
    store
        .add(
            &TenantId("globex".into()),
            &connection("g1", Scope::default()),
            0,
            10,
        )
        .await
        .unwrap();
    poster.gone.lock().unwrap().insert("gone".into());
    let fanout = Fanout::new(store.clone(), poster.clone());
    let event = split_events(MESSAGE).unwrap().remove(0);
    assert_eq!(fanout.fan_out(&acme, &event).await, 1);
    assert_eq!(poster.frames_to("c1").len(), 1);
    assert!(poster.frames_to("c2").is_empty(), "out of its scope");
    assert!(poster.frames_to("g1").is_empty(), "another tenant's");
    assert_eq!(store.ids("acme"), ["c1", "c2"], "the gone one is forgotten");
    // An event API Gateway would refuse as a frame is not posted at all.
    let big = String::from_utf8(MESSAGE.to_vec())
        .unwrap()
        .replace("Gr\\u00fc\\u00dfe", &"x".repeat(MAX_FRAME_BYTES));
    let big = split_events(big.as_bytes()).unwrap().remove(0);
    assert!(big.item.get().len() > MAX_FRAME_BYTES);
    assert_eq!(fanout.fan_out(&acme, &big).await, 0);
    assert_eq!(poster.frames_to("c1").len(), 1);
    // A store or poster down is logged, not raised.
    poster.failing.lock().unwrap().clone_from(&true);
    assert_eq!(fanout.fan_out(&acme, &event).await, 0);
    store.fail(true);
    assert_eq!(fanout.fan_out(&acme, &event).await, 0);
}

type TestService = RealtimeService<MemoryTenants, MemoryConnections, MemoryTokenKey>;

fn service(tenants: &MemoryTenants) -> TestService {
    RealtimeService::new(
        tenants.clone(),
        MemoryConnections::default(),
        MemoryTokenKey::default(),
        "wss://rt.example/prod",
    )
}

fn token_of(response: &crate::send::ApiResponse) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    let url = body["url"].as_str().unwrap();
    url.strip_prefix("wss://rt.example/prod?token=")
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_token_connects_its_own_tenant_until_it_expires() {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    tenants.add(tenant("globex", "Q"), &["Q"], &["X"]);
    let rt = service(&tenants);
    let acme = tenants
        .tenant(&TenantId("acme".into()))
        .await
        .unwrap()
        .unwrap();
    let request = TokenRequest::parse(br#"{"phone_numbers":["P"],"fields":["messages"]}"#).unwrap();
    // No key before the first token: nothing connects.
    let unsigned = mint(
        &Secret::new("memory-token-key"),
        &unverified_claims("acme", 2_000),
    );
    assert!(matches!(
        rt.connect(Some(&unsigned), &ConnectionId("c0".into()), 1_000)
            .await,
        Err(Refusal::Token(TokenError::BadSignature))
    ));
    let response = rt.token(&acme, &request, 1_000, "n").await.unwrap();
    assert_eq!(response.status, 201);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["expires_at"], "1970-01-01T00:21:40Z");
    assert_eq!(body["phone_numbers"], json!(["P"]));
    let token = token_of(&response);

    let id = ConnectionId("c1".into());
    let claims = rt.connect(Some(&token), &id, 1_299).await.unwrap();
    assert_eq!(claims.tenant.as_str(), "acme");
    assert_eq!(claims.scope.phones, ["P"]);
    assert!(matches!(
        rt.connect(Some(&token), &id, 1_300).await,
        Err(Refusal::Token(TokenError::Expired))
    ));
    assert!(matches!(
        rt.connect(None, &id, 1_000).await,
        Err(Refusal::NoToken)
    ));
    assert!(matches!(
        rt.connect(Some(""), &id, 1_000).await,
        Err(Refusal::NoToken)
    ));

    // Globex's claims under acme's webhook secret (a secret the tenant's systems know).
    let forged = mint(
        &Secret::new("whsec_acme"),
        &Claims {
            tenant: TenantId("globex".into()),
            ..claims.clone()
        },
    );
    assert!(matches!(
        rt.connect(Some(&forged), &id, 1_000).await,
        Err(Refusal::Token(TokenError::BadSignature))
    ));
    let unknown = mint(
        &Secret::new("memory-token-key"),
        &Claims {
            tenant: TenantId("nobody".into()),
            ..claims
        },
    );
    assert!(matches!(
        rt.connect(Some(&unknown), &id, 1_000).await,
        Err(Refusal::UnknownTenant)
    ));
    // A tenant id the gateway never makes, or a lifetime no token has: no lookup at all.
    let odd = mint(
        &Secret::new("memory-token-key"),
        &unverified_claims(&"x".repeat(3000), 2_000),
    );
    assert!(matches!(
        rt.connect(Some(&odd), &id, 1_000).await,
        Err(Refusal::Token(TokenError::Malformed))
    ));
    rt.disconnect(&id).await.unwrap();
}

fn unverified_claims(tenant: &str, expires_at: i64) -> Claims {
    Claims {
        tenant: TenantId(tenant.into()),
        expires_at,
        scope: Scope::default(),
        nonce: "n".into(),
        key_id: String::new(),
    }
}

#[tokio::test]
async fn token_requests_name_the_bad_field() {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    let rt = service(&tenants);
    let acme = tenants
        .tenant(&TenantId("acme".into()))
        .await
        .unwrap()
        .unwrap();
    let long: Vec<String> = (0..50).map(|n| format!("{n:0>120}")).collect();
    let too_long = json!({ "fields": long }).to_string();
    for (body, field) in [
        (br#"{"expires_in":0}"#.as_slice(), "expires_in"),
        (br#"{"expires_in":3601}"#, "expires_in"),
        (br#"{"expires_in":"60"}"#, "expires_in"),
        (br#"{"fields":"messages"}"#, "fields"),
        (br#"{"fields":[""]}"#, "fields"),
        (br#"{"phone_numbers":["Q"]}"#, "phone_numbers"),
        (br#"{"tenant":"globex"}"#, "tenant"),
        (too_long.as_bytes(), "fields"),
    ] {
        let error = match TokenRequest::parse(body) {
            Ok(request) => rt.token(&acme, &request, 0, "n").await.unwrap_err(),
            Err(e) => e,
        };
        match error {
            crate::Error::InvalidInput { field: Some(f), .. } => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(TokenRequest::parse(b"[1]").is_err());
    assert!(TokenRequest::parse(b"").is_ok());
}

fn forwarder(
    poster: &MemoryPoster,
    store: &MemoryConnections,
    script: Vec<DeliveryResult>,
) -> (
    Forwarder<
        MemoryIdempotency,
        MemoryTenants,
        MemoryMessages,
        ScriptedSender,
        MemoryParking,
        MemoryHealth,
    >,
    ScriptedSender,
) {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    let sender = ScriptedSender::new(script);
    let ports = ForwardPorts {
        idempotency: MemoryIdempotency::default(),
        tenants,
        messages: MemoryMessages::default(),
        sender: sender.clone(),
        parking: MemoryParking::default(),
        health: MemoryHealth::default(),
    };
    let fanout = Arc::new(Fanout::new(store.clone(), poster.clone()));
    (
        Forwarder::new(ports, ForwardConfig::default()).with_realtime(fanout),
        sender,
    )
}

#[tokio::test]
async fn the_forwarder_posts_each_event_once_beside_its_webhook() {
    let (poster, store) = (MemoryPoster::default(), MemoryConnections::default());
    let acme = TenantId("acme".into());
    store
        .add(&acme, &connection("c1", Scope::default()), 0, 10)
        .await
        .unwrap();
    let failing = DeliveryResult::Failed {
        kind: FailureKind::Failed,
        status: Some(500),
        retry_after: None,
        reason: "500".into(),
    };
    let ok = DeliveryResult::Delivered { status: 200 };
    let (f, sender) = forwarder(&poster, &store, vec![failing, ok]);
    let event = split_events(MESSAGE).unwrap().remove(0);
    assert!(matches!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Retry { .. }
    ));
    // The retry delivers the webhook; the frame went out with the first attempt only.
    assert_eq!(
        f.forward(&event, None, 200, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(
        f.forward(&event, None, 300, 0.5).await.unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
    let frames = poster.frames_to("c1");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["event_id"], "wamid.M1");
}

#[tokio::test]
async fn webhook_delivery_is_unaffected_when_every_post_fails() {
    let (poster, store) = (MemoryPoster::default(), MemoryConnections::default());
    store
        .add(
            &TenantId("acme".into()),
            &connection("c1", Scope::default()),
            0,
            10,
        )
        .await
        .unwrap();
    *poster.failing.lock().unwrap() = true;
    let (f, sender) = forwarder(
        &poster,
        &store,
        vec![DeliveryResult::Delivered { status: 200 }],
    );
    let event = split_events(STATUS).unwrap().remove(0);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    store.fail(true);
    let other = split_events(MESSAGE).unwrap().remove(0);
    assert_eq!(
        f.forward(&other, None, 100, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
}
