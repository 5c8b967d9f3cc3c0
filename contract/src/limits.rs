//! The runtime's operational constants that the cost model prices: each is a choice of the
//! runtime's code, priced by the cost model, so both read it from here.

use std::time::Duration;

/// Feed entries a DynamoDB group send writes per transaction (with the head updates that go with
/// them, inside DynamoDB's 100 items per `TransactWriteItems`): 92 items, and in the first
/// transaction the group's update, the send record, the recipients record, the pending marker,
/// the conversation's log item, the sender's side (on a member's first send when the group did
/// not know whether they had one) and the sender's limit counter.
pub const CHUNK: usize = 46;

/// Items of a group send's first transaction beside its members' heads and entries (see
/// [`CHUNK`]).
pub const FIRST_CHUNK_EXTRA_ITEMS: usize = 7;

const _: () = assert!(2 * CHUNK + FIRST_CHUNK_EXTRA_ITEMS <= 100, "DynamoDB's 100 items per transaction");

/// The most members a group may have on DynamoDB, where its member list lives in one item, which
/// DynamoDB limits to 400 KB.
pub const MAX_GROUP_SIZE: usize = 5_000;

/// Posts to WebSocket connections in flight at once for one send (each to a different one).
pub const CONCURRENT_POSTS: usize = 32;

/// API Gateway ends every WebSocket connection after this long: a client online all day
/// reconnects at least 24 h / 2 h = 12 times.
pub const WEBSOCKET_CONNECTION_LIMIT: Duration = Duration::from_secs(2 * 3600);

/// The largest WebSocket frame API Gateway takes, and the unit it meters messages in ("Quotas
/// for configuring and running a WebSocket in API Gateway": WebSocket frame size 32 KB).
pub const WEBSOCKET_FRAME_BYTES: usize = 32 * 1024;

/// How long a WebSocket connection may still be in its `$connect`: API Gateway's integration
/// timeout, at most 29 s and not raisable for WebSocket APIs ("Quotas for configuring and running
/// a WebSocket in API Gateway",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html),
/// rounded up. `PostToConnection` answers 410 before a connection is established, so a 410 means
/// "gone" only for a connection recorded longer ago than this.
pub const CONNECT_GRACE: Duration = Duration::from_secs(30);

/// Entries one `resume` on a WebSocket connection posts before it answers `behind`.
pub const RESUME_LIMIT: usize = 500;

/// The group sizes `measure-usage` measures sends to; the cost model interpolates between them.
pub const MEASURED_GROUP_SIZES: [usize; 2] = [10, 50];

/// The shortest function timeout `deploy` accepts. Every budget is cut to the invocation's
/// deadline less half a second to answer (the runtime's `deadline` module), and a send spends up
/// to its push budget (1 s by default) after it commits: under 3 s, a send slowed by throttling
/// would have no time left for its pushes, or a store operation for its first retry.
pub const MIN_FUNCTION_TIMEOUT_SECS: i32 = 3;
