//! Tenant isolation as a table: tenant B tries tenant A's ids on every route of the gateway's
//! Graph route table, every way a path or query can spell them. Every try is refused, and the
//! fake Graph API receives nothing from B.

use gateway_core::ports::{HttpMethod, OwnerKind};
use gateway_core::send::ROUTES;
use gateway_tests::*;
use serde_json::{Value, json};

/// The ids tenant A owns, learnt the way A's SDK would learn them.
pub(super) struct Owned {
    pub(super) template: String,
    pub(super) flow: String,
    media: String,
    qr: String,
}

async fn call(stack: &Stack, key: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = http()
        .request(method, format!("{}{path}", stack.url()))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) async fn owned_by_a(stack: &Stack, key: &str) -> Owned {
    let (_, templates) = call(
        stack,
        key,
        "GET",
        &format!("/v23.0/{WABA_ID}/message_templates"),
        &json!({}),
    )
    .await;
    let (_, flows) = call(
        stack,
        key,
        "GET",
        &format!("/v23.0/{WABA_ID}/flows"),
        &json!({}),
    )
    .await;
    let (_, qr) = call(
        stack,
        key,
        "POST",
        &format!("/v23.0/{PHONE_NUMBER_ID}/message_qrdls"),
        &json!({"prefilled_message": "hi", "generate_qr_image": "PNG"}),
    )
    .await;
    let boundary = "b0undary";
    let upload = http()
        .post(format!("{}/v23.0/{PHONE_NUMBER_ID}/media", stack.url()))
        .bearer_auth(key)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG-of-A\r\n--{boundary}--\r\n"))
        .send()
        .await
        .unwrap();
    let media: Value = serde_json::from_str(&upload.text().await.unwrap()).unwrap();
    Owned {
        template: templates["data"][0]["id"].as_str().unwrap().to_owned(),
        flow: flows["data"][0]["id"].as_str().unwrap().to_owned(),
        media: media["id"].as_str().unwrap().to_owned(),
        qr: qr["code"].as_str().unwrap().to_owned(),
    }
}

/// Every spelling of `id` in a path: raw, versionless, one digit percent-encoded, padded.
fn spellings(id: &str, tail: &str) -> Vec<String> {
    let encoded = format!("%{:02X}{}", id.as_bytes()[0], &id[1..]);
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    };
    vec![
        format!("/v23.0/{id}{tail}"),
        format!("/{id}{tail}"),
        format!("/v23.0/{encoded}{tail}"),
        format!("/v23.0/{id}{tail}/"),
        format!("/v23.0//{id}{tail}"),
        format!("/v23.0/{id}%2F{tail}"),
    ]
}

/// The query tricks: none, A's number named, named twice, a percent-encoded key, B's own number.
fn queries() -> Vec<String> {
    let a = PHONE_NUMBER_ID;
    vec![
        String::new(),
        format!("?phone_number_id={a}"),
        format!("?phone_number_id={OTHER_PHONE}&phone_number_id={a}"),
        format!("?phone%5Fnumber%5Fid={a}"),
        format!("?phone_number_id={OTHER_PHONE}"),
    ]
}

/// The world (tenant A on the fixtures' number and WABA, tenant B on its own) and the objects
/// tenant A learnt.
pub(super) async fn arrange(name: &str) -> (World, Owned) {
    let world = World::start(name).await;
    let owned = owned_by_a(&world.stack, &world.tenant.api_key).await;
    (world, owned)
}

/// A route table method as an HTTP method's name.
pub(super) fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
    }
}

#[tokio::test]
async fn tenant_b_reaches_none_of_tenant_as_objects_on_any_route_however_spelled() {
    let (world, owned) = arrange("isolation").await;
    let World {
        stack,
        graph,
        tenant: a,
        other: b,
        ..
    } = &world;
    let before = graph.seen().len();

    let mut tries = 0;
    let mut failures = Vec::new();
    for rule in ROUTES {
        let tail = rule
            .tail
            .iter()
            .map(|t| if *t == "{code}" { owned.qr.as_str() } else { t })
            .collect::<Vec<_>>()
            .join("/");
        // A's id of every kind this rule acts on (refused rules get A's WABA and number).
        let ids: Vec<&str> = match rule.subjects {
            [] => vec![WABA_ID, PHONE_NUMBER_ID],
            kinds => kinds
                .iter()
                .map(|k| match k {
                    OwnerKind::Phone => PHONE_NUMBER_ID,
                    OwnerKind::Waba => WABA_ID,
                    OwnerKind::Template => owned.template.as_str(),
                    OwnerKind::Flow => owned.flow.as_str(),
                    OwnerKind::Media => owned.media.as_str(),
                    OwnerKind::ApiKey => unreachable!("no route acts on a key"),
                })
                .collect(),
        };
        for method in rule.methods {
            let method = method_name(method);
            for id in &ids {
                for path in spellings(id, &tail) {
                    for query in queries() {
                        let body = json!({"messaging_product": "whatsapp", "to": "4915112345678", "type": "text", "text": {"body": "x"}});
                        let (status, answer) =
                            call(stack, &b.api_key, method, &format!("{path}{query}"), &body).await;
                        tries += 1;
                        if ![400, 403, 404].contains(&status) {
                            failures.push(format!("{method} {path}{query}: {status} {answer}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tries} tries got through:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let reached: Vec<_> = graph.seen().into_iter().skip(before).collect();
    assert!(reached.is_empty(), "B's tries reached Meta: {reached:?}");
    assert!(tries > 1000, "the table was walked ({tries} tries)");
    // A still reaches every one of them.
    assert_eq!(
        call(
            stack,
            &a.api_key,
            "GET",
            &format!("/v23.0/{}", owned.media),
            &json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            stack,
            &a.api_key,
            "DELETE",
            &format!("/{PHONE_NUMBER_ID}/message_qrdls/{}", owned.qr),
            &json!({})
        )
        .await
        .0,
        200
    );
}

mod bodies;
