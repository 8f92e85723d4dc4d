//! The listing cursor: a page's last key as an opaque string, and back into a start key that
//! stays inside the asking tenant's own partition.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway_core::Error;

use super::{STATE_AT_MS, TENANT_STATE};
use crate::dynamo::{Item, PK, get_n, get_s, n, s};

/// A page's last key as an opaque cursor: the record's key and its position in the index.
pub(super) fn encode_cursor(key: &Item) -> Option<String> {
    let pk = get_s(key, PK)?;
    let at = get_n(key, STATE_AT_MS)?;
    Some(URL_SAFE_NO_PAD.encode(format!("{at}\n{pk}")))
}

/// Cursors this API hands out are well under this (an event id is at most 512 characters).
const MAX_CURSOR: usize = 1_024;

/// The start key for `cursor`, always inside the asking tenant's own partition.
pub(super) fn decode_cursor(cursor: &str, partition: &str) -> Result<Item, Error> {
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
