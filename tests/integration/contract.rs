//! The port contracts of `gateway_core::memory::contract`, run against the AWS adapters on the
//! emulator over the real AWS protocol: the same steps core's unit tests run against the memory
//! fakes, so a fake that passes behaves as its adapter does.

use gateway_aws::dynamo::{DynamoIdempotency, DynamoMessages, DynamoTenants};
use gateway_core::memory::contract;
use gateway_tests::provisioned;

#[tokio::test]
async fn the_dynamodb_idempotency_store_keeps_the_contract() {
    let (clients, r) = provisioned("contract-idem").await;
    let store = DynamoIdempotency::new(clients.dynamodb.clone(), &r.idempotency_table);
    contract::exclusive_claims(&store, "").await;
    contract::counted_attempts(&store, "").await;
    contract::retry_times(&store, "").await;
    contract::lapsed_claims(&store, "").await;
}

#[tokio::test]
async fn the_dynamodb_tenants_and_messages_keep_the_contract() {
    let (clients, r) = provisioned("contract-tables").await;
    let tenants = DynamoTenants::new(clients.dynamodb.clone(), &r.tenants_table);
    contract::one_owner(&tenants, "").await;
    let messages = DynamoMessages::new(clients.dynamodb.clone(), &r.messages_table);
    contract::forward_only_statuses(&messages, "").await;
}
