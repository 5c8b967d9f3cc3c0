//! `PostToConnection` and `DeleteConnection` on the WebSocket API's management endpoint: one
//! client, built at start-up.

use std::time::Duration;

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::domain::ConnectionId;

/// How one post can fail.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// API Gateway no longer has the connection (410): forget it.
    #[error("the connection is gone")]
    Gone,
    /// Anything else (throttling, a timeout, a frame too large): this frame is lost for this
    /// connection, which notices from the next frame's `after` and polls.
    #[error("{0}")]
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Gateway {
    client: Client,
}

impl Gateway {
    /// A client for the stage's management endpoint, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`
    /// on AWS. A post is retried once and each attempt bounded by `attempt_timeout`, so a push
    /// never holds a send for long.
    pub async fn new(endpoint: &str, attempt_timeout: Duration) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(attempt_timeout)
                    .operation_attempt_timeout(attempt_timeout)
                    .build(),
            )
            .load()
            .await;
        Self { client: Client::new(&config) }
    }

    pub async fn post(&self, connection: &ConnectionId, frame: Vec<u8>) -> Result<(), PostError> {
        let request = self.client.post_to_connection().connection_id(connection.as_str()).data(Blob::new(frame));
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) if is_gone(&error) => Err(PostError::Gone),
            Err(error) => Err(PostError::Failed(DisplayErrorContext(error).to_string())),
        }
    }
}

impl Gateway {
    /// Closes a connection (its user signed out or was erased). One that is gone already is
    /// closed too.
    pub async fn delete(&self, connection: &ConnectionId) -> Result<(), PostError> {
        match self.client.delete_connection().connection_id(connection.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(error) if matches!(error.as_service_error(), Some(DeleteConnectionError::GoneException(_))) => Ok(()),
            Err(error) => Err(PostError::Failed(DisplayErrorContext(error).to_string())),
        }
    }
}

fn is_gone<R>(error: &SdkError<PostToConnectionError, R>) -> bool
where
    R: std::fmt::Debug,
{
    matches!(error.as_service_error(), Some(PostToConnectionError::GoneException(_)))
}
