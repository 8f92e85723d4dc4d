//! One batch of queue messages through the forwarder, as the queue hands it over (an SQS event
//! on Lambda, the local stack's poller): every message forwarded concurrently, what each
//! outcome means for the queue ([`Outcome::queue_action`]), spent events moved to the
//! dead-letter queue by the gateway itself, and the retry delays set in one request.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::Semaphore;

use super::{Forwarder, Outcome};
use crate::Error;
use crate::deliveries::DeliveryLog;
use crate::endpoint_health::EndpointHealth;
use crate::mask;
use crate::meta::{ClaimCheck, Event};
use crate::metrics::{self, Metric};
use crate::ports::{
    IdempotencyStore, MessageStore, TenantDirectory, UnroutableStore, WebhookSender,
};

/// The queue a batch came from, as the forwarder needs it.
pub trait BatchQueue: Send + Sync {
    /// The event a received body stands for (a claim check is read from the events bucket).
    fn read(&self, body: &str) -> impl Future<Output = anyhow::Result<Event>> + Send;
    /// Moves a spent event's body to the dead-letter queue as it was queued.
    fn dead_letter(&self, body: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// Hides received messages (by receipt), each for its delay; answers how many the queue
    /// did not take.
    fn delay_redeliveries(
        &self,
        delays: &[(&str, Duration)],
    ) -> impl Future<Output = Result<usize, Error>> + Send;
}

/// One received message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub receipt: Option<String>,
    pub body: Option<String>,
}

/// What to tell the queue about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// Take it off the queue.
    Done,
    /// Leave it for redelivery, after `Some(delay)` or the queue's default visibility.
    Again(Option<Duration>),
    /// Its delivery attempts are spent: move it to the DLQ, then take it off the queue.
    DeadLetter,
}

impl Outcome {
    pub fn queue_action(&self) -> QueueAction {
        match self {
            Outcome::Delivered | Outcome::Duplicate | Outcome::Unroutable | Outcome::Filtered => {
                QueueAction::Done
            }
            Outcome::Retry { after } => QueueAction::Again(Some(*after)),
            Outcome::Exhausted => QueueAction::DeadLetter,
        }
    }
}

/// Events read back from the bucket (up to 3 MB, held several times over while formatted and
/// signed) delivered at once; the template gives the function the memory for this many.
pub const LARGE_AT_ONCE: usize = 5;

impl<I, T, M, W, P, H> Forwarder<I, T, M, W, P, H>
where
    I: IdempotencyStore + DeliveryLog,
    T: TenantDirectory,
    M: MessageStore,
    W: WebhookSender,
    P: UnroutableStore,
    H: EndpointHealth,
{
    /// Forwards a batch from `queue`; `clock` tells unix milliseconds, read for each message
    /// when its turn comes (a large event may wait for others), and `random` draws the jitter
    /// of each event. Answers the ids of the messages to deliver again.
    pub async fn forward_batch<Q: BatchQueue>(
        &self,
        queue: &Q,
        batch: &[QueueMessage],
        clock: impl Fn() -> i64,
        random: impl Fn() -> f64,
    ) -> Vec<String> {
        let large = Semaphore::new(LARGE_AT_ONCE);
        let actions = join_all(
            batch
                .iter()
                .map(|m| self.forward_message(queue, m, &large, &clock, random())),
        )
        .await;
        let mut again = Vec::new();
        let mut delays = Vec::new();
        for (message, action) in batch.iter().zip(actions) {
            let QueueAction::Again(delay) = action else {
                continue;
            };
            // Receives count towards the queue's maxReceiveCount only as a backstop (a poison
            // message, a long outage of a dependency); attempts are counted by the forwarder.
            if let (Some(delay), Some(receipt)) = (delay, message.receipt.as_deref()) {
                delays.push((receipt, delay));
            }
            again.push(message.id.clone());
        }
        // One request for the whole batch's delays: a dead endpoint's backlog costs a tenth.
        match queue.delay_redeliveries(&delays).await {
            Ok(0) => {}
            Ok(refused) => tracing::warn!(
                refused,
                "SQS refused some retry delays; the queue's default applies"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "could not set the retry delays; the queue's default applies"
            ),
        }
        again
    }

    async fn forward_message<Q: BatchQueue>(
        &self,
        queue: &Q,
        message: &QueueMessage,
        large: &Semaphore,
        clock: &impl Fn() -> i64,
        random: f64,
    ) -> QueueAction {
        let Some(body) = message.body.as_deref() else {
            tracing::error!(message_id = %message.id, "queue message without body");
            return QueueAction::Again(None);
        };
        let _permit = match ClaimCheck::from_queue_body(body) {
            Some(_) => large.acquire().await.ok(),
            None => None,
        };
        let event = match queue.read(body).await {
            Ok(e) => e,
            Err(e) => {
                // Left to the redrive policy: it ends in the DLQ for a person to look at.
                tracing::error!(message_id = %message.id, error = %e, "unreadable queue message");
                return QueueAction::Again(None);
            }
        };
        let action = match self.forward_ms(&event, Some(body), clock(), random).await {
            Ok(outcome) => outcome.queue_action(),
            Err(e) => {
                tracing::error!(event_ref = %mask::reference(event.id.as_str()), error = %e, "forward failed; left for redelivery");
                QueueAction::Again(None)
            }
        };
        if action != QueueAction::DeadLetter {
            return action;
        }
        // On failure it stays on the queue, offered again after the default visibility.
        match queue.dead_letter(body).await {
            Ok(()) => {
                metrics::count(Metric::DeadLettered, 1, "forward");
                QueueAction::Done
            }
            Err(e) => {
                tracing::error!(error = %e, "could not move a spent event to the DLQ; left on the queue");
                QueueAction::Again(None)
            }
        }
    }
}
