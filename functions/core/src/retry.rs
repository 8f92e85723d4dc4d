//! When to try a failed delivery again: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the
//! first try, +-20% jitter, at least 60 s after a 429 or a timeout, `Retry-After` honoured
//! within the schedule's bounds. A scale factor shrinks it for tests and the local stack.

use std::time::Duration;

const SCHEDULE_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
const THROTTLED_FLOOR_SECS: u64 = 60;
const JITTER: f64 = 0.2;

/// Why the last attempt failed, as far as the delay is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 429 or a timeout: the receiver is overloaded, wait at least a minute.
    Throttled,
    /// Any other failure.
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    scale: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule { scale: 1.0 }
    }
}

impl RetrySchedule {
    /// `scale` multiplies every delay (1.0 in production). It shrinks the schedule, never
    /// skips a step.
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale.min(1.0)
        } else {
            1.0
        };
        RetrySchedule { scale }
    }

    /// The queue's maxReceiveCount: a backstop for poison messages and long outages of a
    /// dependency only. The forwarder counts delivery attempts itself and moves an event to
    /// the DLQ when they are spent; receives that found another worker's claim are no attempt.
    pub fn receive_backstop(&self) -> u32 {
        self.attempts() * 3
    }

    /// Retries after the first try.
    pub fn retries(&self) -> u32 {
        SCHEDULE_SECS.len() as u32
    }

    /// Total deliveries including the first.
    pub fn attempts(&self) -> u32 {
        self.retries() + 1
    }

    fn seconds(&self, secs: u64) -> f64 {
        secs as f64 * self.scale
    }

    /// The delay before the next attempt after attempt number `attempt` (1 = the first try)
    /// failed, or `None` when that was the last attempt. `random` is uniform in [0, 1).
    pub fn retry_delay(
        &self,
        attempt: u32,
        kind: FailureKind,
        retry_after: Option<Duration>,
        random: f64,
    ) -> Option<Duration> {
        let index = attempt.checked_sub(1)? as usize;
        let step = *SCHEDULE_SECS.get(index)?;
        let jitter = 1.0 + JITTER * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        let mut delay = self.seconds(step) * jitter;
        if kind == FailureKind::Throttled {
            delay = delay.max(self.seconds(THROTTLED_FLOOR_SECS));
        }
        if let Some(after) = retry_after {
            // Honoured, but never beyond the schedule's longest step (SQS caps one at 12 h).
            let ceiling = self.seconds(*SCHEDULE_SECS.iter().max().expect("non-empty"));
            delay = delay.max(after.as_secs_f64().min(ceiling));
        }
        Some(Duration::from_secs_f64(delay))
    }
}

/// The longest `Retry-After` taken from anyone: SQS's longest visibility timeout (12 h).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(12 * 3600);

/// Parses `Retry-After` in its delta-seconds form (the HTTP-date form is rare from webhooks
/// and is ignored, leaving the schedule in charge), capped at [`MAX_RETRY_AFTER`] so no
/// answer can make a wait overflow.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Option<Duration>) -> f64 {
        d.unwrap().as_secs_f64()
    }

    #[test]
    fn without_jitter_the_schedule_is_the_documented_one() {
        let s = RetrySchedule::default();
        let delays: Vec<f64> = (1..=7)
            .map(|attempt| secs(s.retry_delay(attempt, FailureKind::Failed, None, 0.5)))
            .collect();
        assert_eq!(
            delays,
            [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
        );
    }

    #[test]
    fn a_scale_that_is_not_a_positive_number_is_no_scale() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                RetrySchedule::scaled(bad),
                RetrySchedule::default(),
                "{bad}"
            );
        }
        assert_eq!(RetrySchedule::scaled(7.0), RetrySchedule::default());
        assert_ne!(RetrySchedule::scaled(0.5), RetrySchedule::default());
    }

    #[test]
    fn the_receive_backstop_is_three_times_the_attempts() {
        assert_eq!(RetrySchedule::default().receive_backstop(), 24);
    }

    #[test]
    fn after_the_last_attempt_there_is_no_retry() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        assert!(s.retry_delay(8, FailureKind::Failed, None, 0.5).is_none());
        assert!(s.retry_delay(0, FailureKind::Failed, None, 0.5).is_none());
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = RetrySchedule::default();
        assert_eq!(
            secs(s.retry_delay(2, FailureKind::Failed, None, 0.0)),
            240.0
        );
        let high = secs(s.retry_delay(2, FailureKind::Failed, None, 0.999_999));
        assert!((359.9..=360.0).contains(&high), "{high}");
    }

    #[test]
    fn a_throttled_receiver_waits_at_least_a_minute() {
        let s = RetrySchedule::default();
        assert_eq!(
            secs(s.retry_delay(1, FailureKind::Throttled, None, 0.5)),
            60.0
        );
        assert_eq!(
            secs(s.retry_delay(2, FailureKind::Throttled, None, 0.5)),
            300.0
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_schedule_bounds() {
        let s = RetrySchedule::default();
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(
            secs(s.retry_delay(1, FailureKind::Throttled, hour, 0.5)),
            3600.0
        );
        // Shorter than the schedule: the schedule wins.
        let second = Some(Duration::from_secs(1));
        assert_eq!(
            secs(s.retry_delay(3, FailureKind::Failed, second, 0.5)),
            1800.0
        );
        // A week is capped at the longest step.
        let week = Some(Duration::from_secs(7 * 86_400));
        assert_eq!(
            secs(s.retry_delay(1, FailureKind::Failed, week, 0.5)),
            36000.0
        );
    }

    #[test]
    fn a_scaled_schedule_keeps_every_step() {
        let s = RetrySchedule::scaled(0.001);
        assert_eq!(s.attempts(), 8);
        assert_eq!(secs(s.retry_delay(4, FailureKind::Failed, None, 0.5)), 7.2);
        assert!(s.retry_delay(7, FailureKind::Failed, None, 0.5).is_some());
        assert_eq!(RetrySchedule::scaled(f64::NAN), RetrySchedule::default());
        assert_eq!(RetrySchedule::scaled(5.0), RetrySchedule::default());
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        // A huge value from Meta or a tenant is capped, never an overflow.
        assert_eq!(
            parse_retry_after(&u64::MAX.to_string()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("43201"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("43200"),
            Some(Duration::from_secs(43_200))
        );
    }
}
