//! The events bucket on S3: bodies of events too large for SQS (claim checks, read back by the
//! forwarder) and unroutable events parked for `gatewayctl unroutable replay`. The template
//! expires both prefixes after the DLQ's retention.

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use gateway_core::Error;
use gateway_core::mask;
use gateway_core::meta::Event;
use gateway_core::ports::UnroutableStore;

/// Where parked events are kept: `unroutable/w=<waba>/p=<phone or ->/<reference>-<ms>.json`.
pub const UNROUTABLE_PREFIX: &str = "unroutable/";

#[derive(Clone, Debug)]
pub struct EventsBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// Ids in a key keep to a safe alphabet; Meta's are digits.
fn key_part(id: &str) -> String {
    let part: String = id
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .take(64)
        .collect();
    if part.is_empty() {
        "-".to_owned()
    } else {
        part
    }
}

/// The key a parked event is kept under. Each parking gets its own key (the time and a
/// random part), so a replay that deletes what it read never deletes a copy parked again.
pub fn unroutable_key(event: &Event, now_ms: i64) -> String {
    format!(
        "{UNROUTABLE_PREFIX}w={}/p={}/{}-{now_ms}-{:08x}.json",
        key_part(&event.waba_id),
        key_part(event.phone_number_id.as_deref().unwrap_or_default()),
        mask::reference(event.id.as_str()),
        rand::random::<u32>()
    )
}

impl EventsBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        EventsBucket {
            client,
            bucket: bucket.into(),
        }
    }

    pub async fn put(&self, key: &str, body: String) -> Result<(), Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), "PutObject failed");
                Error::unavailable("events bucket")
            })?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<String> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("GetObject: {}", aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
        let bytes = out
            .body
            .collect()
            .await
            .context("reading the stored event")?;
        String::from_utf8(bytes.to_vec()).context("stored event is not UTF-8")
    }

    /// Copies `from` to `to` inside the bucket (a fresh object, so its expiry starts again).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), Error> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(to)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), "CopyObject failed");
                Error::unavailable("events bucket")
            })?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "DeleteObject: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        Ok(())
    }

    /// Every key under `prefix`, page by page.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "ListObjectsV2: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )
                })?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(keys),
            }
        }
    }
}

impl UnroutableStore for EventsBucket {
    async fn park(&self, event: &Event) -> Result<(), Error> {
        self.put(
            &unroutable_key(event, crate::now_ms()),
            event.to_queue_body(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::meta::split::split_events;

    #[test]
    fn a_parked_event_is_keyed_by_waba_phone_and_reference() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W/1","changes":[{"value":{"metadata":{"phone_number_id":"P 2"}},"field":"user_preferences"}]}]}"#;
        let event = split_events(body).unwrap().remove(0);
        let key = unroutable_key(&event, 1_700);
        let reference = mask::reference(event.id.as_str());
        let prefix = format!("unroutable/w=W_1/p=P_2/{reference}-1700-");
        assert!(key.starts_with(&prefix) && key.ends_with(".json"), "{key}");
        assert_ne!(
            key,
            unroutable_key(&event, 1_700),
            "each parking its own key"
        );
    }
}
