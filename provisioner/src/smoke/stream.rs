//! The stream as a client sees it — one protocol for the local `GET /v1/stream` and the AWS
//! WebSocket API: the token as the `bearer.<token>` subprotocol beside `messaging.v1`, then
//! `{"action":"resume"}` and JSON frames.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream, connect_async_tls_with_config};

use super::http::chain;

const PROTOCOL: &str = "messaging.v1";

pub struct Stream {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Stream {
    /// Opens the stream at `url` as the holder of `token`; the server must answer `messaging.v1`.
    pub async fn connect(
        url: &str,
        token: &str,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut request = url.into_client_request().map_err(|e| format!("stream URL {url}: {e}"))?;
        let offered = HeaderValue::from_str(&format!("{PROTOCOL}, bearer.{token}"))
            .map_err(|e| format!("the token cannot be a subprotocol: {e}"))?;
        request.headers_mut().insert("sec-websocket-protocol", offered);
        let connector = Some(Connector::Rustls(tls));
        let connecting =
            tokio::time::timeout(timeout, connect_async_tls_with_config(request, None, false, connector)).await;
        let (socket, response) = connecting
            .map_err(|_| format!("no handshake within {} s", timeout.as_secs()))?
            .map_err(|e| format!("handshake: {}", chain(&e)))?;
        let chosen = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        if chosen != Some(PROTOCOL) {
            return Err(format!("the server chose subprotocol {chosen:?}, not {PROTOCOL}"));
        }
        Ok(Self { socket })
    }

    pub async fn send(&mut self, message: &Value) -> Result<(), String> {
        self.socket.send(Message::text(message.to_string())).await.map_err(|e| format!("sending: {e}"))
    }

    /// The next JSON frame before `deadline`, answering the server's pings on the way.
    pub async fn next_frame(&mut self, deadline: Instant) -> Result<Value, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next =
                tokio::time::timeout(left, self.socket.next()).await.map_err(|_| "no frame in time".to_owned())?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).map_err(|e| format!("a frame that is not JSON: {e}"));
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed by the server: {frame:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("reading: {e}")),
                None => return Err("the stream ended".to_owned()),
            }
        }
    }

    /// Reads frames until one satisfies `wanted`, or `deadline`.
    pub async fn until(&mut self, deadline: Instant, wanted: impl Fn(&Value) -> bool) -> Result<Value, String> {
        loop {
            let frame = self.next_frame(deadline).await?;
            if frame["type"] == "error" {
                return Err(format!("error frame: {frame}"));
            }
            if wanted(&frame) {
                return Ok(frame);
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The message ids a `message` or `messages` frame carries.
pub fn message_ids(frame: &Value) -> Vec<&str> {
    match frame["type"].as_str() {
        Some("message") => frame["message"]["id"].as_str().into_iter().collect(),
        Some("messages") => {
            frame["messages"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str()).collect()
        }
        _ => Vec::new(),
    }
}
