//! The provisioner's one error type: each variant is one clear sentence for the operator, never a
//! debug dump of an SDK error.

use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error(
        "no AWS credentials found: {0}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --profile \
         for a profile in ~/.aws, or run where an instance role provides them"
    )]
    Credentials(String),
    #[error("unknown region '{0}': pass --region (or set AWS_REGION) to an AWS region such as us-east-1")]
    UnknownRegion(String),
    #[error("no region: pass --region, set AWS_REGION, or set one in the AWS profile")]
    NoRegion,
    #[error(
        "access denied: {operation} on {resource}: {message} (the deploying identity needs the policy in the README)"
    )]
    AccessDenied { operation: &'static str, resource: String, message: String },
    #[error("cannot reach AWS for {operation} on {resource}: {detail}")]
    Unreachable { operation: &'static str, resource: String, detail: String },
    #[error("{operation} on {resource} failed: {code}: {message}")]
    Aws { operation: &'static str, resource: String, code: String, message: String },
    #[error(
        "{kind} '{name}' exists but is not part of stack '{stack}' (it has no tag messaging:stack={stack}); \
         choose another --stack, or remove or tag that resource yourself"
    )]
    Foreign { kind: &'static str, name: String, stack: String },
    #[error("{kind} '{name}' cannot be updated in place: {why}")]
    Incompatible { kind: &'static str, name: String, why: String },
    #[error("building the image: {0}")]
    Image(String),
    #[error("{0} did not become ready in time")]
    NotReady(String),
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// Turns an SDK error into a sentence: access problems and unreachable endpoints get their
    /// own variants because the operator fixes them differently.
    pub fn aws<E>(operation: &'static str, resource: impl Into<String>, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let resource = resource.into();
        if matches!(error, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
            return Self::Unreachable { operation, resource, detail: DisplayErrorContext(&error).to_string() };
        }
        let (code, message) = match (error.code(), error.raw_response()) {
            (Some(code), _) => (code.to_owned(), error.message().unwrap_or_default().to_owned()),
            // An error document in a shape the SDK did not expect (an emulator's, a proxy's): its
            // code and message if it has them, else the status and first line.
            (None, Some(raw)) => {
                let body = raw.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
                match (between(&body, "<Code>", "</Code>"), between(&body, "<Message>", "</Message>")) {
                    (Some(code), message) => (code.to_owned(), message.unwrap_or_default().to_owned()),
                    (None, _) => {
                        let line = body.lines().next().unwrap_or_default().chars().take(200).collect();
                        (format!("HTTP {}", raw.status().as_u16()), line)
                    }
                }
            }
            (None, None) => ("error".to_owned(), DisplayErrorContext(&error).to_string()),
        };
        if is_access_denied(&code) {
            Self::AccessDenied { operation, resource, message: format!("{code}: {message}") }
        } else {
            Self::Aws { operation, resource, code, message }
        }
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    Some(&text[from..from + text[from..].find(end)?])
}

fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException"
    )
}

/// The error code of a failed call, for telling "not found" apart from real failures.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// `Ok(None)` when the call failed with one of the `absent` codes: the resource is not there.
pub fn absent_as_none<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    absent: &[&str],
    operation: &'static str,
    resource: &str,
) -> Result<Option<T>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if code(&error).is_some_and(|c| absent.contains(&c)) => Ok(None),
        Err(error) => Err(Error::aws(operation, resource, error)),
    }
}
