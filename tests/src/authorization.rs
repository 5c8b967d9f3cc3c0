//! Every authenticated route against every wrong credential: the status and code the contract
//! gives, and nothing of anyone else's readable or changed through any of them. (The server
//! API's routes, which take the server key instead, are `sessions::the_server_key_and_user_tokens_open_only_their_own_routes`.)

use runtime::domain::{AccessClaims, Keys, SessionId, UserId};
use serde_json::{Value, json};

use crate::Backend;
use crate::client::{Registered, TestApp};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Credential {
    None,
    Malformed,
    OtherKey,
    /// The server API's key: never a user's token.
    ServerKey,
    OtherUser,
    RemovedMember,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    /// Acts on one group: only its members may.
    Group,
    /// Acts on the caller's own data (feed, blocks, new group) or on a public profile: any
    /// signed-in user may, and sees or changes only their own.
    Own,
    /// Acts on one of the caller's conversations: what the outsider and the removed member get.
    Conversation(Expect, Expect),
}

/// What a signed-in user gets from a route acting on a conversation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Refused(u16, &'static str),
    /// Their own part of it, which holds none of the victims' secrets.
    Theirs,
}

struct Route {
    method: &'static str,
    path: String,
    body: Option<Value>,
    scope: Scope,
}

/// What the victims own and nobody else may read or change: the group's members, the messages
/// in its members' feeds, the owner's blocks.
async fn snapshot(app: &TestApp, owner: &Registered, member: &Registered, group: &str) -> Value {
    let members = app.get(&format!("/v1/groups/{group}"), &owner.token).await.assert_status(200)["members"].clone();
    let blocks = app.get("/v1/me/blocks", &owner.token).await.assert_status(200).clone();
    let (owner_feed, _) = app.drain(owner, None).await;
    let (member_feed, _) = app.drain(member, None).await;
    let group_messages = |feed: Vec<Value>| feed.into_iter().filter(|m| m["to"] == group).collect::<Vec<_>>();
    json!({
        "members": members,
        "blocks": blocks,
        "owner_feed": group_messages(owner_feed),
        "member_feed": group_messages(member_feed),
    })
}

pub async fn every_route_refuses_every_wrong_credential(backend: &Backend) {
    let app = TestApp::new(backend);
    let owner = app.register("owner").await;
    let member = app.register("member").await;
    let removed = app.register("removed").await;
    let outsider = app.register("outsider").await;
    let group = app.create_group(&owner, &[&member, &removed]).await;
    let group_path = format!("/v1/groups/{group}");
    let before = app.post(&format!("{group_path}/messages"), &owner.token, &json!({"text": "before"})).await;
    let before = before.assert_status(201)["id"].clone();
    app.delete(&format!("{group_path}/members/{}", removed.id), &owner.token).await.assert_status(204);
    app.post(&format!("{group_path}/messages"), &owner.token, &json!({"text": "secret"})).await.assert_status(201);
    let private = app.send_direct(&owner, &member.id, "private").await.assert_status(201)["id"].clone();
    app.put(&format!("/v1/me/blocks/{}", outsider.id), &owner.token).await.assert_status(204);

    let unknown = Expect::Refused(404, "conversation_not_found");
    let routes = [
        Route { method: "GET", path: format!("/v1/users/{}", member.id), body: None, scope: Scope::Own },
        Route {
            method: "POST",
            path: format!("/v1/users/{}/messages", outsider.id),
            body: Some(json!({"text": "hi"})),
            scope: Scope::Own,
        },
        Route { method: "GET", path: "/v1/me/blocks".into(), body: None, scope: Scope::Own },
        Route { method: "PUT", path: format!("/v1/me/blocks/{}", member.id), body: None, scope: Scope::Own },
        Route { method: "DELETE", path: format!("/v1/me/blocks/{}", outsider.id), body: None, scope: Scope::Own },
        Route { method: "POST", path: "/v1/groups".into(), body: Some(json!({"name": "mine"})), scope: Scope::Own },
        Route { method: "GET", path: "/v1/messages".into(), body: None, scope: Scope::Own },
        // Signing out signs out the caller's own sessions only (their access tokens stay valid
        // until they expire, so the later routes still answer).
        Route { method: "DELETE", path: "/v1/sessions/current".into(), body: None, scope: Scope::Own },
        Route { method: "DELETE", path: "/v1/sessions".into(), body: None, scope: Scope::Own },
        Route { method: "GET", path: group_path.clone(), body: None, scope: Scope::Group },
        Route { method: "PUT", path: format!("{group_path}/members/{}", outsider.id), body: None, scope: Scope::Group },
        Route {
            method: "DELETE",
            path: format!("{group_path}/members/{}", member.id),
            body: None,
            scope: Scope::Group,
        },
        Route {
            method: "POST",
            path: format!("{group_path}/messages"),
            body: Some(json!({"text": "let me in"})),
            scope: Scope::Group,
        },
        Route { method: "GET", path: "/v1/conversations".into(), body: None, scope: Scope::Own },
        // A group's history: the removed member keeps what they received while a member.
        Route {
            method: "GET",
            path: format!("/v1/conversations/{group}/messages"),
            body: None,
            scope: Scope::Conversation(unknown, Expect::Theirs),
        },
        Route {
            method: "GET",
            path: format!("/v1/conversations/{group}"),
            body: None,
            scope: Scope::Conversation(unknown, Expect::Refused(403, "not_a_member")),
        },
        Route {
            method: "PUT",
            path: format!("/v1/conversations/{group}/read"),
            body: Some(json!({ "up_to": before })),
            scope: Scope::Conversation(unknown, Expect::Theirs),
        },
        // The owner and the member's direct conversation, named by its peer: nobody else has one.
        Route {
            method: "GET",
            path: format!("/v1/conversations/{}/messages", member.id),
            body: None,
            scope: Scope::Conversation(unknown, unknown),
        },
        Route {
            method: "GET",
            path: format!("/v1/conversations/{}", member.id),
            body: None,
            scope: Scope::Conversation(unknown, unknown),
        },
        Route {
            method: "PUT",
            path: format!("/v1/conversations/{}/read", member.id),
            body: Some(json!({ "up_to": private })),
            scope: Scope::Conversation(unknown, unknown),
        },
    ];

    let owner_id = UserId::parse(&owner.id).unwrap();
    // The owner's token naming the outsider: the MAC no longer matches.
    let tampered = owner.token.replace(&owner.id, &outsider.id);
    let credentials: [(Credential, Vec<Option<String>>); 6] = [
        (Credential::None, vec![None]),
        (
            Credential::Malformed,
            ["garbage", "", ".", &format!("{}.", owner.id), &format!("{}x", owner.token), &tampered]
                .map(|t| Some(t.to_owned()))
                .to_vec(),
        ),
        (
            Credential::OtherKey,
            vec![Some(Keys::generate().issue_access_token(&AccessClaims {
                user: owner_id.clone(),
                session: SessionId::generate(),
                expires_at: u64::MAX,
            }))],
        ),
        (Credential::ServerKey, vec![Some(app.server_key.clone())]),
        (Credential::OtherUser, vec![Some(outsider.token.clone())]),
        (Credential::RemovedMember, vec![Some(removed.token.clone())]),
    ];

    let before = snapshot(&app, &owner, &member, &group).await;
    let mut checked = 0;
    for (credential, tokens) in &credentials {
        for token in tokens {
            for route in &routes {
                let body = route.body.as_ref().map(Value::to_string);
                let reply = app.call(route.method, &route.path, token.as_deref(), body.as_deref()).await;
                let case = format!("{credential:?} {token:?} {} {}", route.method, route.path);
                match (credential, route.scope) {
                    (Credential::None, _) => reply.assert_error(401, "missing_token"),
                    (Credential::Malformed | Credential::OtherKey | Credential::ServerKey, _) => {
                        reply.assert_error(401, "invalid_token")
                    }
                    (Credential::OtherUser | Credential::RemovedMember, Scope::Group) => {
                        reply.assert_error(403, "not_a_member")
                    }
                    (Credential::OtherUser, Scope::Conversation(Expect::Refused(status, code), _))
                    | (Credential::RemovedMember, Scope::Conversation(_, Expect::Refused(status, code))) => {
                        reply.assert_error(status, code)
                    }
                    (Credential::OtherUser | Credential::RemovedMember, _) => {
                        assert!(reply.status.is_success(), "{case}: {}", reply.body);
                        let text = reply.body.to_string();
                        // A removed member legitimately keeps what they received while a member.
                        let secrets: &[&str] = match credential {
                            Credential::OtherUser => &["secret", "private", &group],
                            _ => &["secret", "private"],
                        };
                        for secret in secrets {
                            assert!(!text.contains(secret), "{case} revealed {secret:?}: {text}");
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(snapshot(&app, &owner, &member, &group).await, before, "a refused request changed something");

    // The removed member's own feed holds what was sent while they were a member, nothing after.
    let (feed, _) = app.drain(&removed, None).await;
    let texts: Vec<_> = feed.iter().filter(|m| m["to"] == group.as_str()).filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["before"], "removed member's feed");
    assert!(checked >= 100, "{checked} cases");
}
