//! The realtime handler over the memory ports, driven by WebSocket API events checked in under
//! `fixtures/` (no emulator): `$connect` with a token the gateway minted, `$default` pings and
//! `$disconnect`.

use gateway_core::memory::MemoryPorts;
use gateway_core::realtime::TokenRequest;
use gateway_core::tenant::Tenant;
use serde_json::Value;

use super::*;

/// The fixtures' connection id.
const CONNECTION: &str = "Pv1XYd3nliACHdQ=";

fn event(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The `$connect` fixture carrying `tokens` as API Gateway lists them.
fn connect(tokens: &[&str]) -> Value {
    let mut e = event("connect.json");
    e["queryStringParameters"]["token"] = tokens.last().copied().into();
    e["multiValueQueryStringParameters"]["token"] = tokens.to_vec().into();
    e
}

async fn token(ports: &MemoryPorts, tenant: &Tenant) -> String {
    let minted = realtime_service(ports, "wss://realtime.example/live")
        .token(
            tenant,
            &TokenRequest::parse(b"{}").unwrap(),
            gateway_aws::now(),
            "n1",
        )
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&minted.body).unwrap();
    body["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned()
}

/// Tenant `a`, its realtime app and a token minted for it.
async fn world() -> (MemoryPorts, RealtimeApp<MemoryPorts>, Tenant, String) {
    let ports = MemoryPorts::default();
    let tenant = ports.add_tenant("a", &["106540352242922"], "key-a").await;
    let app = RealtimeApp::new(&ports);
    let token = token(&ports, &tenant).await;
    (ports, app, tenant, token)
}

#[tokio::test]
async fn a_minted_token_connects_and_a_disconnect_forgets_the_connection() {
    let (ports, app, _, token) = world().await;
    assert_eq!(handle(&app, &connect(&[&token])).await["statusCode"], 200);
    assert_eq!(ports.connections.ids("a"), [CONNECTION]);
    assert_eq!(
        handle(&app, &event("disconnect.json")).await["statusCode"],
        200
    );
    assert!(ports.connections.ids("a").is_empty());
}

#[tokio::test]
async fn a_bad_missing_or_repeated_token_is_refused_and_nothing_is_recorded() {
    let (ports, app, _, good) = world().await;
    let mut missing = event("connect.json");
    missing
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    missing
        .as_object_mut()
        .unwrap()
        .remove("multiValueQueryStringParameters");
    for (what, e) in [
        ("placeholder", connect(&["TOKEN"])),
        ("repeated", connect(&[&good, &good])),
        ("missing", missing),
    ] {
        assert_eq!(handle(&app, &e).await["statusCode"], 403, "{what}");
    }
    assert!(ports.connections.ids("a").is_empty());
}

#[tokio::test]
async fn a_suspended_tenants_token_no_longer_connects() {
    let (ports, app, mut tenant, token) = world().await;
    tenant.active = false;
    ports.tenants.put_tenant(tenant);
    assert_eq!(handle(&app, &connect(&[&token])).await["statusCode"], 403);
    assert!(ports.connections.ids("a").is_empty());
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_on_the_connection() {
    let (ports, app, _, token) = world().await;
    assert_eq!(handle(&app, &connect(&[&token])).await["statusCode"], 200);
    assert_eq!(
        handle(&app, &event("default_ping.json")).await["statusCode"],
        200
    );
    assert_eq!(
        ports.poster.frames_to(CONNECTION),
        [serde_json::json!({"type": "pong"})]
    );
    let mut other = event("default_ping.json");
    other["body"] = "hello".into();
    assert_eq!(handle(&app, &other).await["statusCode"], 200);
    assert_eq!(
        ports.poster.frames_to(CONNECTION).len(),
        1,
        "only a ping is answered"
    );
}

#[tokio::test]
async fn an_event_without_a_connection_id_is_a_400() {
    let ports = MemoryPorts::default();
    let app = RealtimeApp::new(&ports);
    let mut e = event("disconnect.json");
    e["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("connectionId");
    assert_eq!(handle(&app, &e).await["statusCode"], 400);
}
