//! The per-operation usage scenario behind `config/usage.toml`: the operations a chat client
//! makes all day (polls with and without news, direct and group messages), each ready to be sent
//! any number of times through any way of reaching the API — and, for push on AWS, the WebSocket
//! events (`ws_*`) and the sends with every recipient connected (`*_push`). `cargo xtask
//! measure-usage` runs it through the release binary under the Lambda Runtime API emulator (for
//! the CPU time), and a test runs it in-process to check that the committed DynamoDB figures and
//! response sizes are still the code's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use contract::usage::{MeasuredGroup, Operation, OperationUsage, Recipients};
use runtime::domain::{Rule, RuleLimits};
use serde_json::{Value, json};

use crate::identity_provider::{SigningKey, TestIdentityProvider, claims};
use crate::transport::Transport;
pub use crate::transport::register;

/// The limits usage is measured under: every rule on, so each operation pays for its checks as
/// under the defaults, and none ever reached, so no repetition is refused.
pub const MEASURED_LIMITS: RuleLimits = RuleLimits {
    unauthenticated_per_ip: NEVER_REACHED,
    sends_per_user: NEVER_REACHED,
    fanout_per_user: NEVER_REACHED,
    membership_changes_per_user: NEVER_REACHED,
    connects_per_user: NEVER_REACHED,
    socket_messages_per_user: NEVER_REACHED,
    connections_per_user: NEVER_REACHED,
};
const NEVER_REACHED: u32 = 1_000_000_000;

/// [`MEASURED_LIMITS`] as a function's environment.
pub fn measured_limit_vars() -> Vec<(String, String)> {
    Rule::ALL.into_iter().map(|rule| (rule.variable().to_owned(), NEVER_REACHED.to_string())).collect()
}

/// The text of every message, as long as the cost report's default average text.
pub const TEXT_BYTES: usize = 200;

pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<Value>,
}

impl Request {
    pub async fn send(&self, api: &impl Transport) -> (u16, Value) {
        api.call(self.method, &self.path, self.token.as_deref(), self.body.clone()).await
    }
}

/// What an answer of one operation hands to another: the sessions the exchange starts, which
/// the refresh and logout scenarios use up one per repetition (they run after it, as often).
pub type Handed = Arc<Mutex<Vec<Value>>>;

/// One operation: the request of its repetition `i` (client ids differ between repetitions).
pub struct Scenario {
    pub operation: Operation,
    pub expected_status: u16,
    pub request: Box<dyn Fn(usize) -> Request>,
    /// Keeps what the answer hands on.
    pub keep: Option<Handed>,
}

impl Scenario {
    /// Sends repetition `i`, checks its status, keeps what it hands on.
    pub async fn run(&self, i: usize, api: &impl Transport) -> Value {
        let (status, body) = (self.request)(i).send(api).await;
        assert_eq!(status, self.expected_status, "{}: {body}", self.operation);
        if let Some(keep) = &self.keep {
            keep.lock().unwrap().push(body.clone());
        }
        body
    }
}

/// The identity provider the scenarios sign in with (RS256, as most providers sign): the app
/// or function must take its tokens.
pub struct SignIn {
    pub key: SigningKey,
    pub provider: TestIdentityProvider,
}

impl SignIn {
    pub async fn start() -> Self {
        let key = SigningKey::rsa("usage-1");
        let provider = TestIdentityProvider::start(&[&key]).await;
        Self { key, provider }
    }
}

/// Registers the users and groups, then returns the operations.
pub async fn operations(api: &impl Transport, sign_in: &SignIn) -> Vec<Scenario> {
    let (alice_id, alice) = register(api, "alice").await;
    let (bob_id, bob) = register(api, "bob").await;
    let mut members = Vec::new();
    for i in 0..MeasuredGroup::Large.members() {
        members.push(register(api, &format!("member{i}")).await);
    }
    let text = "x".repeat(TEXT_BYTES);
    let mut operations = Vec::new();
    // Messages between them first: what `send_direct` measures is a message in a conversation
    // that exists (the first of two users also writes its summary and sides, once), and the
    // history page measured is a full one.
    let mut ids = Vec::new();
    for _ in 0..HISTORY_PAGE {
        let body = Some(json!({ "text": text }));
        let (status, sent) = api.call("POST", &format!("/v1/users/{bob_id}/messages"), Some(&alice), body).await;
        assert_eq!(status, 201);
        ids.push(sent["id"].as_str().unwrap().to_owned());
    }

    // Bob's feed, drained: `poll_empty` polls from its end (it runs before any send).
    let (_, page) = api.call("GET", "/v1/messages?limit=500", Some(&bob), None).await;
    let cursor = page["next"].as_str().unwrap().to_owned();
    let b = bob.clone();
    operations.push(Scenario {
        operation: Operation::PollEmpty,
        expected_status: 200,
        request: Box::new(move |_| Request {
            method: "GET",
            path: format!("/v1/messages?after={cursor}"),
            token: Some(b.clone()),
            body: None,
        }),
        keep: None,
    });
    let (a, t, to) = (alice.clone(), text.clone(), bob_id.clone());
    operations.push(Scenario {
        operation: Operation::send(Recipients::Direct, false),
        expected_status: 201,
        request: Box::new(move |i| Request {
            method: "POST",
            path: format!("/v1/users/{to}/messages"),
            token: Some(a.clone()),
            body: Some(json!({ "text": t, "client_id": format!("direct-{i}") })),
        }),
        keep: None,
    });
    // A poll that returns one message (of the ones `send_direct` delivered): `limit=1` reads two
    // entries, as a poll of one new message among more does at most.
    let b = bob.clone();
    operations.push(Scenario {
        operation: Operation::PollOne,
        expected_status: 200,
        request: Box::new(move |_| Request {
            method: "GET",
            path: "/v1/messages?limit=1".into(),
            token: Some(b.clone()),
            body: None,
        }),
        keep: None,
    });
    for measured in MeasuredGroup::ALL {
        let size = measured.members();
        let others = &members[..size - 1];
        let ids: Vec<String> = others.iter().map(|(id, _)| id.clone()).collect();
        let group = group_of(api, &alice, &ids).await;
        // A group in use: every member has sent in it, so its item holds every member's newest
        // message (the read position a send gives its sender), as it does in steady state.
        for (_, token) in others {
            let body = Some(json!({ "text": text }));
            let (status, sent) = api.call("POST", &format!("/v1/groups/{group}/messages"), Some(token), body).await;
            assert_eq!(status, 201, "{sent}");
        }
        let (a, t) = (alice.clone(), text.clone());
        operations.push(Scenario {
            operation: Operation::send(Recipients::Group(measured), false),
            expected_status: 201,
            request: Box::new(move |i| Request {
                method: "POST",
                path: format!("/v1/groups/{group}/messages"),
                token: Some(a.clone()),
                body: Some(json!({ "text": t, "client_id": format!("group{size}-{i}") })),
            }),
            keep: None,
        });
    }
    operations.extend(conversation_scenarios((&alice_id, &alice), (&bob_id, &bob), &ids));
    operations.extend(session_scenarios(api, sign_in).await);
    operations
}

/// Messages in the measured history page.
const HISTORY_PAGE: usize = 20;

/// Alice's inbox (Bob and the two measured groups), a page of her history with Bob, and Bob
/// marking it read a message further each time (then at the newest: the same write, refused).
/// `alice` and `bob` are (id, token).
fn conversation_scenarios(alice: (&str, &str), bob: (&str, &str), ids: &[String]) -> Vec<Scenario> {
    let (inbox_token, history_token) = (alice.1.to_owned(), alice.1.to_owned());
    let history = format!("/v1/conversations/{}/messages?limit={HISTORY_PAGE}", bob.0);
    let (read, read_token, ids) = (format!("/v1/conversations/{}/read", alice.0), bob.1.to_owned(), ids.to_vec());
    vec![
        Scenario {
            operation: Operation::Inbox,
            expected_status: 200,
            request: Box::new(move |_| Request {
                method: "GET",
                path: "/v1/conversations".into(),
                token: Some(inbox_token.clone()),
                body: None,
            }),
            keep: None,
        },
        Scenario {
            operation: Operation::HistoryPage,
            expected_status: 200,
            request: Box::new(move |_| Request {
                method: "GET",
                path: history.clone(),
                token: Some(history_token.clone()),
                body: None,
            }),
            keep: None,
        },
        Scenario {
            operation: Operation::MarkRead,
            expected_status: 204,
            request: Box::new(move |i| Request {
                method: "PUT",
                path: read.clone(),
                token: Some(read_token.clone()),
                body: Some(json!({ "up_to": ids[i.min(ids.len() - 1)] })),
            }),
            keep: None,
        },
    ]
}

/// Signing in as a returning user, refreshing and logging out: each refresh and logout with a
/// session of its own (a refresh token is good once), handed on by the exchange.
async fn session_scenarios(api: &impl Transport, sign_in: &SignIn) -> Vec<Scenario> {
    let id_token = |key: &SigningKey| key.sign(&claims("usage|returning", Some("Returning")));
    let (status, first) =
        api.call("POST", "/v1/sessions", None, Some(json!({ "id_token": id_token(&sign_in.key) }))).await;
    assert_eq!(status, 201, "the first sign-in creates the user: {first}");
    let sessions = Handed::default();
    let token = id_token(&sign_in.key);
    let handed = |field: &'static str, sessions: &Handed, i: usize| {
        sessions.lock().unwrap()[i][field].as_str().expect("a session").to_owned()
    };
    let (to_refresh, to_logout) = (sessions.clone(), sessions.clone());
    vec![
        Scenario {
            operation: Operation::SessionExchange,
            expected_status: 201,
            request: Box::new(move |_| Request {
                method: "POST",
                path: "/v1/sessions".into(),
                token: None,
                body: Some(json!({ "id_token": token })),
            }),
            keep: Some(sessions),
        },
        Scenario {
            operation: Operation::SessionRefresh,
            expected_status: 200,
            request: Box::new(move |i| Request {
                method: "POST",
                path: "/v1/sessions/refresh".into(),
                token: None,
                body: Some(json!({ "refresh_token": handed("refresh_token", &to_refresh, i) })),
            }),
            keep: None,
        },
        Scenario {
            operation: Operation::SessionLogout,
            expected_status: 204,
            request: Box::new(move |i| Request {
                method: "DELETE",
                path: "/v1/sessions/current".into(),
                token: Some(handed("access_token", &to_logout, i)),
                body: None,
            }),
            keep: None,
        },
    ]
}

/// The app in-process, with the default settings, taking `sign_in`'s identity tokens.
pub fn app_signing_in(backend: &crate::Backend, sign_in: &SignIn) -> crate::client::TestApp {
    let defaults = runtime::config::Settings::defaults();
    crate::client::TestApp::with_identity(
        backend,
        defaults.max_group_size,
        runtime::api::rate_limit::RateLimiter::new(defaults.rate_limit_per_second, defaults.rate_limit_burst),
        crate::client::TestApp::default_sessions(),
        Some(sign_in.provider.verifier()),
    )
}

/// A group the owner (by token) creates, with `members` added: its id.
pub async fn group_of(api: &impl Transport, owner: &str, members: &[String]) -> String {
    let (status, group) = api.call("POST", "/v1/groups", Some(owner), Some(json!({ "name": "team" }))).await;
    assert_eq!(status, 201, "{group}");
    let group = group["id"].as_str().unwrap().to_owned();
    for member in members {
        let (status, body) = api.call("PUT", &format!("/v1/groups/{group}/members/{member}"), Some(owner), None).await;
        assert_eq!(status, 204, "{body}");
    }
    group
}

/// The body's size as the client receives it (the server writes compact JSON).
pub fn response_bytes(body: &Value) -> u64 {
    if body.is_null() { 0 } else { serde_json::to_string(body).map_or(0, |s| s.len() as u64) }
}

/// Each operation once, in-process over the DynamoDB store: its requests and billed units from
/// the store's counters, and its response size. Everything but the CPU time of `usage.toml`.
pub async fn store_usage(backend: &crate::Backend) -> BTreeMap<Operation, OperationUsage> {
    let dynamo = backend.dynamo.clone().expect("a DynamoDB backend");
    let sign_in = SignIn::start().await;
    let app = app_signing_in(backend, &sign_in);
    let mut usage = BTreeMap::new();
    for scenario in operations(&app, &sign_in).await {
        dynamo.metrics().reset();
        let body = scenario.run(0, &app).await;
        let spent = dynamo.metrics().snapshot();
        usage.insert(
            scenario.operation,
            OperationUsage {
                dynamodb_requests: spent.values().map(|c| c.requests).sum(),
                // Plus 0: an empty float sum is −0.
                read_units: spent.values().map(|c| c.billed_read_units).sum::<f64>() + 0.0,
                write_units: spent.values().map(|c| c.billed_write_units).sum::<f64>() + 0.0,
                response_bytes: response_bytes(&body),
                lambda_cpu_ms: 0.0,
            },
        );
    }
    usage
}

/// The push operations: their names, what the Lambda handler does for each in DynamoDB, in
/// process. `ws_connect` records a connection, `ws_resume` looks it up and reads one new entry,
/// `ws_disconnect` forgets it, `ws_ping` reads the record, `ws_reauth` reads and extends it, and `send_*_push` is the send plus the
/// lookup of every recipient's connections. Response bytes: what the client receives — the
/// frames for a resume (the entry and `caught_up`), the send's answer for a send.
pub async fn store_push_usage(
    backend: &crate::Backend,
    sends: &BTreeMap<Operation, OperationUsage>,
) -> BTreeMap<Operation, OperationUsage> {
    use runtime::domain::{ConnectionId, Seq, SessionId, UserId};
    use runtime::store::connections::{ConnectionRecord, Connections};
    let dynamo = backend.dynamo.clone().expect("a DynamoDB backend");
    let store = &backend.store;
    let app = crate::client::TestApp::new(backend);
    let (alice_id, alice) = register(&app, "alice").await;
    let (bob_id, _) = register(&app, "bob").await;
    let (alice_id, bob_id) = (UserId::parse(&alice_id).unwrap(), UserId::parse(&bob_id).unwrap());
    let text = json!({ "text": "x".repeat(TEXT_BYTES) });
    let (status, sent) =
        Transport::call(&app, "POST", &format!("/v1/users/{bob_id}/messages"), Some(&alice), Some(text)).await;
    assert_eq!(status, 201, "{sent}");
    let connection = ConnectionId::parse("measured=").unwrap();
    let mut usage = BTreeMap::new();
    let mut measure = |operation: Operation, response_bytes: u64| {
        let spent = dynamo.metrics().snapshot();
        dynamo.metrics().reset();
        usage.insert(
            operation,
            OperationUsage {
                dynamodb_requests: spent.values().map(|c| c.requests).sum(),
                // Plus 0: an empty float sum is −0.
                read_units: spent.values().map(|c| c.billed_read_units).sum::<f64>() + 0.0,
                write_units: spent.values().map(|c| c.billed_write_units).sum::<f64>() + 0.0,
                response_bytes,
                lambda_cpu_ms: 0.0,
            },
        );
    };
    let record = |expires_at| ConnectionRecord {
        user: bob_id.clone(),
        connection: connection.clone(),
        session: SessionId::generate(),
        expires_at,
        connected_at: expires_at - 3600,
        membership: false,
    };
    let expires_at = chrono::Utc::now().timestamp() as u64 + 3600;
    dynamo.metrics().reset();
    // As the handler does: `$connect` counts a connect, every message a socket message.
    let bob = bob_id.as_str();
    store.charge(Rule::ConnectsPerUser, bob, 1).await.unwrap();
    dynamo.open_connection(&record(expires_at)).await.unwrap();
    measure(Operation::WsConnect, 0);
    dynamo.connection_owner(&connection).await.unwrap();
    store.charge(Rule::SocketMessagesPerUser, bob, 1).await.unwrap();
    let page = store.feed(&bob_id, Seq::START, 100).await.unwrap();
    assert_eq!(page.entries.len(), 1);
    measure(Operation::WsResume, resume_frame_bytes(&sent));
    // Every message reads the connection's record, to answer an expired one `session_expired`.
    dynamo.connection_owner(&connection).await.unwrap();
    store.charge(Rule::SocketMessagesPerUser, bob, 1).await.unwrap();
    measure(Operation::WsPing, 0);
    dynamo.connection_owner(&connection).await.unwrap();
    store.charge(Rule::SocketMessagesPerUser, bob, 1).await.unwrap();
    assert!(dynamo.extend_connection(&record(expires_at + 3600)).await.unwrap());
    measure(Operation::WsReauth, response_bytes(&json!({ "type": "reauthed", "expires_in": 3600 })));
    dynamo.close_connection(&connection).await.unwrap();
    measure(Operation::WsDisconnect, 0);
    let sent_to =
        [Recipients::Direct, Recipients::Group(MeasuredGroup::Small), Recipients::Group(MeasuredGroup::Large)];
    for to in sent_to {
        let mut users = vec![alice_id.clone()];
        users.extend((1..to.feeds()).map(|_| UserId::generate()));
        dynamo.open_connections(&users).await.unwrap();
        let spent = dynamo.metrics().snapshot();
        dynamo.metrics().reset();
        let lookup = spent.values().fold((0, 0.0), |(r, u), c| (r + c.requests, u + c.billed_read_units));
        let plain = &sends[&Operation::send(to, false)];
        usage.insert(
            Operation::send(to, true),
            OperationUsage {
                dynamodb_requests: plain.dynamodb_requests + lookup.0,
                read_units: plain.read_units + lookup.1,
                write_units: plain.write_units,
                response_bytes: plain.response_bytes,
                lambda_cpu_ms: 0.0,
            },
        );
    }
    usage
}

/// A resume of one entry: its `messages` frame and `caught_up`, with cursors of their real length.
fn resume_frame_bytes(message: &Value) -> u64 {
    let cursor = "A".repeat(27);
    let frame = json!({ "type": "messages", "messages": [message], "cursor": cursor, "after": cursor });
    let caught_up = json!({ "type": "caught_up", "cursor": cursor });
    response_bytes(&frame) + response_bytes(&caught_up)
}

/// The size of a stored feed entry of a direct message with a [`TEXT_BYTES`] text, read from the
/// table `store_usage` wrote. DynamoDB sizes a number by its significant digits, so the delivery
/// time (`at`, in ms) counts as a full 13-digit one: the largest an entry can be, the same every run.
pub async fn feed_entry_bytes(backend: &crate::Backend) -> u64 {
    let dynamo = backend.dynamo.clone().expect("a DynamoDB backend");
    let client = crate::backend::emulator_client(&crate::backend::emulator_endpoint().expect("the emulator"));
    let items = client.scan().table_name(&dynamo.options().feeds_table).send().await.expect("scan the feeds");
    items
        .items()
        .iter()
        .filter(|item| {
            item.get("message").and_then(|m| m.as_s().ok()).is_some_and(|m| m.contains("\"kind\":\"direct\""))
        })
        .map(|item| {
            let mut item = item.clone();
            item.insert("at".to_owned(), aws_sdk_dynamodb::types::AttributeValue::N("1".repeat(13)));
            runtime::store::dynamodb::capacity::item_size(&item)
        })
        .max()
        .expect("a direct message was delivered")
}
