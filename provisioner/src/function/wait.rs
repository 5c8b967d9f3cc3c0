//! Waiting for the function: Lambda creates and updates functions asynchronously, and refuses the
//! next change (and API Gateway would call an unready function) until the last one is done.

use std::time::Duration;

use aws_sdk_lambda::client::Waiters as _;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;

use crate::context::Context;
use crate::error::Error;

/// Image functions take longest.
const READY: Duration = Duration::from_secs(600);

/// What the function is waited for after.
#[derive(Clone, Copy)]
pub(super) enum After {
    Create,
    Update,
}

/// Until the function is `Active` (after its creation) or its last update `Successful`, by the
/// SDK's waiters: Lambda refuses the next change (and API Gateway would call an unready function)
/// before then.
pub(super) async fn wait_ready(cx: &Context<'_>, after: After) -> Result<(), Error> {
    let (lambda, name) = (&cx.aws.lambda, &cx.names.function);
    let waited = match after {
        After::Create => waited(lambda.wait_until_function_active_v2().function_name(name).wait(READY).await),
        After::Update => waited(lambda.wait_until_function_updated_v2().function_name(name).wait(READY).await),
    };
    match waited {
        Waited::Ready => Ok(()),
        Waited::TimedOut => Err(Error::NotReady(format!("function {name}"))),
        Waited::Failed => {
            let config = lambda.get_function_configuration().function_name(name).send().await;
            let config = config.map_err(|e| Error::aws("lambda:GetFunctionConfiguration", name, e))?;
            let reason = config.state_reason().or(config.last_update_status_reason()).unwrap_or("no reason given");
            Err(Error::Refused(format!("function {name} failed to become ready: {reason}")))
        }
        Waited::Error(error) => Err(Error::Refused(format!("waiting for function {name}: {error}"))),
    }
}

enum Waited {
    Ready,
    TimedOut,
    /// The resource reached a state it cannot leave by waiting.
    Failed,
    Error(String),
}

fn waited<T, O: std::fmt::Debug, E: std::error::Error + 'static>(result: Result<T, WaiterError<O, E>>) -> Waited {
    match result {
        Ok(_) => Waited::Ready,
        Err(WaiterError::ExceededMaxWait(_)) => Waited::TimedOut,
        Err(WaiterError::FailureState(_)) => Waited::Failed,
        Err(error) => Waited::Error(aws_sdk_lambda::error::DisplayErrorContext(error).to_string()),
    }
}
