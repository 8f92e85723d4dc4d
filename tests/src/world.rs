//! The Arrange the tenant API's end-to-end tests repeat, written once: a stack (on whichever
//! target `GATEWAY_E2E_TARGET` names) with the fake Graph API, a receiver, tenant A owning the
//! fixtures' phone number and WABA and delivering to the receiver, tenant B owning another
//! number; and a [`TenantClient`] that calls as one tenant and checks the status it expects.

use gateway_core::admin::NewTenant;
use gateway_core::admin::TenantWriter;
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::OwnerKind;
use gateway_core::tenant::TenantId;
use gateway_local::fake_graph::FakeGraph;
use serde_json::Value;

use crate::{
    PHONE_NUMBER_ID, Receiver, Stack, http, other_tenant, stack_with_fake_graph,
    tenant_for_fixtures,
};

pub struct World {
    pub stack: Stack,
    pub graph: FakeGraph,
    pub receiver: Receiver,
    /// Tenant A: the fixtures' number and WABA, delivering to `receiver`.
    pub tenant: NewTenant,
    /// Tenant B: `OTHER_PHONE` and `OTHER_WABA`.
    pub other: NewTenant,
}

impl World {
    pub async fn start(name: &str) -> World {
        let (stack, graph) = stack_with_fake_graph(name).await;
        let receiver = Receiver::start(vec![200]).await;
        let tenant = tenant_for_fixtures(
            &stack,
            &format!("{}/hook", receiver.url),
            DeliveryFormat::Meta,
        )
        .await;
        receiver.set_secret(&tenant.webhook_secret);
        let other = other_tenant(&stack).await;
        World {
            stack,
            graph,
            receiver,
            tenant,
            other,
        }
    }

    /// Calls as tenant A.
    pub fn a(&self) -> TenantClient {
        self.client(&self.tenant.api_key)
    }

    /// Calls as tenant B.
    pub fn b(&self) -> TenantClient {
        self.client(&self.other.api_key)
    }

    /// Calls with `key`, whoever's it is (or nobody's).
    pub fn client(&self, key: &str) -> TenantClient {
        TenantClient {
            base: self.stack.url(),
            key: key.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.url())
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.client(key).send("POST", path, Some(body)).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.client(key).send("GET", path, None).await
    }

    /// Uploads `image` as a PNG on the fixtures' phone number, as an SDK's multipart upload.
    pub async fn upload_png(&self, key: &str, image: &[u8]) -> (u16, Value) {
        let boundary = "gatewayboundary";
        let mut multipart = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
        multipart.extend_from_slice(image);
        multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let upload = http()
            .post(self.url(&format!("/v23.0/{PHONE_NUMBER_ID}/media")))
            .bearer_auth(key)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart)
            .send()
            .await
            .unwrap();
        status_and_json(upload).await
    }

    /// Media `id` (added to the fake Graph API) becomes tenant A's, as an upload through the
    /// gateway would make it.
    pub async fn give_media_to_a(&self, id: &str) {
        self.stack
            .tenants()
            .add_owner(
                OwnerKind::Media,
                id,
                &TenantId::new(self.tenant.tenant_id.clone()),
            )
            .await
            .unwrap();
    }

    /// How many sends the fake Graph API saw to `recipient`.
    pub fn sends_to(&self, recipient: &str) -> usize {
        self.graph
            .seen()
            .iter()
            .filter(|r| {
                r.path.ends_with("/messages")
                    && String::from_utf8_lossy(&r.body).contains(recipient)
            })
            .count()
    }
}

/// One tenant's calls to the stack, each checked against the status the test expects: a
/// mismatch fails with the method, path, status and body, not a bare `left != right`.
pub struct TenantClient {
    base: String,
    key: String,
}

impl TenantClient {
    pub async fn get(&self, path: &str, expect: u16) -> Value {
        self.expect("GET", path, None, expect).await
    }

    pub async fn post(&self, path: &str, body: &Value, expect: u16) -> Value {
        self.expect("POST", path, Some(body), expect).await
    }

    pub async fn delete(&self, path: &str, expect: u16) -> Value {
        self.expect("DELETE", path, None, expect).await
    }

    async fn expect(&self, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Value {
        let (status, answer) = self.send(method, path, body).await;
        assert_eq!(
            status, expect,
            "{method} {path} answered {status}: {answer}"
        );
        answer
    }

    /// The status and JSON answer (`Null` when it is not JSON), unchecked.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = http()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        status_and_json(request.send().await.unwrap()).await
    }
}

pub async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
