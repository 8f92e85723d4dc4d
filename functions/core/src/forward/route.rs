//! Where an event goes: the per-message callback, the owner of its phone number or WABA and
//! that tenant's destination for it; and the media an inbound event makes the tenant's.

use super::Forwarder;
use crate::Error;
use crate::deliveries::DeliveryLog;
use crate::endpoint_health::EndpointHealth;
use crate::mask;
use crate::meta::media_ids;
use crate::meta::{Event, EventKind};
use crate::ports::{
    IdempotencyStore, MessageStore, OwnerKind, TenantDirectory, UnroutableStore, WebhookSender,
};
use crate::tenant::Tenant;

impl<I, T, M, W, P, H> Forwarder<I, T, M, W, P, H>
where
    I: IdempotencyStore + DeliveryLog,
    T: TenantDirectory,
    M: MessageStore,
    W: WebhookSender,
    P: UnroutableStore,
    H: EndpointHealth,
{
    /// Media in an inbound event (a message, an echo, a history thread, a standby message)
    /// is the routed tenant's to fetch through `GET /v1/media/{id}`.
    pub(super) async fn remember_inbound_media(&self, event: &Event, tenant: &Tenant) {
        if event.kind == EventKind::Status {
            return;
        }
        for media_id in media_ids(event.item.get()) {
            if let Err(e) = self
                .tenants
                .record_owner(OwnerKind::Media, &media_id, &tenant.id)
                .await
            {
                tracing::warn!(event_ref = %mask::reference(event.id.as_str()), error = %e, "could not record the media's owner");
            }
        }
    }

    /// The tenant and URL for `event`: a status of a message sent with a `callback_url` goes
    /// there; otherwise the owner of the phone number, or of the WABA, to the destination it
    /// set for this event (`None`: its fields filter the event out).
    pub(super) async fn route(
        &self,
        event: &Event,
        now: i64,
    ) -> Result<Option<(Tenant, Option<String>)>, Error> {
        if event.kind == EventKind::Status
            && let (Some(wamid), Some(status)) = (&event.wamid, &event.status)
        {
            let at = event
                .status_timestamp
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or(now);
            let record = self.messages.record_status(wamid, status, at).await?;
            if let Some(record) = record
                && let Some(callback) = record.callback_url
                && let Some(tenant) = self.tenants.tenant(&record.tenant_id).await?
            {
                return Ok(Some((tenant, Some(callback))));
            }
        }
        let owner = match &event.phone_number_id {
            Some(phone) => self.tenants.owner(OwnerKind::Phone, phone).await?,
            None => None,
        };
        let owner = match owner {
            Some(id) => Some(id),
            None => self.tenants.owner(OwnerKind::Waba, &event.waba_id).await?,
        };
        let Some(id) = owner else { return Ok(None) };
        Ok(self.tenants.tenant(&id).await?.map(|t| {
            let url = t.destination(event);
            (t, url)
        }))
    }
}
