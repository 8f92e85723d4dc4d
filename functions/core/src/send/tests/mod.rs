//! The send service over in-memory ports: keys, ownership, bookkeeping and Idempotency-Key.
//! Every test checks what the fake Graph API was sent, not only what the tenant got back.

mod idempotency;
mod media;
mod media_download;
mod routes;
mod sends;

use serde_json::{Value, json};

use super::*;
use crate::format::DeliveryFormat;
use crate::memory::{GraphAnswer, MemoryIdempotency, MemoryMessages, MemoryTenants, ScriptedGraph};
use crate::ports::{GraphResponse, HttpMethod, MessageStore, OwnerKind, TenantDirectory};
use crate::signature::Secret;
use crate::tenant::{TenantId, WebhookSecret};

type Service = SendService<MemoryTenants, MemoryMessages, MemoryIdempotency, ScriptedGraph>;

pub(super) struct World {
    pub(super) service: Service,
    pub(super) tenants: MemoryTenants,
    pub(super) messages: MemoryMessages,
    pub(super) idempotency: MemoryIdempotency,
    pub(super) graph: ScriptedGraph,
    pub(super) a: Tenant,
    pub(super) b: Tenant,
}

pub(super) fn tenant(id: &str, phones: &[&str]) -> Tenant {
    Tenant {
        id: TenantId::new(id),
        name: id.into(),
        webhook_url: format!("https://{id}.example/hook"),
        webhook_secrets: vec![WebhookSecret {
            secret: Secret::new(format!("whsec_{id}")),
            expires_at: None,
        }],
        format: DeliveryFormat::Meta,
        callback_domains: vec![format!("{id}.example")],
        phone_number_ids: phones.iter().map(|p| p.to_string()).collect(),
        active: true,
        destinations: Default::default(),
    }
}

/// Tenant A owns phone 111 and WABA 11 (key `key-a`); B owns 222 and 22 (`key-b`).
pub(super) async fn world() -> World {
    let tenants = MemoryTenants::default();
    let (a, b) = (tenant("a", &["111"]), tenant("b", &["222"]));
    tenants.add(a.clone(), &["111"], &["11"]);
    tenants.add(b.clone(), &["222"], &["22"]);
    for (key, t) in [("key-a", &a), ("key-b", &b)] {
        tenants
            .record_owner(
                OwnerKind::ApiKey,
                crate::ids::ApiKey::new(key).hash().as_str(),
                &t.id,
            )
            .await
            .unwrap();
    }
    let (messages, idempotency, graph) = Default::default();
    let service = SendService::new(
        tenants.clone(),
        MemoryMessages::clone(&messages),
        MemoryIdempotency::clone(&idempotency),
        ScriptedGraph::clone(&graph),
        TargetPolicy::PublicHttpsOnly,
        "v23.0".into(),
    );
    World {
        service,
        tenants,
        messages,
        idempotency,
        graph,
        a,
        b,
    }
}

pub(super) fn sent(wamid: &str, wa_id: Option<&str>) -> GraphAnswer {
    let mut body = json!({"messaging_product": "whatsapp", "messages": [{"id": wamid}]});
    if let Some(wa_id) = wa_id {
        body["contacts"] = json!([{"input": "+49 151", "wa_id": wa_id}]);
    }
    GraphAnswer::Json(200, body)
}

pub(super) fn body_json(response: &ApiResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

impl World {
    pub(super) async fn graph(
        &self,
        tenant: &Tenant,
        method: HttpMethod,
        path: &str,
        query: Option<&str>,
        body: &Value,
    ) -> Result<ApiResponse, Error> {
        let route = GraphRoute::parse(method, path)?;
        let body = body.to_string().into_bytes();
        let call = GraphCall {
            method,
            route: &route,
            query,
            content_type: Some("application/json"),
            body: &body,
            public_base: "https://gw.example",
        };
        self.service.graph(tenant, call, 1_700_000_000).await
    }

    pub(super) async fn send_with_key(
        &self,
        tenant: &Tenant,
        key: &str,
        body: &str,
    ) -> Result<ApiResponse, Error> {
        self.service
            .idempotent(
                tenant,
                Some(key),
                body.as_bytes(),
                1_700_000_000,
                self.service.send_simple(tenant, body.as_bytes(), 1),
            )
            .await
    }

    pub(super) fn calls(&self) -> usize {
        self.graph.calls.lock().unwrap().len()
    }
}

pub(super) const TEXT: &str =
    r#"{"recipient":"+4915112345678","type":"text","text":{"body":"hi"}}"#;
