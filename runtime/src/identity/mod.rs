//! Identity tokens: the JWTs an app's identity provider issues, verified with `jsonwebtoken`
//! (never by hand) so that `POST /v1/sessions` can sign in the user they name.
//!
//! The algorithm is pinned by the key, never taken from the token: a JWKS key verifies only with
//! the algorithm its JWK states (or its type implies), and HS256 only with the configured shared
//! secret. So a token cannot pick `none`, nor HS256 keyed with a provider's public key.

mod jwks;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

pub use jwks::{Jwks, jwks_url};

/// Identity tokens are a few hundred bytes to a few KB; anything larger is refused before parsing.
pub const MAX_ID_TOKEN_BYTES: usize = 8 * 1024;

/// The identity provider as the settings describe it.
pub struct IdentityOptions {
    /// The provider's JWKS (RS256, ES256 and the other RSA and EC signatures).
    pub jwks_url: Option<hyper::Uri>,
    /// The secret of apps that mint their own HS256 tokens; at least 32 bytes.
    pub hs256_secret: Option<String>,
    /// `iss` must equal this when set.
    pub issuer: Option<String>,
    /// `aud` must contain this when set.
    pub audience: Option<String>,
    /// Seconds of clock difference allowed to `exp` and `nbf`.
    pub leeway_secs: u64,
    /// The claim that names the user.
    pub name_claim: String,
}

/// Who a verified identity token says the user is.
#[derive(Debug, PartialEq, Eq)]
pub struct Identity {
    /// `sub`: the app's id of the user.
    pub subject: String,
    /// The name claim, when the token has it as a string.
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    /// The token is not accepted; the message says which check failed.
    #[error("the id token is refused: {0}")]
    Refused(String),
    /// The provider's keys could not be fetched and none are cached: not the client's fault.
    #[error("the identity provider's keys are unavailable; retry after {retry_after_secs} s")]
    ProviderUnavailable { detail: String, retry_after_secs: u64 },
}

fn refused(reason: impl Into<String>) -> IdTokenError {
    IdTokenError::Refused(reason.into())
}

/// Verifies identity tokens; built once at start-up and shared (it caches the JWKS).
pub struct IdentityProvider {
    jwks: Option<Jwks>,
    hs256: Option<DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
    name_claim: String,
}

impl IdentityProvider {
    /// `None` when neither a JWKS nor a secret is configured: the server takes no identity tokens.
    pub fn new(options: IdentityOptions) -> anyhow::Result<Option<Self>> {
        if options.jwks_url.is_none() && options.hs256_secret.is_none() {
            return Ok(None);
        }
        let hs256 = match options.hs256_secret {
            Some(secret) => {
                // RFC 7518 §3.2: an HMAC key at least as long as the hash output.
                anyhow::ensure!(secret.len() >= 32, "jwt_hs256_secret must be at least 32 bytes");
                Some(DecodingKey::from_secret(secret.as_bytes())?)
            }
            None => None,
        };
        if options.jwks_url.is_some() {
            // A provider's keys sign the tokens of every app it serves (one Firebase JWKS for all
            // projects): without both checks, another app's users would sign in here.
            anyhow::ensure!(
                options.issuer.is_some() && options.audience.is_some(),
                "jwt_jwks_url needs jwt_issuer and jwt_audience: the provider signs other apps' tokens with the same keys"
            );
        }
        anyhow::ensure!(!options.name_claim.is_empty(), "jwt_name_claim must not be empty");
        Ok(Some(Self {
            jwks: options.jwks_url.map(Jwks::new).transpose()?,
            hs256,
            issuer: options.issuer,
            audience: options.audience,
            leeway_secs: options.leeway_secs,
            name_claim: options.name_claim,
        }))
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, IdTokenError> {
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(refused(format!("it is larger than {} KiB", MAX_ID_TOKEN_BYTES / 1024)));
        }
        let header = decode_header(token).map_err(|e| refused(describe(e.kind())))?;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => {
                let key = self.hs256.clone().ok_or_else(|| refused("HS256 tokens are not accepted here"))?;
                (key, Algorithm::HS256)
            }
            alg => {
                let jwks =
                    self.jwks.as_ref().ok_or_else(|| refused(format!("{alg:?} tokens are not accepted here")))?;
                let pinned = jwks.key(header.kid.as_deref()).await?;
                if pinned.algorithm != alg {
                    return Err(refused(format!("its alg is {alg:?}, but its key is for {:?}", pinned.algorithm)));
                }
                (pinned.key, pinned.algorithm)
            }
        };
        let claims = decode::<Map<String, Value>>(token, &key, &self.validation(algorithm))
            .map_err(|e| refused(describe(e.kind())))?
            .claims;
        let subject = claims.get("sub").and_then(Value::as_str).ok_or_else(|| refused("its sub is not a string"))?;
        let name = claims.get(&self.name_claim).and_then(Value::as_str).map(str::to_owned);
        Ok(Identity { subject: subject.to_owned(), name })
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

/// Which check failed, for the client (the token is theirs; nothing here is a secret).
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "it has expired (exp)".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "its issuer (iss) is not the configured one".into(),
        ErrorKind::InvalidAudience => "its audience (aud) is not this app".into(),
        ErrorKind::InvalidSignature => "its signature does not verify".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            "its alg is not its key's".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("it has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("its {claim} claim has the wrong type"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::Base64(_) | ErrorKind::InvalidToken => {
            "it is not a well-formed JWT".into()
        }
        other => format!("it does not verify ({other:?})"),
    }
}
