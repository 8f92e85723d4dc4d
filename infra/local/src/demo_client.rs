//! The demo's live client: what a support dashboard does. It asks the gateway for a real-time
//! URL with the demo tenant's API key, connects, prints one line per frame, and keeps the
//! connection alive with `{"type":"ping"}` (what a browser sends).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// How often the client says it is alive (API Gateway closes connections idle for 10 minutes).
const KEEPALIVE: Duration = Duration::from_secs(60);

/// Connects as the tenant of `api_key` to the stack at `gateway`, says so on `connected`, and
/// prints frames until the connection ends.
pub async fn run(
    gateway: String,
    api_key: String,
    connected: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<()> {
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{gateway}/v1/realtime/tokens"))
        .bearer_auth(&api_key)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let answer: Value = serde_json::from_str(&text)?;
    let url = answer["url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the token route answered no url"))?;
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    println!(
        "live client connected (token expires {})",
        answer["expires_at"]
    );
    let _ = connected.send(());
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    loop {
        tokio::select! {
            _ = keepalive.tick() => socket.send(Message::text(r#"{"type":"ping"}"#)).await?,
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(text.as_str())?;
                    if frame["type"] != "pong" {
                        println!(
                            "live client: {} {} (phone_number_id {})",
                            frame["type"].as_str().unwrap_or("?"),
                            frame["event_id"].as_str().unwrap_or("?"),
                            frame["phone_number_id"].as_str().unwrap_or("-"),
                        );
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}
