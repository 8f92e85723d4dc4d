//! A WebSocket client for the real-time tests (tokio-tungstenite, loopback only): connect to a
//! URL `POST /v1/realtime/tokens` gave, or learn the status of a refused upgrade. Shared by the
//! gateway's suite and gatewayctl's.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connection to `url`; panics when the upgrade is refused.
pub async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("connecting: {e}"))
        .0
}

/// The HTTP status a refused upgrade answered; panics when it is accepted.
pub async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the connection was accepted"),
    }
}
