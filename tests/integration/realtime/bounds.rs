//! The bounds of real time with a real WebSocket client: a token opens ten connections and no
//! more; a tenant holds its configured most (a fresh token does not help, a closing connection
//! makes room, another tenant is not affected); a client sending frames too fast is closed and
//! forgotten while its neighbour keeps its events.
//!
//! The emulator's WebSocket API (`GATEWAY_E2E_TARGET=lambda` or `sam`) refuses every upgrade
//! the realtime function refuses with a 403, whatever status the function answered; the local
//! stack answers that status itself.

use futures::{SinkExt, StreamExt};
use gateway_core::realtime::{FRAME_BURST, MAX_USES_PER_TOKEN};
use gateway_tests::*;
use tokio_tungstenite::tungstenite::Message;

use super::{Socket, WAIT, connect, message, next_frame, refused, tenant, url, wait_live};

const PING: &str = r#"{"type":"ping"}"#;
const PONG: &str = r#"{"type":"pong"}"#;

#[tokio::test]
async fn a_token_opens_ten_connections_and_no_more() {
    let stack = spawn_stack(stack_options("rt-token-uses")).await;
    let (_receiver, a) = tenant(&stack).await;
    let once = url(&stack, &a.api_key, None).await;
    let mut sockets = Vec::new();
    for _ in 0..MAX_USES_PER_TOKEN {
        sockets.push(connect(&once).await);
    }
    wait_live(&stack, &a.tenant_id, 10).await;
    assert_eq!(
        refused(&once).await,
        403,
        "the eleventh connection of one token"
    );
    // Closing one gives the token no connection back.
    let mut first = sockets.remove(0);
    first.close(None).await.unwrap();
    wait_live(&stack, &a.tenant_id, 9).await;
    assert_eq!(refused(&once).await, 403, "a spent token stays spent");
    // A fresh token connects.
    sockets.push(connect(&url(&stack, &a.api_key, None).await).await);
    wait_live(&stack, &a.tenant_id, 10).await;
}

#[tokio::test]
async fn a_tenant_at_its_cap_is_refused_until_a_connection_closes() {
    let mut options = stack_options("rt-tenant-cap");
    options.realtime_max_connections_per_tenant = 3;
    let stack = spawn_stack(options).await;
    let (_receiver, a) = tenant(&stack).await;
    let b = other_tenant(&stack).await;
    let first = url(&stack, &a.api_key, None).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(connect(&first).await);
    }
    wait_live(&stack, &a.tenant_id, 3).await;
    // A fresh token does not help: the tenant is full (429: try again later).
    let fresh = url(&stack, &a.api_key, None).await;
    let status = refused(&fresh).await;
    assert!(
        status == 429 || (stack.is_lambda() && status == 403),
        "a tenant at its cap answered {status}"
    );
    // Another tenant has its own room.
    let _theirs = connect(&url(&stack, &b.api_key, None).await).await;
    wait_live(&stack, &b.tenant_id, 1).await;
    // A connection closing makes room; the refused token was not used up.
    let mut last = sockets.pop().unwrap();
    last.close(None).await.unwrap();
    wait_live(&stack, &a.tenant_id, 2).await;
    sockets.push(connect(&fresh).await);
    wait_live(&stack, &a.tenant_id, 3).await;
    let status = refused(&fresh).await;
    assert!(
        status == 429 || (stack.is_lambda() && status == 403),
        "full again: {status}"
    );
}

/// The next text frame, or `None` once the connection is closed.
async fn next_text(socket: &mut Socket) -> Option<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a frame or the close within the wait");
        match next {
            Some(Ok(Message::Text(text))) => return Some(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_client_sending_frames_too_fast_is_closed_and_forgotten() {
    let stack = spawn_stack(stack_options("rt-frames")).await;
    let (_receiver, a) = tenant(&stack).await;
    let mut fast = connect(&url(&stack, &a.api_key, None).await).await;
    let mut calm = connect(&url(&stack, &a.api_key, None).await).await;
    wait_live(&stack, &a.tenant_id, 2).await;
    // Three at once are answered...
    for n in 0..FRAME_BURST {
        fast.send(Message::text(PING)).await.unwrap();
        assert_eq!(
            next_text(&mut fast).await.as_deref(),
            Some(PONG),
            "ping {n}"
        );
    }
    // ...and the fourth within the minute closes the connection, unanswered.
    fast.send(Message::text(PING)).await.unwrap();
    assert_eq!(next_text(&mut fast).await, None, "closed, not answered");
    wait_live(&stack, &a.tenant_id, 1).await;
    // The other connection has its own allowance, and still gets the tenant's events.
    calm.send(Message::text(PING)).await.unwrap();
    assert_eq!(next_text(&mut calm).await.as_deref(), Some(PONG));
    assert_eq!(post_webhook(&stack, &message(1)).await.status(), 200);
    assert!(
        next_frame(&mut calm, WAIT).await.is_some(),
        "an event frame"
    );
}
