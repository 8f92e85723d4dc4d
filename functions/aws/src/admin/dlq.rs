//! The dead-letter queue and parked unroutable events: list them, and put them back on the
//! events queue.

use anyhow::Context;

/// One message waiting in the dead-letter queue.
#[derive(Debug, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub event_id: Option<String>,
    /// The reference under which the gateway's logs name this event.
    pub event_ref: Option<String>,
    /// Meta's change field (`messages`, `message_template_status_update`, ...).
    pub field: Option<String>,
    pub receive_count: Option<String>,
}

/// Up to `max` messages of the DLQ, left in place.
pub async fn dlq_list(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    max: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    let mut seen = std::collections::BTreeMap::new();
    let mut empty = 0;
    while seen.len() < max && empty < 2 {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            // Seen, not taken: each stays hidden briefly so one listing shows it once.
            .visibility_timeout(5)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("reading the dead-letter queue")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for m in messages {
            let body = m.body().unwrap_or_default();
            // A claim check names its event's id and field; the body stays in the bucket.
            let event = match gateway_core::meta::ClaimCheck::from_queue_body(body) {
                Some(check) => Some((check.id, check.field)),
                None => gateway_core::meta::Event::from_queue_body(body)
                    .ok()
                    .map(|e| (e.id, e.field)),
            };
            let id = m.message_id().unwrap_or_default().to_owned();
            seen.entry(id.clone()).or_insert(DeadLetter {
                message_id: id,
                event_id: event.as_ref().map(|(id, _)| id.to_string()),
                event_ref: event
                    .as_ref()
                    .map(|(id, _)| gateway_core::mask::reference(id.as_str())),
                field: event.as_ref().map(|(_, field)| field.clone()),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned(),
            });
        }
    }
    Ok(seen.into_values().take(max).collect())
}

/// Moves every message of the DLQ back to the events queue (sent first, then deleted, so a
/// failure halfway duplicates at worst and never loses). Returns how many moved.
pub async fn dlq_redrive(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    queue: &crate::queue::SqsEventQueue,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    let mut empty = 0;
    while empty < 2 {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .context("reading the dead-letter queue")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        for m in messages {
            // A claim check's body is copied to a fresh object, so it outlives the new pointer.
            queue
                .send_on(m.body().unwrap_or_default())
                .await
                .context("sending back to the events queue")?;
            sqs.delete_message()
                .queue_url(dlq_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .context("deleting from the dead-letter queue")?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// One parked unroutable event.
#[derive(Debug, serde::Serialize)]
pub struct Parked {
    pub key: String,
    pub event_id: Option<String>,
    pub event_ref: Option<String>,
    pub field: Option<String>,
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
}

/// Which parked events to take: all, or those of one phone number or one WABA.
#[derive(Debug, Clone, Default)]
pub struct ParkedFilter {
    pub phone: Option<String>,
    pub waba: Option<String>,
}

impl ParkedFilter {
    fn keeps(&self, event: &gateway_core::meta::Event) -> bool {
        self.phone
            .as_deref()
            .is_none_or(|p| event.phone_number_id.as_deref() == Some(p))
            && self.waba.as_deref().is_none_or(|w| event.waba_id == w)
    }
}

/// The parked events the filter keeps, with their stored bodies.
async fn parked(
    bucket: &crate::events_bucket::EventsBucket,
    filter: &ParkedFilter,
) -> anyhow::Result<Vec<(Parked, String)>> {
    let mut out = Vec::new();
    for key in bucket.list(crate::events_bucket::UNROUTABLE_PREFIX).await? {
        let body = bucket.get(&key).await?;
        let event = gateway_core::meta::Event::from_queue_body(&body).ok();
        if event.as_ref().is_some_and(|e| !filter.keeps(e))
            || (event.is_none() && (filter.phone.is_some() || filter.waba.is_some()))
        {
            continue;
        }
        out.push((
            Parked {
                key,
                event_id: event.as_ref().map(|e| e.id.to_string()),
                event_ref: event
                    .as_ref()
                    .map(|e| gateway_core::mask::reference(e.id.as_str())),
                field: event.as_ref().map(|e| e.field.clone()),
                waba_id: event.as_ref().map(|e| e.waba_id.to_string()),
                phone_number_id: event
                    .as_ref()
                    .and_then(|e| e.phone_number_id.as_deref().map(str::to_owned)),
            },
            body,
        ));
    }
    Ok(out)
}

pub async fn unroutable_list(
    bucket: &crate::events_bucket::EventsBucket,
    filter: &ParkedFilter,
) -> anyhow::Result<Vec<Parked>> {
    Ok(parked(bucket, filter)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

/// Queues the parked events the filter keeps again (queued first, then deleted: a failure
/// halfway duplicates at worst, and the forwarder's dedupe absorbs that). Returns how many.
pub async fn unroutable_replay(
    bucket: &crate::events_bucket::EventsBucket,
    queue: &crate::queue::SqsEventQueue,
    filter: &ParkedFilter,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    for (entry, body) in parked(bucket, filter).await? {
        let event = gateway_core::meta::Event::from_queue_body(&body)
            .with_context(|| format!("{} is not a parked event", entry.key))?;
        gateway_core::ports::EventQueue::enqueue(queue, std::slice::from_ref(&event))
            .await
            .context("queueing a parked event")?;
        bucket.delete(&entry.key).await?;
        moved += 1;
    }
    Ok(moved)
}
