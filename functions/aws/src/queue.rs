//! The events queue on SQS: ingest's SendMessageBatch, and the visibility changes that space
//! out the forwarder's retries.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::future::try_join_all;
use gateway_core::Error;
use gateway_core::event::Event;
use gateway_core::ports::EventQueue;

/// SQS allows 10 entries and 256 KiB per batch; stay under the size with room for overhead.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 240 * 1024;
/// SQS refuses a message over 256 KiB.
const MAX_MESSAGE_BYTES: usize = 250 * 1024;
/// SQS caps a visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

#[derive(Clone, Debug)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsEventQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Hides a received message for `delay` (the retry schedule's next step).
    pub async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), Error> {
        let secs = delay.as_secs_f64().round() as u64;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs.min(MAX_VISIBILITY_SECS) as i32)
            .send()
            .await
            .context("ChangeMessageVisibility")?;
        Ok(())
    }

    async fn send_chunk(&self, chunk: Vec<(String, String)>) -> Result<(), Error> {
        let entries = chunk
            .into_iter()
            .enumerate()
            .map(|(i, (_, body))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| Error::Internal(e.into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "SendMessageBatch failed");
                Error::unavailable("events queue")
            })?;
        if !out.failed.is_empty() {
            let codes: Vec<&str> = out.failed.iter().map(|f| f.code.as_str()).collect();
            tracing::error!(
                failed = out.failed.len(),
                ?codes,
                "SendMessageBatch refused entries"
            );
            return Err(Error::unavailable("events queue refused entries"));
        }
        Ok(())
    }
}

/// Groups queue bodies into SQS batches: at most 10 entries and about 240 KiB each.
fn batches(events: &[Event]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    let mut size = 0;
    for event in events {
        let body = event.to_queue_body_within(MAX_MESSAGE_BYTES);
        let fits = out
            .last()
            .is_some_and(|b| b.len() < MAX_BATCH_ENTRIES && size + body.len() <= MAX_BATCH_BYTES);
        if !fits {
            out.push(Vec::new());
            size = 0;
        }
        size += body.len();
        out.last_mut()
            .expect("pushed above")
            .push((event.id.to_string(), body));
    }
    out
}

impl EventQueue for SqsEventQueue {
    async fn enqueue(&self, events: &[Event]) -> Result<(), Error> {
        // One round of concurrent calls keeps ingest within Meta's latency standard.
        try_join_all(
            batches(events)
                .into_iter()
                .map(|chunk| self.send_chunk(chunk)),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::event::split_events;

    /// A Meta notification holding `items` as its messages.
    fn messages_body(items: &[String]) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","messages":[{}]}},"field":"messages"}}]}}]}}"#,
            items.join(",")
        )
    }

    #[test]
    fn batches_hold_at_most_ten_entries() {
        let items: Vec<String> = (0..23)
            .map(|i| format!(r#"{{"from":"1","id":"wamid.{i}"}}"#))
            .collect();
        let events = split_events(messages_body(&items).as_bytes()).unwrap();
        let sizes: Vec<usize> = batches(&events).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
    }

    #[test]
    fn a_single_event_too_large_for_sqs_is_queued_without_its_original_body() {
        let padding = " ".repeat(300 * 1024);
        let body = format!(
            r#"{{"object":"whatsapp_business_account",{padding}"entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","messages":[{{"from":"1","id":"wamid.big"}}]}},"field":"messages"}}]}}]}}"#
        );
        let events = split_events(body.as_bytes()).unwrap();
        assert!(events[0].original_body.is_some());
        let queued = &batches(&events)[0][0].1;
        assert!(queued.len() < MAX_MESSAGE_BYTES);
        let back = gateway_core::event::Event::from_queue_body(queued).unwrap();
        assert!(back.original_body.is_none());
        assert_eq!(back.item.get(), r#"{"from":"1","id":"wamid.big"}"#);
    }

    #[test]
    fn large_events_split_batches_by_size() {
        let text = "x".repeat(100 * 1024);
        let items: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"from":"1","id":"wamid.{i}","text":{{"body":"{text}"}}}}"#))
            .collect();
        let events = split_events(messages_body(&items).as_bytes()).unwrap();
        let sizes: Vec<usize> = batches(&events).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }
}
