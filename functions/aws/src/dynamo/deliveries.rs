//! The delivery log on the Idempotency table: each event's forward record (`EVENT#<id>`)
//! carries its tenant, destination, failed attempts and final success, and is indexed by
//! tenant and state (`ByTenantState`: `tenant_state` = `<tenant>#<state>`, `state_at_ms`).
//! Retained payloads are `PAYLOAD#<id>` items with their own TTL.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway_core::Error;
use gateway_core::deliveries::{
    Attempt, AttemptNote, DeliveryLog, DeliveryState, EventPage, EventRecord, Reopen, event_key,
};
use gateway_core::event::EventId;
use gateway_core::tenant::TenantId;

use super::*;

/// The index template.yaml defines on the Idempotency table (a test checks the names).
pub const BY_TENANT_STATE: &str = "ByTenantState";
pub const TENANT_STATE: &str = "tenant_state";
pub const STATE_AT_MS: &str = "state_at_ms";

fn tenant_state(tenant: &TenantId, state: DeliveryState) -> String {
    format!("{}#{}", tenant.as_str(), state.as_str())
}

fn payload_key(id: &EventId) -> String {
    format!("PAYLOAD#{}", id.as_str())
}

fn attempt_value(a: &Attempt) -> AttributeValue {
    let mut m = HashMap::from([
        ("at_ms".to_owned(), n(a.at_ms)),
        ("latency_ms".to_owned(), n(a.latency_ms as i64)),
    ]);
    if let Some(status) = a.status {
        m.insert("status".to_owned(), n(i64::from(status)));
    }
    if let Some(error) = &a.error {
        // Reasons are short; a long one (a TLS chain) is cut, never the record.
        m.insert(
            "error".to_owned(),
            s(error.chars().take(300).collect::<String>()),
        );
    }
    if let Some(at) = a.next_retry_at_ms {
        m.insert("next_retry_at_ms".to_owned(), n(at));
    }
    AttributeValue::M(m)
}

fn attempt_from(v: &AttributeValue) -> Option<Attempt> {
    let m = v.as_m().ok()?;
    Some(Attempt {
        at_ms: get_n(m, "at_ms")?,
        status: get_n(m, "status").and_then(|s| u16::try_from(s).ok()),
        error: get_s(m, "error"),
        latency_ms: get_n(m, "latency_ms").unwrap_or(0).max(0) as u64,
        next_retry_at_ms: get_n(m, "next_retry_at_ms"),
    })
}

fn record_from(item: &Item) -> Option<EventRecord> {
    let (tenant, state) = get_s(item, TENANT_STATE)?
        .rsplit_once('#')
        .map(|(t, s)| (t.to_owned(), s.to_owned()))?;
    let event_id = get_s(item, PK)?.strip_prefix("EVENT#")?.to_owned();
    Some(EventRecord {
        event_id,
        tenant_id: TenantId(tenant),
        status: DeliveryState::parse(&state)?,
        field: get_s(item, "field").unwrap_or_default(),
        phone_number_id: get_s(item, "phone_number_id"),
        destination: get_s(item, "destination").unwrap_or_default(),
        format: get_s(item, "format").unwrap_or_default(),
        updated_at_ms: get_n(item, STATE_AT_MS).unwrap_or_default(),
        attempts: item
            .get("attempts")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(attempt_from).collect())
            .unwrap_or_default(),
        delivered: item.get("delivered").and_then(attempt_from),
        replay_queued: get_n(item, "reopened_at_ms")
            .is_some_and(|at| at > crate::now_ms() - REOPEN_HOLDS_MS),
    })
}

/// The attributes every recorded attempt sets, as `SET` clauses and their values.
fn note_values(
    note: &AttemptNote,
    state: DeliveryState,
    id: &EventId,
) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut values = vec![
        (":ts", s(tenant_state(&note.tenant_id, state))),
        (":at", n(note.attempt.at_ms)),
        (":tenant", s(note.tenant_id.as_str())),
        (":dest", s(&note.destination)),
        (":fmt", s(note.format)),
        (":field", s(&note.field)),
        (":event_id", s(id.as_str())),
    ];
    let mut set = format!(
        "{TENANT_STATE} = :ts, {STATE_AT_MS} = :at, tenant_id = :tenant, destination = :dest, #format = :fmt, #field = :field, event_id = :event_id"
    );
    if let Some(phone) = &note.phone_number_id {
        set.push_str(", phone_number_id = :phone");
        values.push((":phone", s(phone)));
    }
    (set, values)
}

impl DeliveryLog for DynamoIdempotency {
    async fn delivered(
        &self,
        id: &EventId,
        note: &AttemptNote,
        keep_for: Duration,
    ) -> Result<(), Error> {
        delivered_request(self.client(), self.table(), id, note, keep_for)
            .send()
            .await
            .map_err(unavailable("delivery record"))?;
        Ok(())
    }

    async fn failed(
        &self,
        id: &EventId,
        note: &AttemptNote,
        state: DeliveryState,
        retry_after: Duration,
        keep_for: Duration,
    ) -> Result<(), Error> {
        let update = failed_request(
            self.client(),
            self.table(),
            id,
            note,
            state,
            retry_after,
            keep_for,
        );
        match update.send().await {
            Ok(_) => Ok(()),
            // The claim lapsed and another worker holds it: its record wins.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("delivery record")(e)),
        }
    }

    async fn list(
        &self,
        tenant: &TenantId,
        state: DeliveryState,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<EventPage, Error> {
        let partition = tenant_state(tenant, state);
        let start = match cursor {
            Some(c) => Some(decode_cursor(c, &partition)?),
            None => None,
        };
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(BY_TENANT_STATE)
            .key_condition_expression(format!(
                "{TENANT_STATE} = :ts AND {STATE_AT_MS} BETWEEN :since AND :until"
            ))
            .expression_attribute_values(":ts", s(&partition))
            .expression_attribute_values(":since", n(since_ms))
            .expression_attribute_values(":until", n(until_ms))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1_000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable("delivery log query"))?;
        let events = out.items().iter().filter_map(record_from).collect();
        let next = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok(EventPage { events, next })
    }

    async fn get(&self, id: &EventId) -> Result<Option<EventRecord>, Error> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, s(event_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("delivery record read"))?;
        Ok(out.item.as_ref().and_then(record_from))
    }

    async fn reopen(
        &self,
        id: &EventId,
        tenant: &TenantId,
        states: &[DeliveryState],
        keep_for: Duration,
    ) -> Result<Reopen, Error> {
        let update = reopen_request(self.client(), self.table(), id, tenant, states, keep_for);
        match update.send().await {
            Ok(_) => Ok(Reopen::Reopened),
            Err(e) if is_conditional_failure(&e) => {
                let ours = self
                    .get(id)
                    .await?
                    .filter(|r| &r.tenant_id == tenant && states.contains(&r.status));
                Ok(match ours {
                    Some(_) => Reopen::Busy,
                    None => Reopen::NotFound,
                })
            }
            Err(e) => Err(unavailable("delivery reopen")(e)),
        }
    }

    async fn keep_payload(
        &self,
        id: &EventId,
        body: &str,
        keep_for: Duration,
    ) -> Result<(), Error> {
        self.client()
            .put_item()
            .table_name(self.table())
            .item(PK, s(payload_key(id)))
            .item("body", s(body))
            .item(TTL_ATTRIBUTE, n(crate::now() + keep_for.as_secs() as i64))
            .send()
            .await
            .map_err(unavailable("payload keep"))?;
        Ok(())
    }

    async fn payload(&self, id: &EventId) -> Result<Option<String>, Error> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, s(payload_key(id)))
            .send()
            .await
            .map_err(unavailable("payload read"))?;
        let item = out.item.unwrap_or_default();
        // TTL sweeps lag by up to days: an expired payload is gone as far as anyone can tell.
        let live = get_n(&item, TTL_ATTRIBUTE).is_some_and(|t| t > crate::now());
        Ok(live.then(|| get_s(&item, "body")).flatten())
    }
}

type Update = aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

/// A replay or recovery queued this recently is taken to be on its way; an older mark is
/// stale (its queue send failed) and may be reopened again.
const REOPEN_HOLDS_MS: i64 = 15 * 60 * 1000;

fn with_values(mut update: Update, values: Vec<(&'static str, AttributeValue)>) -> Update {
    for (name, value) in values {
        update = update.expression_attribute_values(name, value);
    }
    update
}

fn delivered_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    note: &AttemptNote,
    keep_for: Duration,
) -> Update {
    let (set, values) = note_values(note, DeliveryState::Delivered, id);
    let update = client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!(
            "SET #status = :completed, expires_at = :ttl, delivered = :attempt, {set} REMOVE in_progress_until, failed_attempts, retry_at_ms, reopened_at_ms"
        ))
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#format", "format")
        .expression_attribute_names("#field", "field")
        .expression_attribute_values(":completed", s(super::idempotency::COMPLETED))
        .expression_attribute_values(":attempt", attempt_value(&note.attempt))
        .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64));
    with_values(update, values)
}

fn failed_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    note: &AttemptNote,
    state: DeliveryState,
    retry_after: Duration,
    keep_for: Duration,
) -> Update {
    let (set, values) = note_values(note, state, id);
    let update = client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!(
            "SET #status = :failed, expires_at = :ttl, retry_at_ms = :retry_at, attempts = list_append(if_not_exists(attempts, :none), :attempts), {set} ADD failed_attempts :one REMOVE in_progress_until, reopened_at_ms"
        ))
        .condition_expression("#status = :in_progress")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#format", "format")
        .expression_attribute_names("#field", "field")
        .expression_attribute_values(":in_progress", s(super::idempotency::IN_PROGRESS))
        .expression_attribute_values(":failed", s(super::idempotency::FAILED))
        .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64))
        .expression_attribute_values(
            ":retry_at",
            n(crate::now_ms() + retry_after.as_millis() as i64),
        )
        .expression_attribute_values(":none", AttributeValue::L(vec![]))
        .expression_attribute_values(
            ":attempts",
            AttributeValue::L(vec![attempt_value(&note.attempt)]),
        )
        .expression_attribute_values(":one", n(1));
    with_values(update, values)
}

fn reopen_request(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &EventId,
    tenant: &TenantId,
    states: &[DeliveryState],
    keep_for: Duration,
) -> Update {
    let names: Vec<String> = (0..states.len()).map(|i| format!(":st{i}")).collect();
    let now_ms = crate::now_ms();
    let update = client
        .update_item()
        .table_name(table)
        .key(PK, s(event_key(id)))
        .update_expression(format!(
            "SET #status = :failed, retry_at_ms = :zero, failed_attempts = :zero, {TENANT_STATE} = :pending, {STATE_AT_MS} = :now_ms, reopened_at_ms = :now_ms, expires_at = :ttl"
        ))
        .condition_expression(format!(
            "tenant_id = :tenant AND {TENANT_STATE} IN ({}) AND (#status <> :in_progress OR in_progress_until < :now) AND (attribute_not_exists(reopened_at_ms) OR reopened_at_ms < :stale)",
            names.join(", ")
        ))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":failed", s(super::idempotency::FAILED))
        .expression_attribute_values(":in_progress", s(super::idempotency::IN_PROGRESS))
        .expression_attribute_values(":zero", n(0))
        .expression_attribute_values(":pending", s(tenant_state(tenant, DeliveryState::Pending)))
        .expression_attribute_values(":now_ms", n(now_ms))
        .expression_attribute_values(":stale", n(now_ms - REOPEN_HOLDS_MS))
        .expression_attribute_values(":now", n(crate::now()))
        .expression_attribute_values(":ttl", n(crate::now() + keep_for.as_secs() as i64))
        .expression_attribute_values(":tenant", s(tenant.as_str()));
    names
        .iter()
        .zip(states)
        .fold(update, |update, (name, state)| {
            update.expression_attribute_values(name, s(tenant_state(tenant, *state)))
        })
}

/// A page's last key as an opaque cursor: the record's key and its position in the index.
fn encode_cursor(key: &Item) -> Option<String> {
    let pk = get_s(key, PK)?;
    let at = get_n(key, STATE_AT_MS)?;
    Some(URL_SAFE_NO_PAD.encode(format!("{at}\n{pk}")))
}

/// Cursors this API hands out are well under this (an event id is at most 512 characters).
const MAX_CURSOR: usize = 1_024;

/// The start key for `cursor`, always inside the asking tenant's own partition.
fn decode_cursor(cursor: &str, partition: &str) -> Result<Item, Error> {
    let bad = || {
        Error::invalid(
            "invalid_field",
            "cursor",
            "`cursor` is not one this API handed out",
        )
    };
    // A key DynamoDB would refuse (over 2 KB) is the caller's mistake, not an outage.
    if cursor.len() > MAX_CURSOR {
        return Err(bad());
    }
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (at, pk) = text.split_once('\n').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    if !pk.starts_with("EVENT#") {
        return Err(bad());
    }
    Ok(HashMap::from([
        (PK.to_owned(), s(pk)),
        (TENANT_STATE.to_owned(), s(partition)),
        (STATE_AT_MS.to_owned(), n(at)),
    ]))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn a_cursor_round_trips_and_an_oversized_or_foreign_one_is_a_400() {
        let key = HashMap::from([
            (PK.to_owned(), s("EVENT#wamid.1:sent")),
            (STATE_AT_MS.to_owned(), n(42)),
        ]);
        let cursor = encode_cursor(&key).unwrap();
        let start = decode_cursor(&cursor, "t#failed").unwrap();
        assert_eq!(get_s(&start, TENANT_STATE).as_deref(), Some("t#failed"));
        assert_eq!(get_n(&start, STATE_AT_MS), Some(42));
        let long = URL_SAFE_NO_PAD.encode(format!("1\nEVENT#{}", "x".repeat(2_000)));
        let foreign = URL_SAFE_NO_PAD.encode("1\nSEND#key");
        for bad in [long.as_str(), foreign.as_str(), "%%%"] {
            assert_eq!(decode_cursor(bad, "t#failed").unwrap_err().status(), 400);
        }
    }

    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    use super::*;

    /// Every `:value` and `#name` an expression uses is given, and every one given is used
    /// (DynamoDB refuses both; the emulator checks neither exactly).
    fn placeholders_match(update: &Update) {
        let input = update.as_input();
        let text = format!(
            "{} {}",
            input.get_update_expression().clone().unwrap_or_default(),
            input.get_condition_expression().clone().unwrap_or_default()
        );
        let used = |sigil: char| -> BTreeSet<String> {
            let mut found = BTreeSet::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(sigil) {
                let tail = &rest[i + 1..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                found.insert(format!("{sigil}{}", &tail[..end]));
                rest = &tail[end..];
            }
            found
        };
        let values: BTreeSet<String> = input
            .get_expression_attribute_values()
            .clone()
            .unwrap_or_default()
            .into_keys()
            .collect();
        let names: BTreeSet<String> = input
            .get_expression_attribute_names()
            .clone()
            .unwrap_or_default()
            .into_keys()
            .collect();
        assert_eq!(used(':'), values, "{text}");
        assert_eq!(used('#'), names, "{text}");
    }

    #[test]
    fn every_request_names_exactly_the_values_it_uses() {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        );
        let id = EventId::from_header("wamid.1:sent");
        for phone in [None, Some("1065".to_owned())] {
            let note = AttemptNote {
                tenant_id: TenantId("t".into()),
                destination: "https://t.example/hook".into(),
                format: "meta",
                field: "messages".into(),
                phone_number_id: phone,
                attempt: Attempt {
                    at_ms: 1,
                    status: Some(500),
                    error: Some("HTTP 500".into()),
                    latency_ms: 3,
                    next_retry_at_ms: Some(5),
                },
            };
            let keep = Duration::from_secs(60);
            placeholders_match(&delivered_request(&client, "T", &id, &note, keep));
            let failed =
                failed_request(&client, "T", &id, &note, DeliveryState::Pending, keep, keep);
            placeholders_match(&failed);
        }
        let tenant = TenantId("t".into());
        for states in [
            &DeliveryState::ALL[..],
            &[DeliveryState::Failed, DeliveryState::Pending],
        ] {
            let reopen =
                reopen_request(&client, "T", &id, &tenant, states, Duration::from_secs(60));
            placeholders_match(&reopen);
        }
    }
}
