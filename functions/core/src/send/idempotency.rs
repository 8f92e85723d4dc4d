//! `Idempotency-Key`: a send runs at most once per tenant and key.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::ports::{Claim, GraphApi, IdempotencyStore, MessageStore, TenantDirectory};
use crate::tenant::Tenant;

use super::SendService;
use crate::http::ApiResponse;

/// A repeat of an Idempotency-Key within this window replays the first outcome.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long a send holds its key. A send that never finished (its function was stopped after
/// the request left) may have reached Meta, so no repeat takes its key over within the window;
/// only a send that provably never reached Meta gives it up.
const IN_FLIGHT: Duration = IDEMPOTENCY_WINDOW;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// What is stored against a key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    /// Meta's answer (or the gateway's, for a 4xx it decided): replayed as it was.
    Response(ApiResponse),
    /// The request left and no usable answer came back: a repeat is told to look it up.
    Unknown { outcome_unknown: String },
}

/// What a send's result means for its key. The services return `Error::Upstream` for anything
/// that went wrong after the request left, and other errors only before it did.
fn outcome(result: &Result<ApiResponse, Error>) -> Option<Stored> {
    match result {
        // Meta refused it for throughput before accepting it: the client may try again.
        Ok(response) if response.meta_throttled => None,
        Ok(response) if response.status < 500 => Some(Stored::Response(response.clone())),
        Ok(response) => Some(Stored::Unknown {
            outcome_unknown: format!("Meta answered {}", response.status),
        }),
        Err(Error::Upstream { status: 504, .. }) => Some(Stored::Unknown {
            outcome_unknown: "Meta did not answer in time".to_owned(),
        }),
        Err(Error::Upstream { .. }) => Some(Stored::Unknown {
            outcome_unknown: "Meta's answer was lost or unusable".to_owned(),
        }),
        Err(_) => None,
    }
}

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    /// Runs `send` at most once per (tenant, Idempotency-Key). A repeat replays the stored
    /// response; after an outcome that may have reached Meta (a 5xx, a timeout, a lost answer)
    /// it is 409 `idempotency_outcome_unknown`; while the first runs it is 409; the same key
    /// with another body is 422. Only a send that never reached Meta frees the key.
    pub async fn idempotent<F>(
        &self,
        tenant: &Tenant,
        key: Option<&str>,
        request_fingerprint: &[u8],
        now: i64,
        send: F,
    ) -> Result<ApiResponse, Error>
    where
        F: Future<Output = Result<ApiResponse, Error>>,
    {
        let Some(key) = key else { return send.await };
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key",
                format!(
                    "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"
                ),
            ));
        }
        let record = format!(
            "SEND#{}#{}",
            tenant.id.as_str(),
            hex::encode(Sha256::digest(key.as_bytes()))
        );
        let fingerprint = hex::encode(Sha256::digest(request_fingerprint));
        match self
            .idempotency
            .claim(&record, Some(&fingerprint), IN_FLIGHT, now * 1000)
            .await?
        {
            Claim::Completed(Some(stored)) => {
                return match serde_json::from_str::<Stored>(&stored) {
                    Ok(Stored::Response(response)) => Ok(response),
                    Ok(Stored::Unknown { outcome_unknown }) => {
                        Err(Error::OutcomeUnknown(outcome_unknown))
                    }
                    Err(e) => Err(Error::Internal(anyhow::anyhow!(
                        "stored idempotent response unreadable: {e}"
                    ))),
                };
            }
            Claim::Completed(None) | Claim::InProgress | Claim::NotYet(_) => {
                return Err(Error::Conflict(
                    "a request with this Idempotency-Key is in progress, or stopped without an answer and may have reached Meta",
                ));
            }
            Claim::Acquired { .. } => {}
        }
        let result = send.await;
        match outcome(&result) {
            Some(stored) => {
                let stored = serde_json::to_string(&stored).expect("an outcome serializes");
                if let Err(e) = self
                    .idempotency
                    .complete(&record, Some(&stored), IDEMPOTENCY_WINDOW)
                    .await
                {
                    // The claim stays held for the window, so a repeat is refused, not sent:
                    // the tenant still gets the answer of the send that happened.
                    tracing::error!(error = %e, "could not store the outcome of an idempotent send; its key stays claimed");
                }
            }
            None => {
                if let Err(e) = self.idempotency.release(&record).await {
                    tracing::warn!(error = %e, "could not free an Idempotency-Key of a send that never reached Meta; repeats are refused until the window ends");
                }
            }
        }
        result
    }
}
