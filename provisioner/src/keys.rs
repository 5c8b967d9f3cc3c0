//! `server-key`, `keys rotate` and `keys hs256-secret`: the key ring in the stack's secret
//! ([`crate::secret`]).

use contract::key_ring::Hs256Secret;

use crate::context::Context;
use crate::error::Error;
use crate::{function, secret};

/// The server key, for the app's backend.
pub async fn server_key(cx: &Context<'_>) -> Result<String, Error> {
    Ok(secret::read(cx).await?.server_key.as_str().to_owned())
}

/// A new signing key in the secret, then the function pointed at that version: Lambda replaces
/// its instances, and each new one reads the new ring at its cold start. Keys whose tokens have
/// all expired (older than `access_token_ttl_secs` past their successor) leave the ring.
pub async fn rotate(cx: &Context<'_>) -> Result<String, Error> {
    let mut ring = secret::read(cx).await?;
    ring.rotate(secret::unix_now(), cx.settings.access_token_ttl_secs);
    let key_id = ring.signing().id();
    let reference = secret::write(cx, &ring).await?;
    function::point_at_key_ring(cx, &reference).await?;
    Ok(format!("signing key {key_id} added; {} reads version {}", cx.names.function, reference.version))
}

/// The app's HS256 identity-token secret set (or removed) in the secret, then the function pointed
/// at that version, as for a rotation: the secret never enters the function's environment.
pub async fn set_hs256_secret(cx: &Context<'_>, secret: Option<Hs256Secret>) -> Result<String, Error> {
    let mut ring = secret::read(cx).await?;
    let set = secret.is_some();
    ring.jwt_hs256_secret = secret;
    let reference = secret::write(cx, &ring).await?;
    function::point_at_key_ring(cx, &reference).await?;
    let what = if set { "HS256 identity-token secret set" } else { "HS256 identity-token secret removed" };
    Ok(format!("{what}; {} reads version {}", cx.names.function, reference.version))
}
