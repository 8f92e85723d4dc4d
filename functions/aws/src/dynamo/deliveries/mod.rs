//! The delivery log on the Idempotency table: each event's forward record (`EVENT#<id>`)
//! carries its tenant, destination, failed attempts and final success, and is indexed by
//! tenant and state (`ByTenantState`: `tenant_state` = `<tenant>#<state>`, `state_at_ms`).
//! Retained payloads are `PAYLOAD#<id>` items with their own TTL. A replay holds its record
//! (`reopened_at_ms`, `replay_mark`) until the copy carrying that mark is attempted. Replay and
//! recovery calls are counted per tenant and minute in `CALLS#<tenant>#<kind>#<window>` items.
//!
//! This module is the `DeliveryLog` port itself; the item mapping, the update requests and the
//! listing cursor live in their own modules.

mod attributes;
mod cursor;
mod requests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use gateway_core::Error;
use gateway_core::deliveries::{
    AttemptNote, DeliveryLog, DeliveryState, EventPage, EventRecord, Held, Reopen, event_key, held,
};
use gateway_core::meta::EventId;
use gateway_core::tenant::TenantId;

use super::*;
use attributes::{calls_key, payload_key, record_from, tenant_state};
use cursor::{decode_cursor, encode_cursor};
use requests::{
    count_call_request, delivered_request, failed_request, reopen_request, replay_done_request,
};

/// The index template.yaml defines on the Idempotency table (a test checks the names).
pub const BY_TENANT_STATE: &str = "ByTenantState";
pub const TENANT_STATE: &str = "tenant_state";
pub const STATE_AT_MS: &str = "state_at_ms";

impl DeliveryLog for DynamoIdempotency {
    async fn delivered(
        &self,
        id: &EventId,
        note: &AttemptNote,
        replay: Option<&str>,
        keep_for: Duration,
    ) -> Result<(), Error> {
        if let Some(mark) = replay {
            // The replay's own copy: the write that records it ends the hold too.
            let update =
                delivered_request(self.client(), self.table(), id, note, Some(mark), keep_for);
            match update.send().await {
                Ok(_) => return Ok(()),
                // The hold waits for another copy (or there is none): it stays.
                Err(e) if is_conditional_failure(&e) => {}
                Err(e) => return Err(unavailable("delivery record")(e)),
            }
        }
        delivered_request(self.client(), self.table(), id, note, None, keep_for)
            .send()
            .await
            .map_err(unavailable("delivery record"))?;
        Ok(())
    }

    async fn failed(
        &self,
        id: &EventId,
        note: &AttemptNote,
        replay: Option<&str>,
        state: DeliveryState,
        retry_after: Duration,
        keep_for: Duration,
    ) -> Result<(), Error> {
        if let Some(mark) = replay {
            let update = failed_request(
                self.client(),
                self.table(),
                id,
                note,
                Some(mark),
                state,
                retry_after,
                keep_for,
            );
            match update.send().await {
                Ok(_) => return Ok(()),
                // Not this copy's hold, or the claim lapsed: written as any copy's attempt.
                Err(e) if is_conditional_failure(&e) => {}
                Err(e) => return Err(unavailable("delivery record")(e)),
            }
        }
        let update = failed_request(
            self.client(),
            self.table(),
            id,
            note,
            None,
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
        mark: &str,
        now_ms: i64,
        keep_for: Duration,
    ) -> Result<Reopen, Error> {
        let update = reopen_request(
            self.client(),
            self.table(),
            id,
            tenant,
            states,
            mark,
            now_ms,
            keep_for,
        );
        match update.send().await {
            Ok(_) => Ok(Reopen::Reopened),
            Err(e) if is_conditional_failure(&e) => {
                let ours = self
                    .get(id)
                    .await?
                    .filter(|r| &r.tenant_id == tenant && states.contains(&r.status));
                Ok(match ours {
                    // Not held by the record: its claim is taken.
                    Some(r) => Reopen::Busy(held(&r, now_ms).unwrap_or(Held::InProgress)),
                    None => Reopen::NotFound,
                })
            }
            Err(e) => Err(unavailable("delivery reopen")(e)),
        }
    }

    async fn replay_done(&self, id: &EventId, mark: &str) -> Result<(), Error> {
        match replay_done_request(self.client(), self.table(), id, mark)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // A later replay holds it now, or nothing does.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("replay hold")(e)),
        }
    }

    async fn count_call(
        &self,
        tenant: &TenantId,
        kind: &str,
        window_start_ms: i64,
        limit: u32,
    ) -> Result<bool, Error> {
        let update = count_call_request(
            self.client(),
            self.table(),
            &calls_key(tenant, kind, window_start_ms),
            limit,
        );
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("call count")(e)),
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
