//! What a forwarder is built from: the ports it works with, and its settings (the retry
//! schedule, how long each kind of record is kept, the breaker) with their defaults.

use std::time::Duration;

use crate::endpoint_health::BreakerPolicy;
use crate::retry::RetrySchedule;

#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub schedule: RetrySchedule,
    /// How long an IN_PROGRESS claim holds: longer than one delivery can take.
    pub in_progress_for: Duration,
    /// How long a COMPLETED record suppresses duplicates: longer than Meta's 7 days of retries.
    pub completed_for: Duration,
    /// How long the count of failed attempts is kept: as long as the DLQ keeps the event.
    pub failed_kept_for: Duration,
    /// How long each event's queue message is kept for replay; zero keeps none.
    pub payload_retention: Duration,
    pub breaker: BreakerPolicy,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            schedule: RetrySchedule::default(),
            in_progress_for: Duration::from_secs(60),
            completed_for: Duration::from_secs(8 * 86_400),
            failed_kept_for: Duration::from_secs(14 * 86_400),
            payload_retention: Duration::from_secs(3 * 86_400),
            breaker: BreakerPolicy::default(),
        }
    }
}

/// The ports a forwarder works with.
pub struct ForwardPorts<I, T, M, W, P, H> {
    pub idempotency: I,
    pub tenants: T,
    pub messages: M,
    pub sender: W,
    pub parking: P,
    pub health: H,
}
