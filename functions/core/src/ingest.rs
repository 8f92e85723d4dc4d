//! Meta's side: subscription verification and ingest (verify, split, queue; only then 200).

use crate::Error;
use crate::meta::MAX_WEBHOOK_BYTES;
use crate::meta::split::split;
use crate::metrics::{self, Metric};
use crate::ports::EventQueue;
use crate::signature::{Secret, SignatureError, constant_time_eq, verify_hub_signature};

/// Answers Meta's `GET /webhook` subscription check: the challenge, or `Forbidden`.
pub fn verify_subscription(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &Secret,
) -> Result<String, Error> {
    let token_ok = token.is_some_and(|t| constant_time_eq(t, expected_token.expose()));
    match (mode, challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => Ok(challenge.to_owned()),
        _ => Err(Error::Forbidden("verification failed")),
    }
}

/// What one accepted POST held, for the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub events: usize,
    /// Parts queued whole because they could not be split as Meta documents them.
    pub malformed: usize,
    pub phone_number_id: Option<String>,
}

pub struct Ingest<Q> {
    queue: Q,
    app_secrets: Vec<Secret>,
}

impl<Q: EventQueue> Ingest<Q> {
    pub fn new(queue: Q, app_secrets: Vec<Secret>) -> Self {
        Ingest { queue, app_secrets }
    }

    /// Verifies `body` against `signature`, splits it and queues every event. `Ok` means every
    /// event is durably queued; any error means Meta must not get a 200.
    pub async fn ingest(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<IngestReport, Error> {
        if body.len() > MAX_WEBHOOK_BYTES {
            return Err(Error::PayloadTooLarge {
                limit: MAX_WEBHOOK_BYTES,
            });
        }
        verify_hub_signature(&self.app_secrets, body, signature).map_err(|e| match e {
            SignatureError::Missing => Error::Unauthorized("missing X-Hub-Signature-256 header"),
            SignatureError::Malformed | SignatureError::Mismatch => {
                Error::Forbidden("invalid X-Hub-Signature-256")
            }
        })?;
        let split = split(body)?;
        let events = split.events;
        if !events.is_empty() {
            self.queue.enqueue(&events).await?;
        }
        metrics::count(Metric::MalformedPart, split.malformed as u64, "webhook");
        Ok(IngestReport {
            events: events.len(),
            malformed: split.malformed,
            phone_number_id: events
                .iter()
                .find_map(|e| e.phone_number_id.as_deref().map(str::to_owned)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryQueue;
    use crate::signature::sign_hub;

    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"messages":[{"from":"1","id":"wamid.1"},{"from":"1","id":"wamid.2"}]},"field":"messages"}]}]}"#;

    fn ingest(queue: MemoryQueue) -> Ingest<MemoryQueue> {
        Ingest::new(queue, vec![Secret::new("app")])
    }

    #[tokio::test]
    async fn a_signed_batch_is_queued_event_by_event() {
        let queue = MemoryQueue::default();
        let sig = sign_hub(&Secret::new("app"), BODY);
        let report = ingest(queue.clone())
            .ingest(BODY, Some(&sig))
            .await
            .unwrap();
        assert_eq!(report.events, 2);
        assert_eq!(report.phone_number_id.as_deref(), Some("P"));
        assert_eq!(queue.ids(), ["wamid.1", "wamid.2"]);
    }

    #[tokio::test]
    async fn a_bad_or_missing_signature_queues_nothing() {
        let queue = MemoryQueue::default();
        let service = ingest(queue.clone());
        let wrong = sign_hub(&Secret::new("other"), BODY);
        assert_eq!(
            service
                .ingest(BODY, Some(&wrong))
                .await
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(service.ingest(BODY, None).await.unwrap_err().status(), 401);
        assert!(queue.ids().is_empty());
    }

    #[tokio::test]
    async fn a_queue_failure_is_not_acknowledged() {
        let queue = MemoryQueue::default();
        queue.fail(true);
        let sig = sign_hub(&Secret::new("app"), BODY);
        let err = ingest(queue).ingest(BODY, Some(&sig)).await.unwrap_err();
        assert!(err.status() >= 500);
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_not_too_large() {
        let edge = vec![b' '; MAX_WEBHOOK_BYTES];
        let err = ingest(MemoryQueue::default())
            .ingest(&edge, None)
            .await
            .unwrap_err();
        assert_eq!(
            err.status(),
            401,
            "checked for a signature, not refused for size"
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_before_verification() {
        let big = vec![b' '; MAX_WEBHOOK_BYTES + 1];
        let err = ingest(MemoryQueue::default())
            .ingest(&big, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn subscription_needs_the_mode_the_token_and_a_challenge() {
        let token = Secret::new("tok");
        assert_eq!(
            verify_subscription(Some("subscribe"), Some("tok"), Some("42"), &token).unwrap(),
            "42"
        );
        for (mode, tok, ch) in [
            (Some("subscribe"), Some("wrong"), Some("42")),
            (Some("unsubscribe"), Some("tok"), Some("42")),
            (None, Some("tok"), Some("42")),
            (Some("subscribe"), None, Some("42")),
            (Some("subscribe"), Some("tok"), None),
        ] {
            assert_eq!(
                verify_subscription(mode, tok, ch, &token)
                    .unwrap_err()
                    .status(),
                403
            );
        }
    }
}
