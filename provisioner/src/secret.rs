//! The key ring's secret (AWS Secrets Manager): the signing keys, the cursor key and the server
//! key, as one JSON document ([`contract::key_ring`]). The function reads it once per cold start
//! (its environment holds only the ARN and the version); `server-key` prints the server key and
//! `keys rotate` adds a signing key. A deployment of before the ring keeps its key: the function's
//! `MESSAGING_TOKEN_KEY` becomes the ring's first signing key and its cursor key.

use std::fmt;

use aws_sdk_secretsmanager::types::Tag;
use contract::key_ring::KeyRing;

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::function;
use crate::resource::{Observation, Resource};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "secret";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
const CURRENT: &str = "AWSCURRENT";

/// The secret as the function's environment names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRingRef {
    pub arn: String,
    pub version: String,
}

pub struct Observed {
    reference: KeyRingRef,
    scheduled_for_deletion: bool,
}

/// Nothing of the secret is compared: its contents change only by `keys rotate`.
pub struct NoChange;

impl fmt::Display for NoChange {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

pub struct KeyRingSecret;

async fn describe(
    cx: &Context<'_>,
) -> Result<Option<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput>, Error> {
    let name = &cx.names.key_ring_secret;
    let found = cx.aws.secrets.describe_secret().secret_id(name).send().await;
    absent_as_none(found, NOT_FOUND, "secretsmanager:DescribeSecret", name)
}

impl Resource for KeyRingSecret {
    type Observed = Observed;
    type Change = NoChange;
    type Output = KeyRingRef;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, cx: &Context<'_>) -> String {
        cx.names.key_ring_secret.clone()
    }

    fn id(&self, cx: &Context<'_>, observed: Option<&Observed>) -> String {
        observed.map_or_else(|| cx.names.key_ring_secret.clone(), |o| o.reference.arn.clone())
    }

    fn deployed_id(&self, cx: &Context<'_>, output: Option<&KeyRingRef>) -> String {
        output.map_or_else(|| cx.names.key_ring_secret.clone(), |o| o.arn.clone())
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        let Some(found) = describe(cx).await? else { return Ok(Observation::Absent) };
        let current = found
            .version_ids_to_stages()
            .into_iter()
            .flatten()
            .find_map(|(version, stages)| stages.iter().any(|stage| stage == CURRENT).then(|| version.clone()));
        let observed = Observed {
            reference: KeyRingRef {
                arn: found.arn().unwrap_or_default().to_owned(),
                version: current.unwrap_or_default(),
            },
            scheduled_for_deletion: found.deleted_date().is_some(),
        };
        let tags = found.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
        Ok(Observation::tagged(Some(observed), |_| is_ours(&cx.names.stack, tags)))
    }

    fn incompatible(&self, _cx: &Context<'_>, observed: &Observed) -> Option<String> {
        observed.scheduled_for_deletion.then(|| {
            "it is scheduled for deletion: restore it (secretsmanager:RestoreSecret) to keep its keys, or wait until it is gone".into()
        })
    }

    fn drift(&self, _cx: &Context<'_>, _observed: &Observed) -> Vec<NoChange> {
        Vec::new()
    }

    fn output(&self, observed: &Observed) -> KeyRingRef {
        observed.reference.clone()
    }

    async fn create(&self, cx: &Context<'_>) -> Result<KeyRingRef, Error> {
        let now = unix_now();
        // An existing function's plaintext key: cursors it issued keep working.
        let ring = match function::legacy_token_key(cx).await? {
            Some(key) => KeyRing::from_legacy(key, now),
            None => KeyRing::generate(now),
        };
        let name = &cx.names.key_ring_secret;
        let created = cx
            .aws
            .secrets
            .create_secret()
            .name(name)
            .description(format!("Signing keys and server key of the messaging stack {}", cx.names.stack))
            .secret_string(ring.to_json())
            .tags(Tag::builder().key(TAG_KEY).value(cx.names.stack.as_str()).build())
            .send()
            .await
            .map_err(|e| Error::aws("secretsmanager:CreateSecret", name, e))?;
        Ok(KeyRingRef {
            arn: created.arn().unwrap_or_default().to_owned(),
            version: created.version_id().unwrap_or_default().to_owned(),
        })
    }

    async fn apply(&self, _cx: &Context<'_>, _observed: &Observed, _changes: &[NoChange]) -> Result<(), Error> {
        Ok(())
    }

    async fn delete(&self, cx: &Context<'_>, _observed: &Observed) -> Result<(), Error> {
        let name = &cx.names.key_ring_secret;
        // At once: a recovery window would keep the name taken, and a redeploy would fail on it.
        let deleted = cx.aws.secrets.delete_secret().secret_id(name).force_delete_without_recovery(true).send().await;
        absent_as_none(deleted, NOT_FOUND, "secretsmanager:DeleteSecret", name).map(drop)
    }

    /// The keys read the tables' cursors and sign their sessions' tokens: kept with the data.
    fn holds_data(&self) -> bool {
        true
    }
}

/// The ring as stored now.
pub async fn read(cx: &Context<'_>) -> Result<KeyRing, Error> {
    let name = &cx.names.key_ring_secret;
    let value = cx.aws.secrets.get_secret_value().secret_id(name).send().await;
    let value = value.map_err(|e| Error::aws("secretsmanager:GetSecretValue", name, e))?;
    KeyRing::parse(value.secret_string().unwrap_or_default()).map_err(|e| Error::Refused(format!("{name}: {e}")))
}

/// Stores `ring` as the secret's new current version; its version id.
pub async fn write(cx: &Context<'_>, ring: &KeyRing) -> Result<KeyRingRef, Error> {
    let name = &cx.names.key_ring_secret;
    let put = cx.aws.secrets.put_secret_value().secret_id(name).secret_string(ring.to_json()).send().await;
    let put = put.map_err(|e| Error::aws("secretsmanager:PutSecretValue", name, e))?;
    Ok(KeyRingRef {
        arn: put.arn().unwrap_or_default().to_owned(),
        version: put.version_id().unwrap_or_default().to_owned(),
    })
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
