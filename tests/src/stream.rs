//! A client of `GET /v1/stream`, for the tests and the benchmark: connects with a token and a
//! cursor, and reads the server's frames as events.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a stream did not open: `Http(response)` holds a refusal with its JSON body.
pub use tokio_tungstenite::tungstenite::Error;

/// What the server said.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A message frame: the message's id, the whole message, and the cursor past it.
    Message {
        id: String,
        message: Value,
        cursor: String,
    },
    CaughtUp {
        cursor: String,
    },
    /// A `reauth` was accepted.
    Reauthed {
        expires_in: u64,
    },
    /// The server could not act on what the client said.
    Error {
        code: String,
    },
    Ping,
    /// A close frame with its code, or `None` when the connection ended without one.
    Closed(Option<u16>),
}

pub struct StreamClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The cursor of the last message frame (or the one the stream was opened after): the next
    /// message frame's `after` must be it.
    last: Option<String>,
}

/// How the client presents its token.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    Header(&'a str),
    /// `Sec-WebSocket-Protocol: messaging.v1, bearer.<token>`, as a browser would.
    Subprotocol(&'a str),
}

impl StreamClient {
    /// Opens a stream at `base` (`http://127.0.0.1:PORT`) after `cursor`.
    pub async fn connect(base: &str, auth: Auth<'_>, cursor: Option<&str>) -> Result<Self, tungstenite::Error> {
        let query = cursor.map_or(String::new(), |c| format!("?after={c}"));
        let url = format!("{}/v1/stream{query}", base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request()?;
        let (name, value) = match auth {
            Auth::Header(token) => ("authorization", format!("Bearer {token}")),
            Auth::Subprotocol(token) => ("sec-websocket-protocol", format!("messaging.v1, bearer.{token}")),
        };
        request.headers_mut().insert(name, HeaderValue::from_str(&value).expect("a header value"));
        let (socket, response) = tokio_tungstenite::connect_async(request).await?;
        let protocol =
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { socket, protocol, last: cursor.map(str::to_owned) })
    }

    /// The next event, or `None` if none came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        loop {
            let frame = match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return None,
                Ok(None | Some(Err(_))) => return Some(Event::Closed(None)),
                Ok(Some(Ok(frame))) => frame,
            };
            return Some(match frame {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                    let cursor = || frame["cursor"].as_str().expect("the frame has a cursor").to_owned();
                    match frame["type"].as_str() {
                        Some("message") => {
                            let cursor = cursor();
                            let after = frame["after"].as_str().expect("a message frame has `after`");
                            if let Some(last) = &self.last {
                                assert_eq!(after, last, "a frame's `after` is the cursor of the frame before it");
                            }
                            self.last = Some(cursor.clone());
                            Event::Message {
                                id: frame["message"]["id"].as_str().expect("a message id").to_owned(),
                                message: frame["message"].clone(),
                                cursor,
                            }
                        }
                        Some("caught_up") => Event::CaughtUp { cursor: cursor() },
                        Some("reauthed") => {
                            Event::Reauthed { expires_in: frame["expires_in"].as_u64().expect("a number of seconds") }
                        }
                        Some("error") => Event::Error { code: frame["code"].as_str().expect("a code").to_owned() },
                        other => panic!("unknown frame type {other:?}: {text}"),
                    }
                }
                Message::Ping(_) => Event::Ping,
                Message::Close(frame) => Event::Closed(frame.map(|f| u16::from(f.code))),
                Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => continue,
            });
        }
    }

    /// Message frames until `caught_up` (its cursor last), or `None` if the stream ended first
    /// or went quiet for `wait`.
    pub async fn until_caught_up(&mut self, wait: Duration) -> Option<(Vec<(String, String)>, String)> {
        let mut messages = Vec::new();
        loop {
            match self.next(wait).await? {
                Event::Message { id, cursor, .. } => messages.push((id, cursor)),
                Event::CaughtUp { cursor } => return Some((messages, cursor)),
                Event::Ping | Event::Reauthed { .. } | Event::Error { .. } => {}
                Event::Closed(_) => return None,
            }
        }
    }

    /// Closes politely, as a client going away does.
    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tungstenite::protocol::CloseFrame { code: CloseCode::Away, reason: "".into() }))
            .await;
    }

    /// Sends a text frame: a client message (`{"action":…}`), or anything else.
    pub async fn say(&mut self, text: &str) {
        let _ = self.socket.send(Message::Text(text.into())).await;
    }
}
