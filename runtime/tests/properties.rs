//! Property tests of every parser and encoder a client's input reaches, and of the OpenAPI
//! document's bounds: what the document calls valid is exactly what the parsers accept.

use axum::body::Body;
use axum::http::Request;
use messaging_tests::Backend;
use messaging_tests::client::TestApp;
use proptest::prelude::*;
use regex::Regex;
use runtime::domain::{AccessClaims, ClientId, Cursor, GroupId, Keys, Name, Seq, SessionId, Text, TokenError, UserId};
use serde_json::Value;

/// Cases per property: `default` in the test suite, `PROPTEST_CASES` when `cargo xtask fuzz`
/// sets it for a long run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// The `pattern` the served OpenAPI document gives a request-body field.
fn documented_pattern(schema: &str, field: &str) -> Regex {
    static DOCUMENT: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| serde_json::to_value(runtime::api::openapi()).unwrap());
    let pattern = DOCUMENT["components"]["schemas"][schema]["properties"][field]["pattern"].as_str();
    Regex::new(pattern.unwrap_or_else(|| panic!("{schema}.{field} has no pattern in the document"))).unwrap()
}

/// Strings that stress the boundaries: every kind of whitespace, control characters, wide
/// characters, and lengths around the limits.
fn edgy_string(max_chars: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\n".to_owned()),
        Just("\u{85}".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("\u{3000}".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{7f}".to_owned()),
        Just("\u{9f}".to_owned()),
        Just("é".to_owned()),
        Just("😀".to_owned()),
        "[a-z]{1,8}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..max_chars).prop_map(|pieces| pieces.concat())
}

/// Every way to change one character of `valid`: replace it, drop it, or insert after it.
fn mutations(valid: String) -> impl Strategy<Value = String> {
    let len = valid.chars().count();
    (0..len, any::<char>(), 0..3u8).prop_filter_map("a mutation must change the string", move |(at, c, how)| {
        let mut chars: Vec<char> = valid.chars().collect();
        match how {
            0 => chars[at] = c,
            1 => {
                chars.remove(at);
            }
            _ => chars.insert(at + 1, c),
        }
        let mutated: String = chars.into_iter().collect();
        (mutated != valid).then_some(mutated)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn ids_exist_exactly_from_1_to_128_bytes_and_round_trip(raw in edgy_string(140)) {
        let parsed = UserId::parse(&raw);
        prop_assert_eq!(parsed.is_some(), (1..=128).contains(&raw.len()));
        if let Some(id) = parsed {
            prop_assert_eq!(UserId::parse(&id.to_string()), Some(id));
        }
        prop_assert_eq!(GroupId::parse(&raw).is_some(), (1..=128).contains(&raw.len()));
    }

    #[test]
    fn names_are_valid_exactly_as_documented(raw in edgy_string(80)) {
        let documented = documented_pattern("NewUser", "name").is_match(&raw);
        prop_assert_eq!(documented, documented_pattern("NewGroup", "name").is_match(&raw));
        match Name::parse(&raw) {
            Ok(name) => {
                prop_assert!(documented, "accepted but the document refuses {:?}", raw);
                prop_assert_eq!(name.as_str(), raw.trim());
                prop_assert_eq!(Name::parse(name.as_str()), Ok(name.clone()), "parsing is idempotent");
            }
            Err(_) => prop_assert!(!documented, "refused but the document accepts {:?}", raw),
        }
    }

    #[test]
    fn texts_are_valid_exactly_as_documented(raw in prop_oneof![edgy_string(40), "\\PC{3990,4010}"]) {
        let chars = raw.chars().count();
        let documented = (1..=4000).contains(&chars) && documented_pattern("NewMessage", "text").is_match(&raw);
        match Text::parse(raw.clone()) {
            Ok(text) => {
                prop_assert!(documented, "accepted but the document refuses {:?}", raw);
                prop_assert_eq!(text.as_str(), raw.as_str(), "stored exactly as sent");
                // The ceiling every stored entry's size rests on: at most 4 bytes of JSON a character.
                let json = serde_json::to_string(&text).unwrap();
                prop_assert!(json.len() <= 4 * chars + 2, "{} bytes of JSON for {} characters", json.len(), chars);
                prop_assert!(json.len() <= Text::MAX_JSON_BYTES);
            }
            Err(_) => prop_assert!(!documented, "refused but the document accepts {:?}", raw),
        }
    }

    #[test]
    fn client_ids_are_valid_exactly_as_documented(raw in edgy_string(70)) {
        let chars = raw.chars().count();
        let documented = (1..=64).contains(&chars) && documented_pattern("NewMessage", "client_id").is_match(&raw);
        prop_assert_eq!(ClientId::parse(&raw).is_ok(), documented, "{:?}", raw);
    }

    #[test]
    fn tokens_verify_for_their_user_and_any_change_breaks_them(
        (id, token, mutated) in "[a-z0-9_]{1,40}".prop_flat_map(|id| {
            let claims = AccessClaims {
                user: UserId::parse(&id).unwrap(),
                session: SessionId::generate(),
                expires_at: u64::MAX,
            };
            let token = KEYS.issue_access_token(&claims);
            (Just(id), Just(token.clone()), mutations(token))
        })
    ) {
        let claims = KEYS.verify_access_token(&token, 0).expect("a token verifies under its key");
        prop_assert_eq!(claims.user.as_str(), id.as_str());
        prop_assert_eq!(KEYS.verify_access_token(&mutated, 0), Err(TokenError::Invalid), "{:?} from {:?}", mutated, token);
        prop_assert_eq!(Keys::generate().verify_access_token(&token, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn cursors_round_trip_only_for_their_user_and_any_change_breaks_them(
        (seq, encoded, mutated) in any::<u64>().prop_flat_map(|seq| {
            let encoded = KEYS.encode_cursor(&USER, Cursor(Seq(seq)));
            (Just(seq), Just(encoded.clone()), mutations(encoded))
        })
    ) {
        prop_assert_eq!(KEYS.decode_cursor(&USER, &encoded), Ok(Cursor(Seq(seq))));
        prop_assert!(KEYS.decode_cursor(&USER, &mutated).is_err(), "{:?} from {:?}", mutated, encoded);
        prop_assert!(KEYS.decode_cursor(&OTHER_USER, &encoded).is_err());
    }
}

static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(Keys::generate);
static USER: std::sync::LazyLock<UserId> = std::sync::LazyLock::new(UserId::generate);
static OTHER_USER: std::sync::LazyLock<UserId> = std::sync::LazyLock::new(UserId::generate);

/// Through the router: the embedded store behind the real handlers.
struct Api {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    token: String,
    _backend: Backend,
}

static API: std::sync::LazyLock<Api> = std::sync::LazyLock::new(|| {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let backend = {
        let _inside = runtime.enter();
        Backend::embedded()
    };
    let app = TestApp::with(&backend, 1000, None);
    let token = runtime.block_on(app.register("prop")).token;
    Api { runtime, app, token, _backend: backend }
});

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(Value::from),
        edgy_string(20).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("text".to_owned()),
                    Just("client_id".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn limits_are_accepted_exactly_from_1_to_500_in_digits(raw in prop_oneof!["[0-9]{1,4}", "[+-]?[0-9 .e]{0,5}", "\\PC{0,4}"]) {
        let encoded: String = url_encode(&raw);
        let reply = API.runtime.block_on(API.app.get(&format!("/v1/messages?limit={encoded}"), &API.token));
        let valid = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && raw.parse::<u64>().is_ok_and(|n| (1..=500).contains(&n));
        if valid {
            reply.assert_status(200);
        } else {
            reply.assert_error(400, "invalid_limit");
        }
    }

    #[test]
    fn any_json_body_gets_an_answer_with_a_code_and_never_a_server_error(body in arbitrary_json(), route in 0..3usize) {
        let path = ["/v1/users", "/v1/groups", "/v1/users/u_x/messages"][route];
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header("authorization", format!("Bearer {}", API.token))
            .body(Body::from(body.to_string()))
            .unwrap();
        // `raw` itself asserts that every error has a JSON body with a code and a message.
        let reply = API.runtime.block_on(API.app.raw(request));
        prop_assert!(reply.status.as_u16() < 500, "{} for {}: {}", reply.status, body, reply.body);
    }
}

fn url_encode(raw: &str) -> String {
    raw.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
