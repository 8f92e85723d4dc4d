//! The real-time side failing: a management API that never answers must not hold the
//! webhook deliveries' outcomes.

use std::time::{Duration, Instant};

use gateway_core::realtime::{ConnectionId, ConnectionStore, Scope};
use gateway_core::tenant::TenantId;
use gateway_tests::*;
use serde_json::Value;

use super::{WAIT, connections, message, tenant};

/// A management API that takes connections and never answers: every post hangs until its
/// own timeout. Stopped when dropped.
struct Hanging {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Hanging {
    async fn start() -> Hanging {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Hanging { url, task }
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn webhook_delivery_is_unaffected_when_every_websocket_post_fails() {
    let hanging = Hanging::start().await;
    let mut options = stack_options("rt-failing");
    options.realtime_endpoint = Some(hanging.url.clone());
    let stack = spawn_stack(options).await;
    let (receiver, a) = tenant(&stack).await;
    let store = connections(&stack);
    let tenant_id = TenantId::new(a.tenant_id.clone());
    // Posted one after another, 100 hanging posts would hold each delivery's outcome for
    // 7 rounds of the 2 s post timeout; the real-time side has 3 s in all.
    for n in 0..100 {
        let connection = gateway_core::realtime::Connection {
            id: ConnectionId::new(format!("dead-{n}")),
            scope: Scope::default(),
        };
        let now = gateway_aws::now();
        store
            .add(&tenant_id, &connection, now, now + 600)
            .await
            .unwrap();
    }
    let bodies: Vec<_> = (0..5).map(message).collect();
    for body in &bodies {
        assert_eq!(post_webhook(&stack, body).await.status(), 200);
    }
    let delivered = receiver.wait_for(5, WAIT).await;
    assert_eq!(delivered.len(), 5);
    assert!(
        delivered
            .iter()
            .all(|d| d.hub_signature_ok && d.standard_signature_ok)
    );
    // Each delivery is recorded well before the posts could have finished one by one.
    let received = Instant::now();
    let deadline = received + Duration::from_secs(10);
    loop {
        let r = http()
            .get(format!(
                "{}/v1/events?status=delivered&limit=100",
                stack.url()
            ))
            .bearer_auth(&a.api_key)
            .send()
            .await
            .unwrap();
        let page: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        if page["data"].as_array().map_or(0, Vec::len) == 5 {
            eprintln!(
                "all 5 deliveries recorded {:?} after the last arrived",
                received.elapsed()
            );
            break;
        }
        assert!(Instant::now() < deadline, "deliveries not recorded: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 5, "each event delivered once");
}
