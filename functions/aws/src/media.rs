//! Media too large for a function's response: streamed from Meta's media URL into the events
//! bucket under `media/` in 5 MiB parts (so at most one part is held in memory), then handed to
//! the tenant as a short-lived presigned URL. The bucket's lifecycle removes copies after a day.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use gateway_core::Error;

/// S3's smallest part size (every part but the last must reach it).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// How long the tenant's link to a staged copy works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct MediaStaging {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn s3_failed<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> Error {
    move |e| {
        tracing::error!(error = ?e, "{what} failed");
        Error::unavailable(what)
    }
}

impl MediaStaging {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        MediaStaging {
            client,
            bucket: bucket.into(),
        }
    }

    /// Copies `response`'s body (at most `max_bytes`) under a fresh key and answers a presigned
    /// GET URL of the copy. A failed copy is aborted, leaving nothing behind.
    pub async fn stage(
        &self,
        response: reqwest::Response,
        content_type: &str,
        max_bytes: u64,
    ) -> Result<String, Error> {
        let key = format!(
            "media/{}-{}",
            crate::now_ms(),
            hex::encode(rand::random::<[u8; 12]>())
        );
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .send()
            .await
            .map_err(s3_failed("CreateMultipartUpload"))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let parts = match self.copy_parts(&key, &upload_id, response, max_bytes).await {
            Ok(parts) => parts,
            Err(e) => {
                if let Err(abort) = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .send()
                    .await
                {
                    tracing::warn!(error = ?abort, "could not abort a failed media copy; the lifecycle rule removes it");
                }
                return Err(e);
            }
        };
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(s3_failed("CompleteMultipartUpload"))?;
        let presigning = PresigningConfig::expires_in(LINK_LIFETIME)
            .map_err(|e| Error::Internal(anyhow::anyhow!("presigning config: {e}")))?;
        let link = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(s3_failed("presigning GetObject"))?;
        Ok(link.uri().to_owned())
    }

    async fn copy_parts(
        &self,
        key: &str,
        upload_id: &str,
        mut response: reqwest::Response,
        max_bytes: u64,
    ) -> Result<Vec<CompletedPart>, Error> {
        let mut parts = Vec::new();
        let mut part = Vec::with_capacity(PART_BYTES);
        let mut total = 0u64;
        loop {
            let chunk = response.chunk().await.map_err(|e| Error::Upstream {
                status: 502,
                message: format!("Meta's media download broke off: {}", e.without_url()),
            })?;
            let last = chunk.is_none();
            if let Some(chunk) = chunk {
                total += chunk.len() as u64;
                if total > max_bytes {
                    return Err(Error::Upstream {
                        status: 502,
                        message: format!(
                            "the media is larger than the {max_bytes} bytes the gateway serves"
                        ),
                    });
                }
                part.extend_from_slice(&chunk);
            }
            if part.len() >= PART_BYTES || (last && (!part.is_empty() || parts.is_empty())) {
                let number = parts.len() as i32 + 1;
                let body = std::mem::replace(
                    &mut part,
                    Vec::with_capacity(if last { 0 } else { PART_BYTES }),
                );
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map_err(s3_failed("UploadPart"))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(uploaded.e_tag().map(str::to_owned))
                        .build(),
                );
            }
            if last {
                return Ok(parts);
            }
        }
    }
}
