//! The forward function: an SQS batch in, each event delivered to its tenant concurrently,
//! failures reported per item (ReportBatchItemFailures) with the retry delay applied as the
//! message's visibility, and events whose attempts are spent moved to the DLQ by the gateway
//! itself (all of it in `gateway_core::forward::batch`). The same `handle` serves Lambda and
//! the local stack's poller.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gateway_aws::Gateway;
use gateway_core::bundle::{Ports, PortsForwarder};
use gateway_core::forward::{ForwardPorts, Forwarder, QueueMessage};
use gateway_core::time::Clock;

pub struct ForwardApp<P: Ports> {
    forwarder: PortsForwarder<P>,
    queue: P::Batch,
    clock: P::Clock,
}

impl<P: Ports> ForwardApp<P> {
    /// Also posts each event to the tenant's live connections when `ports` can.
    pub fn new(ports: &P) -> anyhow::Result<Self> {
        let forwarder = Forwarder::new(
            ForwardPorts {
                idempotency: ports.idempotency(),
                tenants: ports.tenants(),
                messages: ports.messages(),
                sender: ports.sender()?,
                parking: ports.parking(),
                health: ports.health(),
            },
            ports.config().forward.clone(),
        );
        let forwarder = match ports.publish() {
            Some(publish) => forwarder.with_realtime(publish),
            None => forwarder,
        };
        Ok(ForwardApp {
            forwarder,
            queue: ports.batch(),
            clock: ports.clock(),
        })
    }
}

impl ForwardApp<Gateway> {
    pub fn from_gateway(gateway: &Gateway) -> anyhow::Result<Self> {
        ForwardApp::new(gateway)
    }
}

/// Forwards a batch; the response names the messages to deliver again.
pub async fn handle<P: Ports>(app: &ForwardApp<P>, batch: SqsEvent) -> SqsBatchResponse {
    handle_with_clock(app, batch, || app.clock.now_ms()).await
}

/// [`handle`] at unix time `now` (seconds), for tests that step through a retry schedule.
pub async fn handle_at<P: Ports>(
    app: &ForwardApp<P>,
    batch: SqsEvent,
    now: i64,
) -> SqsBatchResponse {
    handle_with_clock(app, batch, move || now * 1000).await
}

async fn handle_with_clock<P: Ports>(
    app: &ForwardApp<P>,
    batch: SqsEvent,
    clock: impl Fn() -> i64,
) -> SqsBatchResponse {
    let messages: Vec<QueueMessage> = batch
        .records
        .into_iter()
        .map(|m| QueueMessage {
            id: m.message_id.unwrap_or_default(),
            receipt: m.receipt_handle,
            body: m.body,
        })
        .collect();
    let again = app
        .forwarder
        .forward_batch(&app.queue, &messages, clock, rand::random::<f64>)
        .await;
    let mut response = SqsBatchResponse::default();
    for id in again {
        response.add_failure(id);
    }
    response
}

#[cfg(test)]
mod tests;
