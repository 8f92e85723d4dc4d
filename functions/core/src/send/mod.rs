//! The tenant-facing send API: API keys, ownership of every id a route names, the
//! Graph-compatible pass-through, the simplified `/v1/messages` call, per-message callback URLs
//! and `Idempotency-Key`. Meta's answers pass back unchanged. One module per concern; the
//! service's methods live with their concern.

mod auth;
mod body;
mod idempotency;
mod media;
mod passthrough;
mod response;
mod simple;
#[cfg(test)]
mod tests;

pub use crate::http::ApiResponse;
pub use crate::http::graph_route::{Action, GraphRoute, ROUTES, Rule};
pub use auth::api_key;
pub use idempotency::IDEMPOTENCY_WINDOW;
pub use media::{INLINE_MEDIA_BYTES, MAX_MEDIA_BYTES};
pub use passthrough::GraphCall;
pub use response::is_retryable_meta_throttle;
pub(crate) use response::parse_json_object;
pub use simple::SimpleMessage;

use crate::Error;
use crate::ids::{PhoneNumberId, Wamid};
use crate::mask;
use crate::ports::{
    GraphApi, GraphResponse, IdempotencyStore, MessageRecord, MessageStore, TenantDirectory,
};
use crate::tenant::{CallbackUrl, TargetPolicy, Tenant};
use serde_json::Value;

/// What a send returned that the message record needs.
fn sent_wamid(response: &GraphResponse) -> Option<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(&response.body).ok()?;
    let wamid = v["messages"][0]["id"].as_str()?.to_owned();
    let wa_id = v["contacts"][0]["wa_id"].as_str().map(str::to_owned);
    Some((wamid, wa_id))
}

pub struct SendService<T, M, I, G> {
    tenants: T,
    messages: M,
    idempotency: I,
    graph: G,
    policy: TargetPolicy,
    /// The Graph version the `/v1` routes use.
    graph_version: String,
}

impl<T, M, I, G> SendService<T, M, I, G>
where
    T: TenantDirectory,
    M: MessageStore,
    I: IdempotencyStore,
    G: GraphApi,
{
    pub fn new(
        tenants: T,
        messages: M,
        idempotency: I,
        graph: G,
        policy: TargetPolicy,
        graph_version: String,
    ) -> Self {
        SendService {
            tenants,
            messages,
            idempotency,
            graph,
            policy,
            graph_version,
        }
    }

    async fn record_sent(
        &self,
        tenant: &Tenant,
        phone_number_id: &str,
        to: &str,
        callback_url: Option<&CallbackUrl>,
        response: &GraphResponse,
        now: i64,
    ) -> Option<String> {
        let (wamid, wa_id) = sent_wamid(response)?;
        let record = MessageRecord {
            wamid: Wamid::from_meta(wamid.clone()),
            tenant_id: tenant.id.clone(),
            // Checked as the tenant's on the way in.
            phone_number_id: PhoneNumberId::from_meta(phone_number_id),
            recipient: wa_id.unwrap_or_else(|| to.to_owned()),
            callback_url: callback_url.map(|c| c.as_str().to_owned()),
            created_at: now,
            last_status: None,
            statuses: Default::default(),
        };
        if let Err(e) = self.messages.put(&record).await {
            // Meta accepted the message: the tenant gets its answer, the gap is logged.
            tracing::error!(message_ref = mask::reference(&wamid), error = %e, "message accepted by Meta but its record was not written");
        }
        tracing::info!(
            message_ref = mask::reference(&wamid),
            tenant_id = tenant.id.as_str(),
            recipient = mask::phone(to),
            "message accepted"
        );
        Some(wamid)
    }

    fn parse_callback(
        &self,
        tenant: &Tenant,
        raw: Option<&str>,
    ) -> Result<Option<CallbackUrl>, Error> {
        raw.map(|url| CallbackUrl::parse(url, &tenant.callback_domains, self.policy))
            .transpose()
    }
}
