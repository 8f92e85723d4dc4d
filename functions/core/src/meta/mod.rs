//! Meta's webhook as the gateway reads it, and nothing else: the event (`event`), how each
//! field is split (`field_table`), the splitter (`split`), media ids in items (`media`), and the
//! queue's bodies (`queue_body`). Nothing here points back up into the services.

pub mod event;
pub mod field_table;
pub mod media;
pub mod queue_body;
pub mod split;

pub use event::{Event, EventId, EventKind};
pub use field_table::{Collection, ItemId, collections_of};
pub use media::{MEDIA_TYPES, NamedMedia, media_ids, named_media_ids};
pub use queue_body::{ClaimCheck, MAX_QUEUE_BODY_BYTES};

/// Meta's payloads reach 3 MB; anything larger is refused before any work.
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;
/// The field name given to a part of a POST that names none.
pub const UNKNOWN_FIELD: &str = "unknown";

pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

#[cfg(test)]
mod tests;
