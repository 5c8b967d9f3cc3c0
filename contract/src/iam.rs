//! The IAM actions the deployed function needs: the provisioner grants exactly these, and the
//! runtime's tests check that its store's code performs no request outside them.

/// Every request the DynamoDB store makes (`GetItem`, `PutItem`, `DeleteItem`, `UpdateItem`,
/// `Query`, `BatchGetItem`, `BatchWriteItem`: an erase's deletes) and every item action inside its `TransactWriteItems` (`Put`,
/// `Update`, `ConditionCheck`), which IAM authorises per item action rather than as a
/// `TransactWriteItems` action.
pub const DYNAMODB_ACTIONS: [&str; 8] = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

/// `PostToConnection` on the WebSocket API's stage, for push.
pub const PUSH_ACTION: &str = "execute-api:ManageConnections";

/// Reading the key ring at a cold start, from the stack's own secret.
pub const KEY_RING_ACTION: &str = "secretsmanager:GetSecretValue";
