//! A DynamoDB chaos layer for the tests: a loopback proxy in front of the emulator that injects,
//! under the test's control, what real DynamoDB does and a serialised emulator never does —
//! `TransactionConflictException` on single-item writes, cancelled transactions with conflict or
//! throttling reasons, throttling, 500s, latency, a `Query` that misses an item (a transaction's
//! items becoming visible one by one), and requests that are applied while the client sees a
//! timeout.
//!
//! The emulator ignores `ClientRequestToken`; DynamoDB answers a repeated `TransactWriteItems`
//! with the same token (within ten minutes) with success and without applying it again, and one
//! whose first request is still being applied with `TransactionInProgressException`. The proxy
//! keeps the tokens of the transactions it forwards and answers repeats the same way, so that a
//! lost answer followed by the SDK's retry behaves as on DynamoDB.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use testkit::proxy::{Answer, BoxFuture, Bytes, Exchange, HeaderMap, HeaderValue, Hook, Proxy, StatusCode, Upstream};

/// What a rule does to a request it applies to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// Waits this long before forwarding.
    Delay(Duration),
    /// `TransactionConflictException`: the item is held by a transaction in progress (DynamoDB's
    /// answer to a single-item write on such an item). Not applied.
    WriteConflict,
    /// `TransactionCanceledException` with this reason for every item (`TransactionConflict` or
    /// `ThrottlingError`). Not applied.
    CancelTransaction(&'static str),
    /// `ThrottlingException`. Not applied.
    Throttle,
    /// 500 `InternalServerError`. Not applied.
    ServerError,
    /// 400 `ValidationException`, at once and for good: no retry gets past it, so the caller
    /// stops there as one killed at that point would. Not applied.
    Refuse,
    /// Applied by the emulator, but the answer never comes: the client times out.
    AppliedButLost,
    /// A `Query` answer without one of its items, not the first (a transaction's item not visible
    /// yet). Only while a transaction is in flight through the proxy: once every write has been
    /// answered, a strongly consistent read sees all of them, and a hidden last item would end a
    /// reader's walk early where DynamoDB never would.
    HideQueryItem,
}

/// Applies `effect` to requests of `operation` (any if `None`): it lets `skip` matching requests
/// through first, then applies to the next `times` of them, each with `probability`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub operation: Option<&'static str>,
    pub skip: u64,
    pub times: u64,
    pub probability: f64,
    pub effect: Effect,
    matched: u64,
}

impl Rule {
    /// Every matching request, from the first.
    pub fn always(operation: Option<&'static str>, effect: Effect) -> Self {
        Self { operation, skip: 0, times: u64::MAX, probability: 1.0, effect, matched: 0 }
    }

    /// Each matching request with `probability`.
    pub fn sometimes(operation: Option<&'static str>, probability: f64, effect: Effect) -> Self {
        Self { probability, ..Self::always(operation, effect) }
    }

    /// Matching requests after the first `skip`.
    pub fn after(operation: &'static str, skip: u64, effect: Effect) -> Self {
        Self { skip, ..Self::always(Some(operation), effect) }
    }

    /// The first `times` matching requests.
    pub fn first(operation: &'static str, times: u64, effect: Effect) -> Self {
        Self { times, ..Self::always(Some(operation), effect) }
    }

    /// Only the matching request number `index` (from 0).
    pub fn nth(operation: &'static str, index: u64, effect: Effect) -> Self {
        Self { skip: index, times: 1, ..Self::always(Some(operation), effect) }
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Effects applied.
    injected: std::collections::BTreeMap<String, u64>,
    tokens: HashSet<String>,
    in_flight: HashSet<String>,
    random: u64,
}

impl State {
    fn next_random(&mut self) -> f64 {
        // xorshift64*: reproducible from the seed, no dependency.
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        (self.random.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The delays and the first other effect that apply to this request of `operation`.
    fn effects(&mut self, operation: &str) -> (Duration, Option<Effect>) {
        let mut delay = Duration::ZERO;
        let mut chosen = None;
        for index in 0..self.rules.len() {
            let rule = &mut self.rules[index];
            if rule.operation.is_some_and(|o| o != operation) {
                continue;
            }
            let number = rule.matched;
            rule.matched += 1;
            if number < rule.skip || number - rule.skip >= rule.times {
                continue;
            }
            let (probability, effect) = (rule.probability, rule.effect);
            if probability < 1.0 && self.next_random() >= probability {
                continue;
            }
            if effect == Effect::HideQueryItem && self.in_flight.is_empty() {
                continue;
            }
            match effect {
                Effect::Delay(d) => delay += d,
                other if chosen.is_none() => chosen = Some(other),
                _ => {}
            }
        }
        if let Some(effect) = chosen {
            *self.injected.entry(format!("{effect:?}")).or_default() += 1;
        }
        (delay, chosen)
    }
}

/// The running proxy; stops with the test's runtime. Clones control the same proxy.
#[derive(Clone)]
pub struct Chaos {
    pub url: String,
    state: Arc<Mutex<State>>,
    proxy: Arc<Proxy>,
}

/// The chaos layer as the shared proxy's hook.
struct Faults(Arc<Mutex<State>>);

impl Hook for Faults {
    fn answer<'a>(&'a self, request: &'a Exchange, upstream: &'a Upstream) -> BoxFuture<'a, Answer> {
        Box::pin(handle(&self.0, upstream, request))
    }
}

impl Chaos {
    /// A proxy in front of `endpoint`, with no rules yet; `seed` makes `sometimes` reproducible.
    pub async fn start(endpoint: &str, seed: u64) -> Self {
        let state = Arc::new(Mutex::new(State { random: seed.max(1), ..State::default() }));
        let proxy = Proxy::start(endpoint, Arc::new(Faults(state.clone()))).await;
        Self { url: proxy.url.clone(), state, proxy: Arc::new(proxy) }
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// Removes every rule: from now on the proxy only forwards.
    pub fn calm(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Requests of `operation` the proxy has received.
    pub fn seen(&self, operation: &str) -> u64 {
        self.proxy.seen(operation)
    }

    /// Effects applied so far, by name (`"WriteConflict"`, …).
    pub fn injected(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.lock().unwrap().injected.clone()
    }
}

fn error(status: StatusCode, kind: &str, message: &str, extra: Option<(&str, Value)>) -> Answer {
    let mut body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message});
    if let Some((name, value)) = extra {
        body[name] = value;
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-errortype", HeaderValue::from_str(kind).expect("ascii"));
    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    Answer { status, headers, body: Bytes::from(body.to_string()) }
}

async fn handle(state: &Mutex<State>, upstream: &Upstream, exchange: &Exchange) -> Answer {
    let operation = exchange.operation();
    let request: Value = serde_json::from_slice(&exchange.body).unwrap_or(Value::Null);
    let token = request["ClientRequestToken"].as_str().map(str::to_owned);
    if let Some(token) = &token {
        let mut state = state.lock().unwrap();
        if state.tokens.contains(token) {
            // DynamoDB: a repeated token of a transaction that succeeded succeeds again, unapplied.
            return Answer { status: StatusCode::OK, headers: HeaderMap::new(), body: Bytes::from_static(b"{}") };
        }
        if !state.in_flight.insert(token.clone()) {
            return error(StatusCode::BAD_REQUEST, "TransactionInProgressException", "in progress", None);
        }
    }
    let answer = respond(state, upstream, exchange, &operation, &request).await;
    if let Some(token) = &token {
        let mut state = state.lock().unwrap();
        state.in_flight.remove(token);
        if answer.status.is_success() {
            state.tokens.insert(token.clone());
        }
    }
    answer
}

async fn respond(
    state: &Mutex<State>,
    upstream: &Upstream,
    exchange: &Exchange,
    operation: &str,
    request: &Value,
) -> Answer {
    let (delay, effect) = state.lock().unwrap().effects(operation);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match effect {
        None => upstream.forward(exchange).await,
        Some(Effect::WriteConflict) => {
            error(StatusCode::BAD_REQUEST, "TransactionConflictException", "Transaction is ongoing for the item", None)
        }
        Some(Effect::CancelTransaction(reason)) => {
            let items = request["TransactItems"].as_array().map_or(1, Vec::len);
            let reasons: Vec<Value> = (0..items).map(|_| json!({"Code": reason, "Message": reason})).collect();
            let message =
                format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}]");
            error(
                StatusCode::BAD_REQUEST,
                "TransactionCanceledException",
                &message,
                Some(("CancellationReasons", json!(reasons))),
            )
        }
        Some(Effect::Throttle) => error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput",
            None,
        ),
        Some(Effect::ServerError) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "Internal server error", None)
        }
        Some(Effect::Refuse) => {
            error(StatusCode::BAD_REQUEST, "ValidationException", "refused by the chaos layer", None)
        }
        Some(Effect::AppliedButLost) => {
            let answer = upstream.forward(exchange).await;
            // Done, applied or not: a retry with its token must not be told it is in progress
            // for the hour this answer is held (every retry did, until the store's deadline).
            if let Some(token) = request["ClientRequestToken"].as_str() {
                let mut state = state.lock().unwrap();
                state.in_flight.remove(token);
                if answer.status.is_success() {
                    state.tokens.insert(token.to_owned());
                }
            }
            // Longer than any attempt timeout: the client gives up and this answer is lost.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            answer
        }
        Some(Effect::HideQueryItem) => {
            let Answer { status, mut headers, body } = upstream.forward(exchange).await;
            let mut answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let hidden = answer["Items"].as_array_mut().filter(|items| items.len() >= 2).map(|items| {
                let index = 1 + (state.lock().unwrap().next_random() * (items.len() - 1) as f64) as usize;
                items.remove(index.min(items.len() - 1));
            });
            if hidden.is_some() {
                answer["Count"] = json!(answer["Items"].as_array().map_or(0, Vec::len));
                // The body no longer matches the emulator's checksum of it.
                headers.remove("x-amz-crc32");
                return Answer { status, headers, body: Bytes::from(answer.to_string()) };
            }
            Answer { status, headers, body }
        }
        Some(Effect::Delay(_)) => unreachable!("delays are summed, not chosen"),
    }
}
