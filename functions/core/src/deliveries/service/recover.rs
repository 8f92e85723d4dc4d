//! Recovery (`POST /v1/events/recover`): every failed event of the tenant in a window goes
//! back on the queue once, within a budget per call, with the cursor a call hands on.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::DeliveriesService;
use super::listing::{MAX_LIMIT, check_window, parse_time};
use super::replay::Requeued;
use crate::Error;
use crate::deliveries::{DeliveryLog, DeliveryState, EventRecord, Requeue, held};
use crate::endpoint_health::EndpointHealth;
use crate::http::ApiResponse;
use crate::meta::EventId;
use crate::tenant::Tenant;

/// Events one recovery call reads at most, whatever becomes of them (queued, skipped, not
/// retained); `"complete": false` comes with a cursor to go on from.
pub const MAX_RECOVER: usize = 500;
/// Calls per tenant per minute (a fixed window, counted in the log so every instance shares
/// it); beyond, 429 with `Retry-After`.
pub const RECOVERS_PER_MINUTE: u32 = 6;
/// The states a recovery queues again.
const RECOVERABLE: [DeliveryState; 2] = [DeliveryState::Failed, DeliveryState::Pending];
/// A recovery cursor is well under this (it wraps a listing cursor of at most 1 KB).
const MAX_RECOVER_CURSOR: usize = 2_048;
/// Events one recovery call requeues concurrently.
const RECOVER_AT_ONCE: usize = 10;

/// Where a recovery goes on: the first call's time (its window ends there unless `until` is
/// given, and the pending events it reopened are not read again), the state being read and
/// the listing's cursor in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RecoverCursor {
    started_ms: i64,
    state: DeliveryState,
    page: Option<String>,
}

impl RecoverCursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}\n{}\n{}",
            self.started_ms,
            self.state.as_str(),
            self.page.as_deref().unwrap_or_default()
        ))
    }

    fn decode(cursor: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                "invalid_field",
                "cursor",
                "`cursor` is not one this API handed out",
            )
        };
        if cursor.len() > MAX_RECOVER_CURSOR {
            return Err(bad());
        }
        let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(text).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '\n');
        let started_ms: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let state = parts
            .next()
            .and_then(DeliveryState::parse)
            .filter(|s| RECOVERABLE.contains(s))
            .ok_or_else(bad)?;
        let page = parts.next().ok_or_else(bad)?;
        Ok(RecoverCursor {
            started_ms,
            state,
            page: (!page.is_empty()).then(|| page.to_owned()),
        })
    }
}

impl<L: DeliveryLog, Q: Requeue, H: EndpointHealth> DeliveriesService<L, Q, H> {
    /// `POST /v1/events/recover` with `{"since": "<RFC 3339>", "until"?, "cursor"?}`: every
    /// failed event of the tenant that changed in that window goes back on the queue, once,
    /// and every pending one whose replay copy never came; the other pending ones have a copy
    /// on the queue already and are skipped, saying why.
    pub async fn recover(
        &self,
        tenant: &Tenant,
        body: &[u8],
        now_ms: i64,
    ) -> Result<ApiResponse, Error> {
        let body = crate::send::parse_json_object(body)?;
        if let Some(unknown) = body
            .keys()
            .find(|k| !["since", "until", "cursor"].contains(&k.as_str()))
        {
            return Err(Error::invalid(
                "unknown_field",
                unknown.clone(),
                format!("`{unknown}` is not a field of this request"),
            ));
        }
        let since_ms = match body.get("since") {
            Some(Value::String(s)) => parse_time("since", s)?,
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "since",
                    "`since` must be an RFC 3339 time string",
                ));
            }
            None => {
                return Err(Error::invalid(
                    "missing_field",
                    "since",
                    "`since` is required",
                ));
            }
        };
        let resume = match body.get("cursor") {
            Some(Value::String(c)) => Some(RecoverCursor::decode(c)?),
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "cursor",
                    "`cursor` must be the `next_cursor` string of the call before",
                ));
            }
            None => None,
        };
        let started_ms = resume.as_ref().map_or(now_ms, |c| c.started_ms);
        let until_ms = match body.get("until") {
            Some(Value::String(s)) => parse_time("until", s)?,
            Some(_) => {
                return Err(Error::invalid(
                    "invalid_field",
                    "until",
                    "`until` must be an RFC 3339 time string",
                ));
            }
            None => started_ms,
        };
        check_window(since_ms, until_ms)?;
        self.rate(
            tenant,
            "recover",
            RECOVERS_PER_MINUTE,
            "too many recoveries: at most 6 a minute per tenant",
            now_ms,
        )
        .await?;
        let (mut phase, mut cursor) = match resume {
            Some(c) => (
                RECOVERABLE.iter().position(|s| *s == c.state).unwrap_or(0),
                c.page,
            ),
            None => (0, None),
        };
        let mut tally = Tally::default();
        let mut read: usize = 0;
        let mut next = None;
        'phases: while let Some(&state) = RECOVERABLE.get(phase) {
            // Events this recovery reopened are pending since it started: not read again.
            let until = match state {
                DeliveryState::Pending => until_ms.min(started_ms.saturating_sub(1)),
                _ => until_ms,
            };
            // An empty window reads nothing (the table refuses BETWEEN with its ends crossed).
            let mut more = since_ms <= until;
            while more {
                let budget = MAX_RECOVER.saturating_sub(read);
                if budget == 0 {
                    next = Some(RecoverCursor {
                        started_ms,
                        state,
                        page: cursor,
                    });
                    break 'phases;
                }
                let page = self
                    .log
                    .list(
                        &tenant.id,
                        state,
                        since_ms,
                        until,
                        budget.min(MAX_LIMIT),
                        cursor.as_deref(),
                    )
                    .await?;
                read += page.events.len();
                self.recover_page(tenant, &page.events, now_ms, &mut tally)
                    .await?;
                more = page.next.is_some();
                cursor = page.next;
            }
            phase += 1;
            cursor = None;
        }
        let skipped: Vec<Value> = tally
            .skipped
            .iter()
            .map(|(id, why)| json!({"event_id": id, "reason": why}))
            .collect();
        Ok(ApiResponse::json(
            202,
            &json!({
                "recovered": tally.queued.len(),
                "event_ids": tally.queued,
                "not_retained": tally.not_retained,
                "skipped": skipped.len(),
                "skipped_events": skipped,
                "complete": next.is_none(),
                "next_cursor": next.map(|c| c.encode()),
            }),
        ))
    }

    /// Queues again what a recovery read, ten at a time (one call stays well inside the
    /// API's 29 s); an event with a copy on the queue is skipped before any write.
    async fn recover_page(
        &self,
        tenant: &Tenant,
        events: &[EventRecord],
        now_ms: i64,
        tally: &mut Tally,
    ) -> Result<(), Error> {
        let mut todo = Vec::new();
        for record in events {
            match held(record, now_ms) {
                Some(why) => tally.skipped.push((record.event_id.clone(), why.as_str())),
                None => todo.push(record),
            }
        }
        for chunk in todo.chunks(RECOVER_AT_ONCE) {
            let results = futures::future::join_all(chunk.iter().map(|r| {
                let id = EventId::from_header(&r.event_id);
                async move { self.requeue_one(tenant, &id, &RECOVERABLE, now_ms).await }
            }))
            .await;
            for (record, result) in chunk.iter().zip(results) {
                let id = record.event_id.clone();
                match result? {
                    Requeued::Queued => tally.queued.push(id),
                    Requeued::NotRetained => tally.not_retained.push(id),
                    Requeued::Busy(why) => tally.skipped.push((id, why.as_str())),
                    Requeued::NotFound => tally.skipped.push((id, "changed")),
                }
            }
        }
        Ok(())
    }
}

/// What a recovery did with the events it read.
#[derive(Default)]
struct Tally {
    queued: Vec<String>,
    not_retained: Vec<String>,
    /// Each event not queued again, and why: a `Held` reason, or `changed`.
    skipped: Vec<(String, &'static str)>,
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn a_recovery_cursor_round_trips_and_a_foreign_one_is_a_400() {
        for page in [None, Some("MTc2NDU4\nEVENT#x".to_owned())] {
            let cursor = RecoverCursor {
                started_ms: 1_764_583_482_000,
                state: DeliveryState::Pending,
                page,
            };
            assert_eq!(RecoverCursor::decode(&cursor.encode()).unwrap(), cursor);
        }
        let delivered = URL_SAFE_NO_PAD.encode("1\ndelivered\n");
        let long = "A".repeat(MAX_RECOVER_CURSOR + 1);
        for bad in ["%%%", "eA", delivered.as_str(), long.as_str()] {
            let err = RecoverCursor::decode(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}");
            assert!(crate::http::gateway_body(&err).contains("cursor"));
        }
    }
}
