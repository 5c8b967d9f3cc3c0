//! The rules of the messaging service, independent of HTTP and of storage.
//!
//! Everything a client sends is parsed into one of these types at the edge ("parse, don't
//! validate"), so the store and the handlers only ever see values that are already valid.

pub mod conversation;
pub mod error;
pub mod group;
pub mod history;
pub mod ids;
pub mod inbox;
pub mod keys;
pub mod limits;
pub mod message;
pub mod session;
pub mod text;

pub use conversation::{ConversationId, Number, Participation, ReadMark};
pub use error::{Invalid, Rejection};
pub use group::Group;
pub use ids::{AppUserId, ClientId, ConnectionId, GroupId, MessageId, SessionId, UserId};
pub use keys::{Cursor, Keys, Seq, TokenError};
pub use limits::{Rule, RuleLimits};
pub use message::{FeedPage, Message, MessageJson, Outgoing, Recipient, Sent, User};
pub use session::{AccessClaims, RefreshToken, Session, UnixSecs};
pub use text::{Name, Text};
