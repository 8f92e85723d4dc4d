//! The forward function: an SQS batch in, each event delivered to its tenant concurrently,
//! failures reported per item (ReportBatchItemFailures) with the retry delay applied as the
//! message's visibility, and events whose attempts are spent moved to the DLQ by the gateway
//! itself. The same `handle` serves Lambda and the local stack's poller.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use gateway_aws::blob::EventsBucket;
use gateway_aws::dynamo::{
    DynamoConnections, DynamoHealth, DynamoIdempotency, DynamoMessages, DynamoTenants,
};
use gateway_aws::queue::SqsEventQueue;
use gateway_aws::realtime::Bounded;
use gateway_aws::webhook_client::HttpWebhookSender;
use gateway_aws::{Clients, Settings};
use gateway_core::cache::CachedTenants;
use gateway_core::event::ClaimCheck;
use gateway_core::forward::{ForwardConfig, ForwardPorts, Forwarder, Outcome};
use gateway_core::metrics::{self, Metric};
use gateway_core::realtime::{Fanout, Poster, Publish};

/// One connections-table call of the real-time side gives up after this long.
const QUICK_TABLE_CALL: Duration = Duration::from_secs(1);
use gateway_core::retry::RetrySchedule;

pub type AwsForwarder = Forwarder<
    DynamoIdempotency,
    CachedTenants<DynamoTenants>,
    DynamoMessages,
    HttpWebhookSender,
    EventsBucket,
    DynamoHealth,
>;

pub struct ForwardApp {
    forwarder: AwsForwarder,
    queue: SqsEventQueue,
    dead_letters: SqsEventQueue,
}

impl ForwardApp {
    /// Also posts each event to the tenant's live WebSocket connections through `poster`.
    pub fn with_realtime<P: Poster + 'static>(
        mut self,
        clients: &Clients,
        settings: &Settings,
        poster: P,
    ) -> Self {
        // Bounded twice: each table call and the whole of one event's posts.
        let quick = gateway_aws::realtime::quick_dynamodb(&clients.dynamodb, QUICK_TABLE_CALL);
        let connections = DynamoConnections::new(quick, &settings.connections_table);
        let fanout: std::sync::Arc<dyn Publish> = std::sync::Arc::new(Bounded::new(
            Fanout::new(connections, poster),
            gateway_aws::realtime::PUBLISH_BUDGET,
        ));
        self.forwarder = self.forwarder.with_realtime(fanout);
        self
    }

    pub fn from_settings(clients: &Clients, settings: &Settings) -> anyhow::Result<Self> {
        let sender = HttpWebhookSender::new(settings.webhook_timeout, settings.target_policy)?;
        let bucket = EventsBucket::new(clients.s3.clone(), &settings.events_bucket);
        let config = ForwardConfig {
            schedule: RetrySchedule::scaled(settings.retry_scale),
            // A claim outlives one delivery attempt (HTTP timeout) with room to spare.
            in_progress_for: settings.webhook_timeout * 3,
            payload_retention: settings.event_retention,
            breaker: settings.breaker,
            ..ForwardConfig::default()
        };
        let ports = ForwardPorts {
            idempotency: DynamoIdempotency::new(
                clients.dynamodb.clone(),
                &settings.idempotency_table,
            ),
            tenants: CachedTenants::new(
                DynamoTenants::new(clients.dynamodb.clone(), &settings.tenants_table),
                settings.tenant_cache,
            ),
            messages: DynamoMessages::new(clients.dynamodb.clone(), &settings.messages_table),
            sender,
            parking: bucket.clone(),
            health: DynamoHealth::new(clients.dynamodb.clone(), &settings.tenants_table),
        };
        Ok(ForwardApp {
            forwarder: Forwarder::new(ports, config),
            queue: SqsEventQueue::new(
                clients.sqs.clone(),
                &settings.events_queue_url,
                bucket.clone(),
            ),
            dead_letters: SqsEventQueue::new(
                clients.sqs.clone(),
                &settings.dead_letter_queue_url,
                bucket,
            ),
        })
    }
}

/// What to tell the queue about one message.
enum Verdict {
    Done,
    /// Leave it for redelivery, after `Some(delay)` or the queue's default visibility.
    Again(Option<Duration>),
    /// Its delivery attempts are spent: move it to the DLQ, then take it off the queue.
    DeadLetter,
}

/// Events read back from the bucket (up to 3 MB, held several times over while formatted and
/// signed) delivered at once; the template gives the function the memory for this many.
const LARGE_AT_ONCE: usize = 5;

async fn forward_one(
    app: &ForwardApp,
    message: &SqsMessage,
    large: &tokio::sync::Semaphore,
) -> Verdict {
    let is_large = message
        .body
        .as_deref()
        .is_some_and(|b| ClaimCheck::from_queue_body(b).is_some());
    let _permit = match is_large {
        true => Some(
            large
                .acquire()
                .await
                .expect("the semaphore is never closed"),
        ),
        false => None,
    };
    match attempt(app, message).await {
        Verdict::DeadLetter => dead_letter(app, message).await,
        verdict => verdict,
    }
}

async fn attempt(app: &ForwardApp, message: &SqsMessage) -> Verdict {
    let Some(body) = message.body.as_deref() else {
        tracing::error!(message_id = ?message.message_id, "queue message without body");
        return Verdict::Again(None);
    };
    let event = match app.queue.read(body).await {
        Ok(e) => e,
        Err(e) => {
            // Left to the redrive policy: it ends in the DLQ for a person to look at.
            tracing::error!(message_id = ?message.message_id, error = %e, "unreadable queue message");
            return Verdict::Again(None);
        }
    };
    match app
        .forwarder
        .forward(
            &event,
            Some(body),
            gateway_aws::now(),
            rand::random::<f64>(),
        )
        .await
    {
        Ok(Outcome::Delivered | Outcome::Duplicate | Outcome::Unroutable | Outcome::Filtered) => {
            Verdict::Done
        }
        Ok(Outcome::Retry { after }) => Verdict::Again(Some(after)),
        Ok(Outcome::Exhausted) => Verdict::DeadLetter,
        Err(e) => {
            tracing::error!(event_ref = %gateway_core::mask::reference(event.id.as_str()), error = %e, "forward failed; left for redelivery");
            Verdict::Again(None)
        }
    }
}

/// Moves a spent event to the DLQ as it was queued (a claim check stays one); on failure it
/// stays on the queue, offered again after the default visibility.
async fn dead_letter(app: &ForwardApp, message: &SqsMessage) -> Verdict {
    let body = message.body.as_deref().unwrap_or_default();
    match app.dead_letters.send_on(body).await {
        Ok(()) => {
            metrics::count(Metric::DeadLettered, 1, "forward");
            Verdict::Done
        }
        Err(e) => {
            tracing::error!(error = %e, "could not move a spent event to the DLQ; left on the queue");
            Verdict::Again(None)
        }
    }
}

/// Forwards a batch; the response names the messages to deliver again.
pub async fn handle(app: &ForwardApp, batch: SqsEvent) -> SqsBatchResponse {
    let large = tokio::sync::Semaphore::new(LARGE_AT_ONCE);
    let verdicts = join_all(batch.records.iter().map(|m| forward_one(app, m, &large))).await;
    let mut response = SqsBatchResponse::default();
    let mut delays = Vec::new();
    for (message, verdict) in batch.records.iter().zip(verdicts) {
        let Verdict::Again(delay) = verdict else {
            continue;
        };
        // Receives count towards the queue's maxReceiveCount only as a backstop (a poison
        // message, a long outage of a dependency); attempts are counted by the forwarder.
        if let (Some(delay), Some(receipt)) = (delay, message.receipt_handle.as_deref()) {
            delays.push((receipt, delay));
        }
        response.add_failure(message.message_id.clone().unwrap_or_default());
    }
    // One request for the whole batch's delays: a dead endpoint's backlog costs a tenth.
    match app.queue.delay_redeliveries(&delays).await {
        Ok(0) => {}
        Ok(refused) => {
            tracing::warn!(
                refused,
                "SQS refused some retry delays; the queue's default applies"
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not set the retry delays; the queue's default applies")
        }
    }
    response
}
