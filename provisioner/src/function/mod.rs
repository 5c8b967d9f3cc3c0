//! The Lambda function: the image, x86_64, the environment the runtime's Lambda entry reads, and
//! logging configured for cost (JSON, platform lines at WARN, the stack's own log group).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_lambda::types::{
    ApplicationLogLevel, Architecture, Environment, FunctionCode, LogFormat, LoggingConfig, PackageType, State,
    SystemLogLevel,
};
use contract::env::{FunctionAuth, FunctionEnv, var};
use contract::token_key::TokenKey;

use crate::context::Context;
use crate::error::{Error, absent_as_none, code};
use crate::resource::{Observation, Resource};
use crate::secret::KeyRingRef;
use crate::stack::{TAG_KEY, is_ours};

mod wait;

use self::wait::{After, wait_ready};

pub const KIND: &str = "lambda function";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// How long a new role may take to become assumable by Lambda (IAM is eventually consistent;
/// AWS's own tools wait up to about a minute).
const ROLE_PROPAGATION: Duration = Duration::from_secs(90);

pub struct Observed {
    pub arn: String,
    package_type: Option<PackageType>,
    pub image_uri: Option<String>,
    role: Option<String>,
    memory_mb: Option<i32>,
    timeout_seconds: Option<i32>,
    architectures: Vec<Architecture>,
    pub environment: HashMap<String, String>,
    /// `None` where the service does not report it (see the README on moto).
    logging: Option<LoggingConfig>,
    reserved_concurrency: Option<i32>,
    /// `Inactive` after weeks without an invocation (Lambda reclaims its resources).
    state: Option<State>,
}

async fn observe_function(cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
    let name = &cx.names.function;
    let found = cx.aws.lambda.get_function().function_name(name).send().await;
    let Some(found) = absent_as_none(found, NOT_FOUND, "lambda:GetFunction", name)? else {
        return Ok(Observation::Absent);
    };
    let Some(config) = found.configuration() else { return Ok(Observation::Absent) };
    let arn = config.function_arn().unwrap_or_default();
    // `GetFunction` returns the tags only to a caller also allowed `lambda:ListTags` (API
    // reference, GetFunction → Tags): without them, ask for them, so that a caller without that
    // permission gets an error naming it instead of taking the stack's function for a foreign one.
    let tags = match found.tags() {
        Some(tags) => tags.clone(),
        None => {
            let listed = cx.aws.lambda.list_tags().resource(arn).send().await;
            listed.map_err(|e| Error::aws("lambda:ListTags", name, e))?.tags().cloned().unwrap_or_default()
        }
    };
    if !is_ours(&cx.names.stack, tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        return Ok(Observation::Foreign);
    }
    Ok(Observation::Ours(Observed {
        arn: config.function_arn().unwrap_or_default().to_owned(),
        package_type: config.package_type().cloned(),
        image_uri: found.code().and_then(|c| c.image_uri()).map(str::to_owned),
        role: config.role().map(str::to_owned),
        memory_mb: config.memory_size(),
        timeout_seconds: config.timeout(),
        architectures: config.architectures().to_vec(),
        environment: config.environment().and_then(|e| e.variables()).cloned().unwrap_or_default(),
        logging: config.logging_config().cloned(),
        reserved_concurrency: found.concurrency().and_then(|c| c.reserved_concurrent_executions()),
        state: config.state().cloned(),
    }))
}

pub fn logging_config(cx: &Context<'_>) -> LoggingConfig {
    LoggingConfig::builder()
        .log_format(LogFormat::Json)
        .application_log_level(ApplicationLogLevel::Info)
        .system_log_level(SystemLogLevel::Warn)
        .log_group(&cx.names.log_group)
        .build()
}

/// The environment the runtime's Lambda entry reads. Without `key_ring` (a status of a stack
/// whose secret is gone), the deployed function's own reference to it is taken as it is.
fn environment(
    cx: &Context<'_>,
    key_ring: Option<&KeyRingRef>,
    observed: Option<&Observed>,
) -> HashMap<String, String> {
    let deployed = |name: &str| observed.and_then(|o| o.environment.get(name)).cloned().unwrap_or_default();
    let s = cx.settings;
    FunctionEnv {
        entities_table: cx.names.entities_table.clone(),
        feeds_table: cx.names.feeds_table.clone(),
        feed_ttl_days: s.feed_ttl_days,
        key_ring_secret: key_ring.map_or_else(|| deployed(var::KEY_RING_SECRET), |k| k.arn.clone()),
        key_ring_version: key_ring.map_or_else(|| deployed(var::KEY_RING_VERSION), |k| k.version.clone()),
        auth: FunctionAuth {
            auth_mode: s.auth_mode.clone(),
            access_token_ttl_secs: s.access_token_ttl_secs,
            jwt_jwks_url: s.jwt_jwks_url.clone(),
            jwt_issuer: s.jwt_issuer.clone(),
            jwt_audience: s.jwt_audience.clone(),
            jwt_name_claim: s.jwt_name_claim.clone(),
        },
        push_endpoint: cx.push_endpoint(),
    }
    .to_vars()
}

/// Points the deployed function at another version of its key ring, changing nothing else.
pub async fn point_at_key_ring(cx: &Context<'_>, key_ring: &KeyRingRef) -> Result<(), Error> {
    let Observation::Ours(observed) = observe_function(cx).await? else {
        return Err(Error::Refused(format!("{} is not deployed: run deploy first", cx.names.function)));
    };
    let mut environment = observed.environment;
    environment.insert(var::KEY_RING_SECRET.to_owned(), key_ring.arn.clone());
    environment.insert(var::KEY_RING_VERSION.to_owned(), key_ring.version.clone());
    // The environment alone: the rest is deploy's, with the settings it was given.
    let name = &cx.names.function;
    let update = cx.aws.lambda.update_function_configuration().function_name(name);
    let update = update.environment(Environment::builder().set_variables(Some(environment)).build());
    update.send().await.map_err(|e| Error::aws("lambda:UpdateFunctionConfiguration", name, e))?;
    wait_ready(cx, After::Update).await
}

/// The plaintext token key of a function deployed before the key ring, if there is one: it
/// becomes the ring's first key, so the cursors it issued keep working.
pub async fn legacy_token_key(cx: &Context<'_>) -> Result<Option<TokenKey>, Error> {
    let Observation::Ours(observed) = observe_function(cx).await? else { return Ok(None) };
    Ok(observed.environment.get(var::TOKEN_KEY).and_then(|key| TokenKey::parse(key).ok()))
}

fn incompatible(cx: &Context<'_>, observed: &Observed) -> Option<String> {
    if observed.package_type != Some(PackageType::Image) {
        return Some("it is not an image function (Lambda cannot change a function's package type)".into());
    }
    (observed.architectures.iter().any(|a| *a != Architecture::X8664))
        .then(|| format!("its architecture is not x86_64 (the image is built for x86_64) in {}", cx.names.function))
}

/// The function, as deploy wants it: running `image_uri` (`None`: whatever it runs, for
/// `status` and `destroy`), reading the key ring `key_ring`.
pub struct Function<'a> {
    pub image_uri: Option<&'a str>,
    pub key_ring: Option<&'a KeyRingRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Image,
    Role,
    Memory(i32),
    Timeout(i32),
    Environment,
    Logging,
    /// Reserved concurrency to set, or none.
    Concurrency(Option<i32>),
    /// `Inactive`: the image deployed again, which has Lambda provision the function anew ("Lambda
    /// function states": an inactive function may need redeploying to return to `Active`).
    Inactive,
}

impl Change {
    /// Changed by `UpdateFunctionConfiguration`.
    fn is_configuration(self) -> bool {
        !matches!(self, Self::Image | Self::Concurrency(_) | Self::Inactive)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image => f.write_str("image"),
            Self::Role => f.write_str("role"),
            Self::Memory(mb) => write!(f, "memory {mb} MB"),
            Self::Timeout(seconds) => write!(f, "timeout {seconds} s"),
            Self::Environment => f.write_str("environment"),
            Self::Logging => f.write_str("logging"),
            Self::Concurrency(Some(n)) => write!(f, "reserved concurrency {n}"),
            Self::Concurrency(None) => f.write_str("no reserved concurrency"),
            Self::Inactive => f.write_str("inactive"),
        }
    }
}

/// Configuration differences; the image and the concurrency are compared apart.
fn config_drift(cx: &Context<'_>, observed: &Observed, key_ring: Option<&KeyRingRef>) -> Vec<Change> {
    let mut changes = Vec::new();
    let s = cx.settings;
    if observed.role.as_deref() != Some(cx.role_arn().as_str()) {
        changes.push(Change::Role);
    }
    if observed.memory_mb != Some(s.memory_mb) {
        changes.push(Change::Memory(s.memory_mb));
    }
    if observed.timeout_seconds != Some(s.timeout_seconds) {
        changes.push(Change::Timeout(s.timeout_seconds));
    }
    if observed.environment != environment(cx, key_ring, Some(observed)) {
        changes.push(Change::Environment);
    }
    if observed.logging.as_ref().is_some_and(|l| *l != logging_config(cx)) {
        changes.push(Change::Logging);
    }
    changes
}

impl Resource for Function<'_> {
    type Observed = Observed;
    type Change = Change;
    /// The image the function runs.
    type Output = Option<String>;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, cx: &Context<'_>) -> String {
        cx.names.function.clone()
    }

    fn id(&self, cx: &Context<'_>, observed: Option<&Observed>) -> String {
        observed.map_or_else(|| cx.function_arn(), |o| o.arn.clone())
    }

    fn deployed_id(&self, cx: &Context<'_>, _output: Option<&Option<String>>) -> String {
        cx.function_arn()
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        observe_function(cx).await
    }

    fn incompatible(&self, cx: &Context<'_>, observed: &Observed) -> Option<String> {
        incompatible(cx, observed)
    }

    fn drift(&self, cx: &Context<'_>, observed: &Observed) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.image_uri.is_some_and(|uri| observed.image_uri.as_deref() != Some(uri)) {
            changes.push(Change::Image);
        }
        changes.extend(config_drift(cx, observed, self.key_ring));
        if observed.reserved_concurrency != cx.settings.reserved_concurrency {
            changes.push(Change::Concurrency(cx.settings.reserved_concurrency));
        }
        if observed.state == Some(State::Inactive) {
            changes.push(Change::Inactive);
        }
        changes
    }

    fn output(&self, observed: &Observed) -> Option<String> {
        observed.image_uri.clone()
    }

    async fn create(&self, cx: &Context<'_>) -> Result<Option<String>, Error> {
        let image_uri = self.image_uri.ok_or_else(|| Error::Refused("no image to create the function with".into()))?;
        let key_ring = self.key_ring.ok_or_else(|| Error::Refused("no key ring to create the function with".into()))?;
        create(cx, image_uri, &environment(cx, Some(key_ring), None)).await?;
        wait_ready(cx, After::Create).await?;
        if cx.settings.reserved_concurrency.is_some() {
            set_concurrency(cx).await?;
        }
        Ok(Some(image_uri.to_owned()))
    }

    async fn apply(&self, cx: &Context<'_>, observed: &Observed, changes: &[Change]) -> Result<(), Error> {
        let name = &cx.names.function;
        let redeploy = changes.contains(&Change::Image) || changes.contains(&Change::Inactive);
        if let Some(image_uri) = self.image_uri.or(observed.image_uri.as_deref()).filter(|_| redeploy) {
            let update = cx.aws.lambda.update_function_code().function_name(name).image_uri(image_uri);
            update.send().await.map_err(|e| Error::aws("lambda:UpdateFunctionCode", name, e))?;
            wait_ready(cx, After::Update).await?;
        }
        if changes.iter().any(|c| c.is_configuration()) {
            update_configuration(cx, environment(cx, self.key_ring, Some(observed))).await?;
            wait_ready(cx, After::Update).await?;
        }
        if changes.iter().any(|c| matches!(c, Change::Concurrency(_))) {
            set_concurrency(cx).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Context<'_>, _observed: &Observed) -> Result<(), Error> {
        let name = &cx.names.function;
        let deleted = cx.aws.lambda.delete_function().function_name(name).send().await;
        absent_as_none(deleted, NOT_FOUND, "lambda:DeleteFunction", name).map(drop)
    }
}

/// The minimum of unreserved concurrency Lambda refused to go under, from its answer to
/// `PutFunctionConcurrency` ("Specified ReservedConcurrentExecutions for function decreases
/// account's UnreservedConcurrentExecution below its minimum value of [10]."; API reference,
/// PutFunctionConcurrency: the account keeps at least 100 unreserved, or all of a smaller quota).
fn concurrency_quota<R>(
    error: &aws_sdk_lambda::error::SdkError<
        aws_sdk_lambda::operation::put_function_concurrency::PutFunctionConcurrencyError,
        R,
    >,
) -> Option<u32> {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    let message = error.as_service_error()?.message()?;
    let minimum = message.split("minimum value of [").nth(1)?.split(']').next()?;
    message.contains("UnreservedConcurrentExecution").then_some(())?;
    minimum.parse().ok()
}

/// Creates the function, retrying while the new role is not yet assumable by Lambda.
async fn create(cx: &Context<'_>, image_uri: &str, environment: &HashMap<String, String>) -> Result<(), Error> {
    let name = &cx.names.function;
    let s = cx.settings;
    let deadline = std::time::Instant::now() + ROLE_PROPAGATION;
    loop {
        let created = cx
            .aws
            .lambda
            .create_function()
            .function_name(name)
            .description(format!("Messaging API of stack {}", cx.names.stack))
            .role(cx.role_arn())
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(image_uri).build())
            .architectures(Architecture::X8664)
            .memory_size(s.memory_mb)
            .timeout(s.timeout_seconds)
            .environment(Environment::builder().set_variables(Some(environment.clone())).build())
            .logging_config(logging_config(cx))
            .tags(TAG_KEY, cx.names.stack.as_str())
            .send()
            .await;
        match created {
            Ok(_) => return Ok(()),
            Err(error) if role_not_ready(&error) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(error) => return Err(Error::aws("lambda:CreateFunction", name, error)),
        }
    }
}

/// Lambda's answer while IAM has not propagated a new role: "The role defined for the function
/// cannot be assumed by Lambda."
fn role_not_ready<R>(
    error: &aws_sdk_lambda::error::SdkError<aws_sdk_lambda::operation::create_function::CreateFunctionError, R>,
) -> bool {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    code(error) == Some("InvalidParameterValueException")
        && error.as_service_error().and_then(|e| e.message()).is_some_and(|m| m.contains("cannot be assumed"))
}

async fn update_configuration(cx: &Context<'_>, environment: HashMap<String, String>) -> Result<(), Error> {
    let name = &cx.names.function;
    cx.aws
        .lambda
        .update_function_configuration()
        .function_name(name)
        .role(cx.role_arn())
        .memory_size(cx.settings.memory_mb)
        .timeout(cx.settings.timeout_seconds)
        .environment(Environment::builder().set_variables(Some(environment)).build())
        .logging_config(logging_config(cx))
        .send()
        .await
        .map_err(|e| Error::aws("lambda:UpdateFunctionConfiguration", name, e))?;
    Ok(())
}

async fn set_concurrency(cx: &Context<'_>) -> Result<(), Error> {
    let (lambda, name) = (&cx.aws.lambda, &cx.names.function);
    match cx.settings.reserved_concurrency {
        Some(n) => {
            let put = lambda.put_function_concurrency().function_name(name).reserved_concurrent_executions(n);
            put.send().await.map_err(|e| match concurrency_quota(&e) {
                Some(minimum) => Error::Refused(format!(
                    "reserved_concurrency {n} would leave this account under the {minimum} unreserved concurrent \
                     executions Lambda keeps for other functions (new accounts start with a quota of 10 in all): \
                     ask for a higher \"Concurrent executions\" quota in Service Quotas, or deploy without \
                     reserved_concurrency"
                )),
                None => Error::aws("lambda:PutFunctionConcurrency", name, e),
            })?;
        }
        None => {
            let delete = lambda.delete_function_concurrency().function_name(name);
            delete.send().await.map_err(|e| Error::aws("lambda:DeleteFunctionConcurrency", name, e))?;
        }
    }
    Ok(())
}
