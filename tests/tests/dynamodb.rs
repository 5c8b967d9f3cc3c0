//! Every suite against the DynamoDB store on the emulator (moto), plus the request budget.

use messaging_tests::Backend;

messaging_tests::store_conformance_tests!(Backend::dynamodb);
messaging_tests::api_tests!(Backend::dynamodb);
