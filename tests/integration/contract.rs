//! The port contracts of `gateway_core::memory::contract`, run against the AWS adapters on the
//! emulator over the real AWS protocol (DynamoDB, SQS and S3): the same steps core's unit tests run against the memory
//! fakes, so a fake that passes behaves as its adapter does.

use gateway_aws::dynamo::{DynamoIdempotency, DynamoMessages, DynamoTenants};
use gateway_aws::events_bucket::EventsBucket;
use gateway_aws::queue::{SqsBatch, SqsEventQueue};
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
    contract::expiring_owners(&tenants, "").await;
    let messages = DynamoMessages::new(clients.dynamodb.clone(), &r.messages_table);
    contract::forward_only_statuses(&messages, "").await;
}

/// Every body `url` holds, once each `want` have arrived (the emulator may hand them over a
/// few at a time); none is deleted, and each stays hidden while the test runs.
async fn bodies(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("received");
        out.extend(
            received
                .messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
        if out.len() >= want {
            break;
        }
    }
    out
}

#[tokio::test]
async fn the_sqs_queues_and_the_s3_bucket_keep_the_contract() {
    let (clients, r) = provisioned("contract-queue").await;
    let bucket = EventsBucket::new(clients.s3.clone(), &r.events_bucket);
    let queue = SqsEventQueue::new(clients.sqs.clone(), &r.events_queue_url, bucket.clone());
    let batch = SqsBatch {
        queue: SqsEventQueue::new(clients.sqs.clone(), &r.events_queue_url, bucket.clone()),
        dead_letters: SqsEventQueue::new(clients.sqs.clone(), &r.dead_letter_queue_url, bucket),
    };
    contract::queue::round_trip(
        &queue,
        &batch,
        async || bodies(&clients.sqs, &r.events_queue_url, 2).await,
        async || bodies(&clients.sqs, &r.dead_letter_queue_url, 2).await,
        "",
    )
    .await;
}
