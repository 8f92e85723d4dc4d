//! Real time over in-memory ports: frames, scope, tokens and connect, and the forwarder's
//! fan-out beside the webhook. This module holds the shared fixtures; the tests are grouped
//! by what they exercise.

mod bounds;
mod connect;
mod fanout;

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::format::DeliveryFormat;
use crate::forward::{ForwardConfig, ForwardPorts, Forwarder, Outcome};
use crate::memory::*;
use crate::meta::split::split_events;
use crate::ports::{DeliveryResult, TenantDirectory};
use crate::retry::FailureKind;
use crate::signature::Secret;
use crate::tenant::{Tenant, WebhookSecret};

const MESSAGE: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"P"},"contacts":[{"profile":{"name":"J\u00fcrgen"},"wa_id":"491"}],"messages":[{"from":"491","id":"wamid.M1","timestamp":"1700000000","type":"text","text":{"body":"Gr\u00fc\u00dfe \/ hi"}}]},"field":"messages"}]}]}"#;
const STATUS: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"P"},"statuses":[{"id":"wamid.1","status":"read","timestamp":"50","recipient_id":"1"}]},"field":"messages"}]}]}"#;
const TEMPLATE: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","time":1700000000,"changes":[{"value":{"event":"APPROVED","message_template_id":12345678901234567},"field":"message_template_status_update"}]}]}"#;

fn tenant(id: &str, phone: &str) -> Tenant {
    Tenant {
        id: TenantId::new(id),
        name: id.into(),
        webhook_url: format!("https://{id}.example/hook"),
        webhook_secrets: vec![WebhookSecret {
            secret: Secret::new(format!("whsec_{id}")),
            expires_at: None,
        }],
        format: DeliveryFormat::Meta,
        callback_domains: vec![],
        phone_number_ids: vec![phone.into()],
        active: true,
        destinations: Default::default(),
    }
}

type TestService = RealtimeService<MemoryTenants, MemoryConnections, MemoryTokenKey>;

fn token_of(response: &crate::send::ApiResponse) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    let url = body["url"].as_str().unwrap();
    url.strip_prefix("wss://rt.example/prod?token=")
        .unwrap()
        .to_owned()
}

fn unverified_claims(tenant: &str, expires_at: i64) -> Claims {
    Claims {
        tenant: TenantId::new(tenant),
        expires_at,
        issued_at: expires_at - 300,
        scope: Scope::default(),
        nonce: "n".into(),
        key_id: String::new(),
    }
}
