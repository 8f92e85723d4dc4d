//! Lambda's SQS event source mapping, played locally: receive batches of up to 10, hand them to
//! the forward handler, delete what succeeded and leave the reported failures for redelivery
//! (the handler has already set their visibility).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use gateway_aws::Gateway;
use gateway_forward::{ForwardApp, handle};

use crate::realtime::LocalPoster;

/// The forward app as the local stack builds it.
pub type LocalForward = ForwardApp<Gateway<LocalPoster>>;

pub async fn run(sqs: aws_sdk_sqs::Client, queue_url: String, app: Arc<LocalForward>) {
    loop {
        if let Err(e) = poll_once(&sqs, &queue_url, &app).await {
            tracing::warn!(error = %e, "event source poll failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One receive-forward-delete round; returns how many messages were received.
pub async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    app: &LocalForward,
) -> anyhow::Result<usize> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ReceiveMessage: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.event_source = Some("aws:sqs".to_owned());
            record
        })
        .collect();
    let response = handle(app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(&m.message_id.as_deref().unwrap_or_default()))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "DeleteMessageBatch: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(messages.len())
}
