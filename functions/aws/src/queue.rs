//! The events queue on SQS: ingest's SendMessageBatch (an event too large for SQS goes to the
//! events bucket and is queued as a claim check), the visibility changes that space out the
//! forwarder's retries, and the move of a spent event to the dead-letter queue.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, SendMessageBatchRequestEntry};
use futures::future::try_join_all;
use gateway_core::Error;
use gateway_core::meta::{ClaimCheck, Event, MAX_QUEUE_BODY_BYTES};
use gateway_core::ports::EventQueue;

use crate::events_bucket::EventsBucket;

/// SQS allows 10 entries and 256 KiB per batch; stay under the size with room for overhead.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 240 * 1024;
/// SQS caps a visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

#[derive(Clone, Debug)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    bucket: EventsBucket,
}

impl SqsEventQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        bucket: EventsBucket,
    ) -> Self {
        SqsEventQueue {
            client,
            queue_url: queue_url.into(),
            bucket,
        }
    }

    /// The event a received queue body stands for: read from the bucket for a claim check.
    pub async fn read(&self, body: &str) -> anyhow::Result<Event> {
        let body = match ClaimCheck::from_queue_body(body) {
            Some(check) => self.bucket.get(&check.claim_check).await?,
            None => body.to_owned(),
        };
        Ok(Event::from_queue_body(&body)?)
    }

    /// Sends one received queue body on (the DLQ move, a redrive); a claim check's stored body
    /// is copied to a fresh object first, so the bucket keeps it as long as this queue keeps
    /// the pointer.
    pub async fn send_on(&self, body: &str) -> Result<(), Error> {
        match ClaimCheck::from_queue_body(body) {
            Some(check) => {
                let renewed = check.renewed(crate::now_ms());
                self.bucket
                    .copy(&check.claim_check, &renewed.claim_check)
                    .await?;
                self.send_body(&renewed.to_queue_body()).await
            }
            None => self.send_body(body).await,
        }
    }

    /// Sends one queue body as it is.
    pub async fn send_body(&self, body: &str) -> Result<(), Error> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "SendMessage failed");
                Error::unavailable("queue")
            })?;
        Ok(())
    }

    /// The queue body for `event`: the event itself, or a claim check once its body is stored.
    async fn queue_body(&self, event: &Event) -> Result<String, Error> {
        let body = event.to_queue_body();
        if body.len() <= MAX_QUEUE_BODY_BYTES {
            return Ok(body);
        }
        let check = ClaimCheck::for_body(event, &body);
        self.bucket.put(&check.claim_check, body).await?;
        Ok(check.to_queue_body())
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Hides received messages, each for its delay (the retry schedule's next step), in one
    /// request per ten; answers how many SQS did not take.
    pub async fn delay_redeliveries(&self, delays: &[(&str, Duration)]) -> Result<usize, Error> {
        let mut refused = 0;
        for chunk in delays.chunks(MAX_BATCH_ENTRIES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (receipt, delay))| {
                    let secs = delay.as_secs_f64().round() as u64;
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .visibility_timeout(secs.min(MAX_VISIBILITY_SECS) as i32)
                        .build()
                        .map_err(|e| Error::Internal(e.into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("ChangeMessageVisibilityBatch")?;
            refused += out.failed.len();
        }
        Ok(refused)
    }

    async fn send_chunk(&self, chunk: Vec<(String, String)>) -> Result<(), Error> {
        let entries = chunk
            .into_iter()
            .enumerate()
            .map(|(i, (group, body))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_group_id(group)
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

/// The SQS fair-queue group of an event: its phone number, else its WABA, the closest thing
/// to its tenant that ingest knows. On a standard queue the group only tells SQS whose
/// backlog is whose, so one tenant's backlog does not hold up another's messages; order and
/// throughput stay a standard queue's.
fn fairness_group(event: &Event) -> String {
    let id = event.phone_number_id.as_deref().unwrap_or(&event.waba_id);
    // A group id is 1 to 128 printable ASCII characters; Meta's ids are digits.
    let valid = (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
    match valid {
        true => id.to_owned(),
        false => "other".to_owned(),
    }
}

/// Groups queue bodies into SQS batches: at most 10 entries and about 240 KiB each.
fn batches(bodies: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    let mut size = 0;
    for (id, body) in bodies {
        let fits = out
            .last()
            .is_some_and(|b| b.len() < MAX_BATCH_ENTRIES && size + body.len() <= MAX_BATCH_BYTES);
        if !fits {
            out.push(Vec::new());
            size = 0;
        }
        size += body.len();
        out.last_mut().expect("pushed above").push((id, body));
    }
    out
}

impl gateway_core::deliveries::Requeue for SqsEventQueue {
    /// As `send_on`, marked as the replay's own copy once a claim check is renewed (a
    /// renewed check is written afresh, without the members it does not know).
    async fn requeue(&self, queue_body: &str, mark: &str) -> Result<(), Error> {
        let body = match ClaimCheck::from_queue_body(queue_body) {
            Some(check) => {
                let renewed = check.renewed(crate::now_ms());
                self.bucket
                    .copy(&check.claim_check, &renewed.claim_check)
                    .await?;
                renewed.to_queue_body()
            }
            None => queue_body.to_owned(),
        };
        self.send_body(&gateway_core::deliveries::marked(&body, mark))
            .await
    }
}

impl EventQueue for SqsEventQueue {
    async fn enqueue(&self, events: &[Event]) -> Result<(), Error> {
        // Oversized bodies are stored first (rare), then one round of concurrent SQS calls
        // keeps ingest within Meta's latency standard.
        let bodies = try_join_all(
            events
                .iter()
                .map(|e| async { Ok::<_, Error>((fairness_group(e), self.queue_body(e).await?)) }),
        )
        .await?;
        try_join_all(
            batches(bodies)
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
    use gateway_core::meta::split::split_events;

    /// A Meta notification holding `items` as its messages.
    fn messages_body(items: &[String]) -> String {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","messages":[{}]}},"field":"messages"}}]}}]}}"#,
            items.join(",")
        )
    }

    fn bodies(events: &[Event]) -> Vec<(String, String)> {
        events
            .iter()
            .map(|e| (e.id.to_string(), e.to_queue_body()))
            .collect()
    }

    #[test]
    fn batches_hold_at_most_ten_entries() {
        let items: Vec<String> = (0..23)
            .map(|i| format!(r#"{{"from":"1","id":"wamid.{i}"}}"#))
            .collect();
        let events = split_events(messages_body(&items).as_bytes()).unwrap();
        let sizes: Vec<usize> = batches(bodies(&events)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
    }

    #[test]
    fn large_events_split_batches_by_size() {
        let text = "x".repeat(100 * 1024);
        let items: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"from":"1","id":"wamid.{i}","text":{{"body":"{text}"}}}}"#))
            .collect();
        let events = split_events(messages_body(&items).as_bytes()).unwrap();
        let sizes: Vec<usize> = batches(bodies(&events)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }
}

/// The forwarder's side of the events queue: reading what was received, moving a spent event
/// to the DLQ, spacing out retries.
#[derive(Clone, Debug)]
pub struct SqsBatch {
    pub queue: SqsEventQueue,
    pub dead_letters: SqsEventQueue,
}

impl gateway_core::forward::BatchQueue for SqsBatch {
    async fn read(&self, body: &str) -> anyhow::Result<Event> {
        self.queue.read(body).await
    }

    async fn dead_letter(&self, body: &str) -> Result<(), Error> {
        self.dead_letters.send_on(body).await
    }

    async fn delay_redeliveries(&self, delays: &[(&str, Duration)]) -> Result<usize, Error> {
        self.queue.delay_redeliveries(delays).await
    }
}
