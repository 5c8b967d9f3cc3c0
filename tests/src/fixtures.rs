//! Store-level fixtures for the suites that call a [`Store`] directly: a user, a group of users,
//! and a message to send.

use runtime::domain::message::Outgoing;
use runtime::domain::{ClientId, Group, Message, Name, Recipient, Text, User, UserId};
use runtime::store::Store;

/// A new user called `name`: its id.
pub async fn user(store: &dyn Store, name: &str) -> UserId {
    let user = User { id: UserId::generate(), name: Name::parse(name).unwrap() };
    store.create_user(&user).await.unwrap();
    user.id
}

/// A new group of `size` new users, the owner first.
pub async fn group(store: &dyn Store, size: usize) -> Group {
    let owner = user(store, "u").await;
    let mut group = Group::new(Name::parse("g").unwrap(), owner);
    for _ in 1..size {
        group.members.push(user(store, "u").await);
    }
    store.create_group(&group).await.unwrap();
    group
}

/// A message from `from` to `to`, with a `client_id` when given.
pub fn outgoing(from: &UserId, to: Recipient, text: &str, client_id: Option<&str>) -> Outgoing {
    Outgoing {
        message: Message::new(from.clone(), to, Text::parse(text.into()).unwrap()),
        client_id: client_id.map(|c| ClientId::parse(c).unwrap()),
    }
}
