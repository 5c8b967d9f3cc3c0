//! The AWS clients, built once from aws-config's standard chain (environment, profile, instance
//! role) and shared by every step; and the account they act in.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::config::ProvideCredentials;

use crate::cli::AwsOptions;
use crate::error::Error;

/// The regions a deployment may target without `--endpoint-url`: AWS's public, GovCloud and
/// China regions. A typo would otherwise only show up as an unreachable host name on the first
/// call. With `--endpoint-url` (an emulator) any region name is accepted.
const KNOWN_REGIONS: [&str; 40] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "ap-southeast-8",
];

pub struct Aws {
    pub region: String,
    pub ecr: aws_sdk_ecr::Client,
    pub iam: aws_sdk_iam::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigatewayv2::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub account: Account,
}

/// Who the calls act as: the account id and partition that every ARN is built from.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub partition: String,
}

impl Account {
    pub fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        format!("arn:{}:{service}:{region}:{}:{resource}", self.partition, self.id)
    }
}

impl Aws {
    /// Resolves region and credentials, checks both before anything else is called, and asks STS
    /// who we are (which also proves the credentials work).
    pub async fn connect(options: &AwsOptions) -> Result<Self, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &options.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or(Error::NoRegion)?;
        if options.endpoint_url.is_none() && !KNOWN_REGIONS.contains(&region.as_str()) {
            return Err(Error::UnknownRegion(region));
        }
        let provider = config.credentials_provider().ok_or_else(|| Error::Credentials("no provider".into()))?;
        provider.provide_credentials().await.map_err(|e| Error::Credentials(first_line(&e)))?;

        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| Error::aws("sts:GetCallerIdentity", "the caller", e))?;
        let arn = identity.arn().unwrap_or("arn:aws:");
        let account = Account {
            id: identity.account().unwrap_or_default().to_owned(),
            partition: arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_owned(),
        };
        Ok(Self {
            region,
            ecr: aws_sdk_ecr::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            apigateway: aws_sdk_apigatewayv2::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            account,
        })
    }

    pub fn arn(&self, service: &str, resource: &str) -> String {
        self.account.arn(service, &self.region, resource)
    }
}

/// An error's own sentence, without the chain of sources the SDK attaches.
fn first_line(error: &dyn std::error::Error) -> String {
    error.to_string().lines().next().unwrap_or("unknown error").to_owned()
}
