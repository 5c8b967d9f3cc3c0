//! A stand-in for a deployed stack's API Gateway, on loopback, for clients written against AWS
//! (the TypeScript client's tests): it starts the runtime binary as the Lambda service does,
//! under the Lambda Runtime API emulator (`cargo lambda watch`) over DynamoDB (moto), and turns
//! HTTP requests into HTTP API events, WebSocket connections on `/stream` into `$connect`,
//! `$default` and `$disconnect` events, and serves the management endpoint the function's
//! `PostToConnection` and `DeleteConnection` reach. Like API Gateway it closes every connection
//! after a maximum duration (2 hours there; `--max-connection-secs` here). Prints
//! `listening on http://ADDR` once it serves.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use contract::env::var;
use messaging_tests::backend::fresh_tables;
use messaging_tests::lambda_events::{
    STAGE, event, function_command, function_settings, invoke, invoke_websocket, websocket_event, with_query,
};
use messaging_tests::push_recorder::gone;
use serde_json::Value;
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(about = "API Gateway's HTTP and WebSocket APIs in front of the runtime under the Lambda emulator")]
struct Args {
    /// The runtime binary.
    #[arg(long)]
    runtime: PathBuf,
    /// The DynamoDB emulator.
    #[arg(long)]
    dynamodb: String,
    /// The Lambda Runtime API emulator (`cargo lambda watch`).
    #[arg(long)]
    lambda: String,
    /// Seconds before a WebSocket connection is closed, whatever it does (API Gateway: 7200).
    #[arg(long, default_value_t = 7200)]
    max_connection_secs: u64,
    /// More function settings, `MESSAGING_…=value`.
    #[arg(long = "set", value_parser = setting)]
    settings: Vec<(String, String)>,
}

fn setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{text}: not NAME=value"))
}

/// The open connections, by id: where a post to `@connections/{id}` goes.
type Connections = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;

#[derive(Clone)]
struct Gateway {
    http: reqwest::Client,
    lambda: String,
    connections: Connections,
    max_connection: Duration,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let tables = fresh_tables();
    let mut settings = function_settings(&args.dynamodb, &tables);
    settings.push((var::PUSH_ENDPOINT.into(), format!("http://{address}/{STAGE}")));
    settings.push(("RUST_LOG".into(), "warn".into()));
    settings.extend(args.settings);
    let created =
        tokio::process::Command::new(&args.runtime).arg("create-tables").envs(settings.clone()).status().await;
    if !created.as_ref().is_ok_and(|s| s.success()) {
        return Err(format!("create-tables failed: {created:?}"));
    }
    let mut function =
        function_command(&args.runtime, &args.lambda, 512, &settings).spawn().map_err(|e| e.to_string())?;
    let gateway = Gateway {
        http: reqwest::Client::new(),
        lambda: args.lambda,
        connections: Arc::default(),
        max_connection: Duration::from_secs(args.max_connection_secs),
    };
    let app = Router::new()
        .route("/stream", get(connect))
        .route(&format!("/{STAGE}/@connections/{{id}}"), post(post_to_connection).delete(delete_connection))
        .fallback(http_api)
        .with_state(gateway);
    println!("listening on http://{address}");
    let served = axum::serve(listener, app).with_graceful_shutdown(terminated());
    let result = served.await.map_err(|e| e.to_string());
    // Stopped by a signal: the function goes with it, never left behind.
    let _ = function.kill().await;
    result
}

async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// The HTTP API: each request an HTTP API event (payload 2.0), the reply as the response.
async fn http_api(
    State(gateway): State<Gateway>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let body: Option<Value> = if body.is_empty() { None } else { serde_json::from_slice(&body).ok() };
    let event = event(method.as_str(), uri.path(), uri.query().unwrap_or(""), token, body);
    let reply = invoke(&gateway.http, &gateway.lambda, event).await;
    let mut response =
        (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY), axum::Json(reply.body)).into_response();
    if reply.status == 204 {
        *response.body_mut() = axum::body::Body::empty();
    }
    for (name, value) in reply.headers.as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (name.parse::<axum::http::HeaderName>(), value.as_str().map(str::parse)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// `$connect`: the function decides; a refusal is the handshake's status, as API Gateway does.
async fn connect(State(gateway): State<Gateway>, uri: Uri, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let id = format!("{}=", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let forwarded: Vec<(&str, &str)> = ["authorization", "sec-websocket-protocol"]
        .into_iter()
        .filter_map(|name| Some((name, headers.get(name)?.to_str().ok()?)))
        .collect();
    let event = with_query(websocket_event("CONNECT", &id, &forwarded, None), uri.query().unwrap_or(""));
    let reply = invoke_websocket(&gateway.http, &gateway.lambda, event).await;
    if reply.status != 200 {
        return StatusCode::from_u16(reply.status).unwrap_or(StatusCode::FORBIDDEN).into_response();
    }
    let upgrade = match reply.headers["sec-websocket-protocol"].as_str() {
        Some(protocol) => upgrade.protocols([protocol.to_owned()]),
        None => upgrade,
    };
    upgrade.on_upgrade(move |socket| connection(gateway, id, socket))
}

/// One connection: its messages become `$default` events, one at a time; posts to it are sent.
async fn connection(gateway: Gateway, id: String, mut socket: WebSocket) {
    let (posts, mut posted) = mpsc::unbounded_channel();
    gateway.connections.lock().unwrap().insert(id.clone(), posts);
    let deadline = tokio::time::sleep(gateway.max_connection);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            post = posted.recv() => match post {
                Some(Message::Close(frame)) => {
                    let _ = socket.send(Message::Close(frame)).await;
                    break;
                }
                Some(message) => if socket.send(message).await.is_err() { break },
                None => break,
            },
            received = socket.recv() => match received {
                Some(Ok(Message::Text(text))) => {
                    let event = websocket_event("MESSAGE", &id, &[], Some(text.as_str()));
                    // Posts made during the invocation wait in the channel, sent right after.
                    let http = gateway.http.clone();
                    let lambda = gateway.lambda.clone();
                    tokio::spawn(async move { invoke_websocket(&http, &lambda, event).await });
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    gateway.connections.lock().unwrap().remove(&id);
    let _ = socket.send(Message::Close(None)).await;
    invoke_websocket(&gateway.http, &gateway.lambda, websocket_event("DISCONNECT", &id, &[], None)).await;
}

/// `PostToConnection`: 410 `GoneException` for a connection that is not open, as AWS answers.
async fn post_to_connection(State(gateway): State<Gateway>, Path(id): Path<String>, body: Bytes) -> Response {
    let sender = gateway.connections.lock().unwrap().get(&id).cloned();
    let text = String::from_utf8_lossy(&body).into_owned();
    match sender {
        Some(sender) if sender.send(Message::Text(text.into())).is_ok() => StatusCode::OK.into_response(),
        _ => gone(),
    }
}

async fn delete_connection(State(gateway): State<Gateway>, Path(id): Path<String>) -> Response {
    match gateway.connections.lock().unwrap().remove(&id) {
        Some(sender) => {
            let _ = sender.send(Message::Close(None));
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}
