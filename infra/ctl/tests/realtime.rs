//! `gatewayctl realtime revoke`: the real binary against a stack with live WebSocket
//! connections (the local stack's sockets are closed through its `DELETE /ws/@connections/{id}`,
//! as API Gateway's are through `DeleteConnection`). The tenant's live connections are closed
//! and forgotten, its tokens minted until then are refused at the upgrade, used or not; another
//! tenant's connections and tokens are untouched; tokens minted afterwards connect.
//!
//! gatewayctl runs as a child process while the stack serves: a multi-threaded runtime.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gateway_aws::dynamo::DynamoConnections;
use gateway_core::format::DeliveryFormat;
use gateway_core::realtime::ConnectionStore;
use gateway_core::tenant::TenantId;
use gateway_tests::{
    Socket, Stack, api, connect, emulator_endpoint, other_tenant, refused, spawn_stack,
    stack_options, tenant_for_fixtures,
};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

/// A connect URL for the tenant of `key`.
async fn connect_url(stack: &Stack, key: &str) -> String {
    let (status, answer) = api(stack, key, "POST", "/v1/realtime/tokens", None).await;
    assert_eq!(status, 201, "{answer}");
    answer["url"].as_str().unwrap().to_owned()
}

/// Whether the server closed `socket` within the wait.
async fn closed(socket: &mut Socket) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return false,
            Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Sends a keepalive and waits for its pong: the connection is open.
async fn answers(socket: &mut Socket) -> bool {
    if socket
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .is_err()
    {
        return false;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == r#"{"type":"pong"}"# => {
                return true;
            }
            Ok(Some(Ok(_))) => {}
            _ => return false,
        }
    }
}

async fn wait_live(stack: &Stack, tenant: &str, n: usize) {
    let store = DynamoConnections::new(
        stack.clients.dynamodb.clone(),
        &stack.resources.connections_table,
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let live = store.live(&TenantId::new(tenant)).await.unwrap().len();
        if live == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{live} live connections, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `gatewayctl realtime revoke --tenant <tenant>` against `stack`, whose clients connect at
/// `connect_url` (its management endpoint is the same URL over http, without the query).
async fn revoke(stack: &Stack, connect_url: &str, tenant: &str) -> Run {
    let endpoint = emulator_endpoint();
    let management = connect_url
        .split('?')
        .next()
        .unwrap()
        .replacen("ws://", "http://", 1);
    let r = &stack.resources;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatewayctl"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    match stack.stack_name() {
        Some(name) => {
            command.args(["--stack", name.as_str()]);
        }
        None => {
            command
                .env("TENANTS_TABLE", &r.tenants_table)
                .env("MESSAGES_TABLE", &r.messages_table)
                .env("CONNECTIONS_TABLE", &r.connections_table);
        }
    }
    let out = command
        .args([
            "realtime",
            "revoke",
            "--tenant",
            tenant,
            "--realtime-endpoint",
            management.as_str(),
        ])
        .output()
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_closes_a_tenants_connections_and_refuses_its_earlier_tokens() {
    let stack = spawn_stack(stack_options("ctl-rt-revoke")).await;
    let a = tenant_for_fixtures(&stack, "https://acme.example/hook", DeliveryFormat::Meta).await;
    let b = other_tenant(&stack).await;
    let used = connect_url(&stack, &a.api_key).await;
    let mut sockets = vec![connect(&used).await, connect(&used).await];
    let unused = connect_url(&stack, &a.api_key).await;
    let theirs_url = connect_url(&stack, &b.api_key).await;
    let mut theirs = connect(&theirs_url).await;
    wait_live(&stack, &a.tenant_id, 2).await;
    wait_live(&stack, &b.tenant_id, 1).await;

    let run = revoke(&stack, &used, &a.tenant_id).await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let answer: Value =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(answer["tenant_id"], a.tenant_id.as_str());
    assert_eq!(answer["closed"], 2, "{answer}");
    assert_eq!(answer["failed"], 0, "{answer}");
    assert!(answer["revoked_at"].is_i64(), "{answer}");
    for socket in &mut sockets {
        assert!(
            closed(socket).await,
            "a live connection of the tenant is closed"
        );
    }
    wait_live(&stack, &a.tenant_id, 0).await;
    // Its tokens minted until then no longer connect, used or not.
    assert_eq!(refused(&used).await, 403, "a used token");
    assert_eq!(refused(&unused).await, 403, "an unused token");
    // The other tenant's connection stays open, and its token still connects.
    assert!(
        answers(&mut theirs).await,
        "another tenant's connection stays open"
    );
    let _more = connect(&theirs_url).await;
    wait_live(&stack, &b.tenant_id, 2).await;
    // Tokens minted afterwards (from the next second on) connect.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut fresh = connect(&connect_url(&stack, &a.api_key).await).await;
    wait_live(&stack, &a.tenant_id, 1).await;
    assert!(answers(&mut fresh).await);

    // An unknown tenant is refused, and nothing is revoked.
    let run = revoke(&stack, &used, "no-such-tenant").await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("unknown tenant"), "{}", run.stderr);
    assert!(answers(&mut fresh).await);
}
