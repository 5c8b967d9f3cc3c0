//! The store contract of the app's users and of sessions, for every backend: upserts make one
//! user per app id even when they race, a refresh token rotates once, a replayed one revokes its
//! session, and revocation is per session or per user.

use std::sync::Arc;

use runtime::domain::session::now;
use runtime::domain::{AppUserId, Name, RefreshToken, Rejection, Session, SessionId, UserId};
use runtime::store::{Rotation, Store, StoreError};

use crate::Backend;

fn refused(result: Result<Rotation, StoreError>) -> bool {
    matches!(result, Err(StoreError::Rejected(Rejection::InvalidRefreshToken)))
}

/// A stored session of `user`, valid for an hour, and its token.
async fn session(store: &dyn Store, user: &UserId) -> RefreshToken {
    let token = RefreshToken::issue(user.clone(), SessionId::generate(), 0);
    store.create_session(&Session::of(&token, now() + 3_600)).await.unwrap();
    token
}

async fn rotate(store: &dyn Store, token: &RefreshToken) -> (Result<Rotation, StoreError>, RefreshToken) {
    let next = token.successor();
    (store.rotate_session(token, &Session::of(&next, now() + 3_600), now()).await, next)
}

pub async fn app_users_upsert_to_one_user_even_when_racing(backend: &Backend) {
    let store = &*backend.store;
    let app = AppUserId::parse("auth0|42").unwrap();
    assert_eq!(store.app_user(&app).await.unwrap(), None);
    let first = store.upsert_app_user(&app, &Name::parse("Ada").unwrap(), &UserId::generate()).await.unwrap();
    let renamed = store.upsert_app_user(&app, &Name::parse("Ada L.").unwrap(), &UserId::generate()).await.unwrap();
    assert_eq!(renamed.id, first.id, "the same app user is the same user");
    assert_eq!(renamed.name.as_str(), "Ada L.");
    assert_eq!(store.app_user(&app).await.unwrap(), Some(renamed.clone()));
    assert_eq!(store.user(&first.id).await.unwrap(), Some(renamed));

    let racing = AppUserId::parse("firebase:abcdefghijklmnopqrstuvwxyz12").unwrap();
    let store_handle: Arc<dyn Store> = backend.store.clone();
    let upserts = (0..8).map(|i| {
        let (store, racing) = (store_handle.clone(), racing.clone());
        tokio::spawn(async move {
            store.upsert_app_user(&racing, &Name::parse(&format!("n{i}")).unwrap(), &UserId::generate()).await
        })
    });
    let ids: Vec<UserId> =
        futures::future::join_all(upserts).await.into_iter().map(|r| r.unwrap().unwrap().id).collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "one user for one app id: {ids:?}");
    assert_ne!(ids[0], first.id);
}

pub async fn a_refresh_token_rotates_once_and_a_replay_revokes_the_session(backend: &Backend) {
    let store = &*backend.store;
    let user = UserId::generate();
    let first = session(store, &user).await;
    let (rotated, second) = rotate(store, &first).await;
    assert_eq!(rotated.unwrap(), Rotation::Rotated);
    let (rotated, third) = rotate(store, &second).await;
    assert_eq!(rotated.unwrap(), Rotation::Rotated);
    // A forged secret at the current generation changes nothing.
    let forged = RefreshToken::issue(user.clone(), third.session.clone(), third.generation);
    assert!(refused(rotate(store, &forged).await.0));
    // The first token again: it was copied. The session is gone, with its newest token.
    assert_eq!(rotate(store, &first).await.0.unwrap(), Rotation::Revoked);
    assert!(refused(rotate(store, &third).await.0));
    // Unknown sessions and expired tokens are refused.
    let unknown = RefreshToken::issue(user.clone(), SessionId::generate(), 0);
    assert!(refused(rotate(store, &unknown).await.0));
    let expired = RefreshToken::issue(user.clone(), SessionId::generate(), 0);
    store.create_session(&Session::of(&expired, now() - 1)).await.unwrap();
    assert!(refused(rotate(store, &expired).await.0));
}

pub async fn two_presentations_at_once_rotate_once_and_revoke(backend: &Backend) {
    let store: Arc<dyn Store> = backend.store.clone();
    let token = session(&*store, &UserId::generate()).await;
    let presentations = (0..2).map(|_| {
        let (store, token) = (store.clone(), token.clone());
        tokio::spawn(async move { rotate(&*store, &token).await })
    });
    let results: Vec<_> = futures::future::join_all(presentations).await.into_iter().map(Result::unwrap).collect();
    let rotated: Vec<&RefreshToken> =
        results.iter().filter(|(r, _)| matches!(r, Ok(Rotation::Rotated))).map(|(_, next)| next).collect();
    assert_eq!(
        rotated.len(),
        1,
        "exactly one presentation rotates: {:?}",
        results.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    assert!(results.iter().any(|(r, _)| matches!(r, Ok(Rotation::Revoked))), "the other one is a replay, and revokes");
    assert!(refused(rotate(&*store, rotated[0]).await.0), "the session was revoked after the rotation");
}

pub async fn sessions_are_revoked_one_at_a_time_or_all_together(backend: &Backend) {
    let store = &*backend.store;
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let alice_phone = session(store, &alice).await;
    let alice_laptop = session(store, &alice).await;
    let alice_tablet = session(store, &alice).await;
    let bobs = session(store, &bob).await;
    store.revoke_session(&alice, &alice_phone.session).await.unwrap();
    store.revoke_session(&alice, &alice_phone.session).await.unwrap();
    assert!(refused(rotate(store, &alice_phone).await.0));
    let (rotated, alice_laptop) = rotate(store, &alice_laptop).await;
    assert_eq!(rotated.unwrap(), Rotation::Rotated);
    store.revoke_sessions(&alice).await.unwrap();
    store.revoke_sessions(&alice).await.unwrap();
    assert!(refused(rotate(store, &alice_laptop).await.0));
    assert!(refused(rotate(store, &alice_tablet).await.0));
    assert_eq!(rotate(store, &bobs).await.0.unwrap(), Rotation::Rotated, "someone else's sessions are untouched");
}

pub async fn erasing_an_app_user_leaves_nothing_of_theirs(backend: &Backend) {
    use runtime::domain::message::Recipient;
    use runtime::domain::{Group, Seq};
    use runtime::store::MembershipChange;

    use crate::fixtures::{outgoing, user};

    let store = &*backend.store;
    let app = AppUserId::parse("auth0|erase-me").unwrap();
    let ada = store.upsert_app_user(&app, &Name::parse("Ada").unwrap(), &UserId::generate()).await.unwrap().id;
    let (bob, carol) = (user(store, "bob").await, user(store, "carol").await);
    let token = session(store, &ada).await;
    store.send(&outgoing(&ada, Recipient::Direct(carol.clone()), "to carol", Some("c-1"))).await.unwrap();
    store.send(&outgoing(&carol, Recipient::Direct(ada.clone()), "to ada", None)).await.unwrap();
    // A group Ada owns (Bob joins after her), and one of Bob's she is in.
    let owned = Group::new(Name::parse("ada's").unwrap(), ada.clone());
    store.create_group(&owned).await.unwrap();
    let add = |group: &Group, caller: &UserId, user: &UserId| MembershipChange {
        group: group.id.clone(),
        caller: caller.clone(),
        user: user.clone(),
    };
    store.add_member(&add(&owned, &ada, &bob), 10).await.unwrap();
    store.add_member(&add(&owned, &ada, &carol), 10).await.unwrap();
    let bobs = Group::new(Name::parse("bob's").unwrap(), bob.clone());
    store.create_group(&bobs).await.unwrap();
    store.add_member(&add(&bobs, &bob, &ada), 10).await.unwrap();
    // Blocks both ways, after the adds (a block refuses a later add by the blocked).
    store.block(&ada, &bob).await.unwrap();
    store.block(&bob, &ada).await.unwrap();
    store.send(&outgoing(&ada, Recipient::Group(owned.id.clone()), "hello all", None)).await.unwrap();

    let erased = store.erase_app_user(&app).await.unwrap().expect("a known app user");
    assert_eq!(erased.user, ada);
    assert_eq!(store.user(&ada).await.unwrap(), None, "the profile");
    assert_eq!(store.app_user(&app).await.unwrap(), None, "the app's id of them");
    assert!(store.feed(&ada, Seq::START, 100).await.unwrap().entries.is_empty(), "the feed");
    assert!(store.blocked(&ada).await.unwrap().is_empty(), "their blocks");
    assert!(store.inbox(&ada, None, 100).await.unwrap().conversations.is_empty(), "their conversations");
    let with_ada = store.inbox(&carol, None, 100).await.unwrap().conversations;
    let with_ada = with_ada.iter().find(|c| c.id.as_str() == ada.as_str()).expect("Carol's side stays");
    assert_eq!(with_ada.name.as_str(), "deleted user");
    assert_eq!(store.blocked(&bob).await.unwrap(), vec![ada.clone()], "others' blocks of them stay, inert");
    assert!(refused(rotate(store, &token).await.0), "their sessions");
    let owned_now = store.group(&owned.id).await.unwrap().unwrap();
    assert_eq!((owned_now.owner.clone(), owned_now.members.clone()), (bob.clone(), vec![bob.clone(), carol.clone()]));
    assert_eq!(store.group(&bobs.id).await.unwrap().unwrap().members, vec![bob.clone()], "memberships");
    // What they sent others stays with the others; nobody can send to them any more.
    let carols: Vec<String> = store
        .feed(&carol, Seq::START, 100)
        .await
        .unwrap()
        .entries
        .iter()
        .filter(|(_, entry)| !entry.is_membership())
        .map(|(_, message)| message.decode().unwrap().text.as_str().to_owned())
        .collect();
    assert_eq!(carols, ["to carol", "to ada", "hello all"]);
    let to_ada = store.send(&outgoing(&carol, Recipient::Direct(ada.clone()), "hi?", None)).await;
    assert!(matches!(to_ada, Err(StoreError::Rejected(Rejection::UnknownUser))), "{to_ada:?}");

    // Again: nobody by that id. The app's id may be used again, for a new user.
    assert_eq!(store.erase_app_user(&app).await.unwrap(), None);
    let again = store.upsert_app_user(&app, &Name::parse("Ada").unwrap(), &UserId::generate()).await.unwrap();
    assert_ne!(again.id, ada);
    // A send record (client id) of theirs is gone with them: the new user's first send with the
    // same client id is a new message.
    let fresh = store.send(&outgoing(&again.id, Recipient::Direct(carol.clone()), "new", Some("c-1"))).await;
    assert!(!fresh.unwrap().replayed);
}
