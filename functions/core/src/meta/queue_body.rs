//! The queue's bodies: an event as JSON (Meta's raw bytes written as they came), or, for an
//! event too large for the queue, a claim check naming where its body is stored.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{Event, EventId};
use crate::Error;

/// The largest body queued as it is (SQS refuses a message over 256 KiB); a longer event's
/// body is stored in the events bucket and a [`ClaimCheck`] queued for it.
pub const MAX_QUEUE_BODY_BYTES: usize = 250 * 1024;

impl Event {
    pub fn to_queue_body(&self) -> String {
        // Sized once: the raw parts, plus the escaped original body, plus the short fields.
        let raw = |r: &Option<Box<RawValue>>| r.as_ref().map_or(0, |r| r.get().len());
        let capacity = 512
            + self.item.get().len()
            + raw(&self.metadata)
            + raw(&self.contact)
            + self
                .original_body
                .as_ref()
                .map_or(0, |b| b.len() + b.len() / 4);
        let mut body = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut body, self).expect("an event always serializes");
        String::from_utf8(body).expect("serde_json writes UTF-8")
    }

    pub fn from_queue_body(body: &str) -> Result<Self, Error> {
        serde_json::from_str(body)
            .map_err(|e| Error::Internal(anyhow::anyhow!("queued event is not readable: {e}")))
    }
}

/// What the queue holds for an event too large for it: where its body was stored, with its id
/// and field so the DLQ can be listed without fetching it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCheck {
    pub claim_check: String,
    pub id: EventId,
    pub field: String,
}

impl ClaimCheck {
    /// The object key of `body`: by its hash, so Meta's retry of a POST rewrites one object.
    pub fn for_body(event: &Event, body: &str) -> Self {
        ClaimCheck {
            claim_check: format!(
                "events/{}.json",
                hex::encode(Sha256::digest(body.as_bytes()))
            ),
            id: event.id.clone(),
            field: event.field.clone(),
        }
    }

    /// The same event under a new key (`<key>` + the time): the DLQ move and a redrive copy
    /// the stored body there so it outlives the pointer that now holds it.
    pub fn renewed(&self, now_ms: i64) -> Self {
        let base = self
            .claim_check
            .strip_suffix(".json")
            .unwrap_or(&self.claim_check);
        let base = base.split('@').next().unwrap_or(base);
        ClaimCheck {
            claim_check: format!("{base}@{now_ms}.json"),
            ..self.clone()
        }
    }

    /// The claim check a queue body holds, if it is one.
    pub fn from_queue_body(body: &str) -> Option<Self> {
        if !body.starts_with(r#"{"claim_check":"#) {
            return None;
        }
        serde_json::from_str(body).ok()
    }

    pub fn to_queue_body(&self) -> String {
        serde_json::to_string(self).expect("a claim check always serializes")
    }
}
