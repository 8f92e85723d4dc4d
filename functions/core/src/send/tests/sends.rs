//! Sends: what is recorded of a message Meta accepted (its wa_id and callback), callback URLs
//! inside the tenant's domains only, and `/v1/messages` choosing the tenant's number.

use serde_json::{Value, json};

use super::*;
use crate::memory::GraphAnswer;

#[tokio::test]
async fn a_graph_send_records_the_message_with_metas_wa_id_and_its_callback() {
    let w = world().await;
    let body = json!({"messaging_product": "whatsapp", "to": "+49 151 1234", "type": "text", "text": {"body": "x"}, "callback_url": "https://a.example/cb"});
    w.graph.answer(sent("wamid.ONE", Some("491511234")));
    let r = w
        .graph(&w.a, HttpMethod::Post, "/v23.0/111/messages", None, &body)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let forwarded: Value = serde_json::from_slice(&w.graph.calls.lock().unwrap()[0].body).unwrap();
    assert!(
        forwarded.get("callback_url").is_none(),
        "the gateway's extension is taken out"
    );
    let record = w.messages.get("wamid.ONE").await.unwrap().unwrap();
    assert_eq!(record.tenant_id, w.a.id);
    assert_eq!(record.phone_number_id, "111");
    assert_eq!(record.recipient, "491511234");
    assert_eq!(record.callback_url.as_deref(), Some("https://a.example/cb"));
    // Without contacts in Meta's answer the recipient is what the tenant sent.
    w.graph.answer(sent("wamid.TWO", None));
    let body = json!({"messaging_product": "whatsapp", "to": "4915100000", "type": "text", "text": {"body": "x"}});
    w.graph(&w.a, HttpMethod::Post, "/v23.0/111/messages", None, &body)
        .await
        .unwrap();
    assert_eq!(
        w.messages
            .get("wamid.TWO")
            .await
            .unwrap()
            .unwrap()
            .recipient,
        "4915100000"
    );
    // Meta refusing it records nothing.
    w.graph.answer(GraphAnswer::Json(
        400,
        json!({"messages": [{"id": "wamid.NO"}]}),
    ));
    let r = w
        .graph(&w.a, HttpMethod::Post, "/v23.0/111/messages", None, &body)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(w.messages.get("wamid.NO").await.unwrap().is_none());
}

#[tokio::test]
async fn a_callback_url_outside_the_tenants_domains_is_refused_before_meta() {
    let w = world().await;
    let graph_body = json!({"to": "4915100000", "type": "text", "text": {"body": "x"}, "callback_url": "https://b.example/cb"});
    let err = w
        .graph(
            &w.a,
            HttpMethod::Post,
            "/v23.0/111/messages",
            None,
            &graph_body,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let simple = r#"{"recipient":"4915100000","type":"text","text":{"body":"x"},"callback_url":"https://b.example/cb"}"#;
    let err = w
        .service
        .send_simple(&w.a, simple.as_bytes(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(w.calls(), 0);
}

#[tokio::test]
async fn a_v1_send_uses_the_only_number_and_answers_with_the_wamid() {
    let w = world().await;
    w.graph.answer(sent("wamid.V1", Some("4915112345678")));
    let r = w
        .service
        .send_simple(&w.a, TEXT.as_bytes(), 7)
        .await
        .unwrap();
    assert_eq!(
        (r.status, body_json(&r)),
        (202, json!({"id": "wamid.V1", "status": "accepted"}))
    );
    assert_eq!(w.graph.paths(), ["/v23.0/111/messages"]);
    let status = w.service.message_status(&w.a, "wamid.V1").await.unwrap();
    assert_eq!(body_json(&status)["created_at"], 7);
    let err = w
        .service
        .message_status(&w.b, "wamid.V1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404, "B cannot read A's message");
    // Meta accepting without an id is a 502, not a made-up id.
    w.graph
        .answer(GraphAnswer::Json(200, json!({"messages": []})));
    let err = w
        .service
        .send_simple(&w.a, TEXT.as_bytes(), 7)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 502);
    // Meta's refusal keeps Meta's status and details in the gateway's shape.
    w.graph.answer(GraphAnswer::Json(
        400,
        json!({"error": {"code": 131047, "message": "Re-engagement"}}),
    ));
    let r = w
        .service
        .send_simple(&w.a, TEXT.as_bytes(), 7)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(body_json(&r)["error"]["meta"]["code"], 131047);
    assert_eq!(body_json(&r)["error"]["message"], "Re-engagement");
}

#[tokio::test]
async fn a_v1_send_without_phone_number_id_needs_exactly_one_number() {
    let w = world().await;
    for (phones, needle) in [
        (vec![], "no phone number yet"),
        (vec!["111", "112"], "several"),
    ] {
        let mut t = w.a.clone();
        t.phone_number_ids = phones.iter().map(|p| p.to_string()).collect();
        let err = w
            .service
            .send_simple(&t, TEXT.as_bytes(), 1)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains(needle), "{err}");
    }
    let named = r#"{"recipient":"4915112345678","type":"text","text":{"body":"hi"},"phone_number_id":"222"}"#;
    let err = w
        .service
        .send_simple(&w.a, named.as_bytes(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(w.calls(), 0);
}

#[tokio::test]
async fn a_send_naming_another_tenants_media_is_refused_before_meta_sees_it() {
    let w = world().await;
    // 9001 is B's (uploaded or received by B), 9002 is A's, 9003 nobody's the gateway knows.
    w.tenants
        .record_owner(OwnerKind::Media, "9001", &w.b.id)
        .await
        .unwrap();
    w.tenants
        .record_owner(OwnerKind::Media, "9002", &w.a.id)
        .await
        .unwrap();
    let bodies = [
        json!({"to": "49151", "type": "document", "document": {"id": "9001"}}),
        json!({"to": "49151", "type": "text", "text": {"body": "x"}, "image": {"id": 9001}}),
        json!({"to": "49151", "type": "template", "template": {"name": "t", "language": {"code": "de"},
            "components": [{"type": "header", "parameters": [{"type": "video", "video": {"id": "9001"}}]}]}}),
        json!({"to": "49151", "type": "interactive", "interactive": {"type": "button",
            "header": {"type": "image", "image": {"id": "9001"}}, "body": {"text": "x"}}}),
    ];
    for body in &bodies {
        let err = w
            .graph(&w.a, HttpMethod::Post, "/v23.0/111/messages", None, body)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 403, "{body}");
    }
    let simple = r#"{"recipient":"49151","type":"image","image":{"id":"9001"}}"#;
    let err = w
        .service
        .send_simple(&w.a, simple.as_bytes(), 1)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(w.calls(), 0, "Meta saw none of them");
    // The tenant's own media, and media the gateway never saw, still go to Meta.
    for id in ["9002", "9003"] {
        w.graph.answer(sent(&format!("wamid.{id}"), None));
        let body = json!({"to": "49151", "type": "document", "document": {"id": id}});
        let r = w
            .graph(&w.a, HttpMethod::Post, "/v23.0/111/messages", None, &body)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{id}");
    }
    assert_eq!(w.calls(), 2);
}

#[tokio::test]
async fn media_ids_in_any_spelling_or_in_the_query_are_checked_and_odd_ones_refused() {
    let w = world().await;
    w.tenants
        .record_owner(OwnerKind::Media, "1234567890123456", &w.b.id)
        .await
        .unwrap();
    let send = |query: Option<&'static str>, body: Value| {
        let w = &w;
        async move {
            w.graph(&w.a, HttpMethod::Post, "/v23.0/111/messages", query, &body)
                .await
                .unwrap_err()
                .status()
        }
    };
    let text = json!({"to": "49151", "type": "text", "text": {"body": "x"}});
    // Another case of the key, and the id in the query rather than the body.
    assert_eq!(
        send(
            None,
            json!({"to": "49151", "type": "image", "Image": {"id": "1234567890123456"}})
        )
        .await,
        403
    );
    assert_eq!(
        send(
            Some("image=%7B%22id%22%3A%221234567890123456%22%7D"),
            text.clone()
        )
        .await,
        403
    );
    assert_eq!(
        send(
            Some("template=%7B%22components%22%3A%5B%7B%22parameters%22%3A%5B%7B%22type%22%3A%22image%22%2C%22image%22%3A%7B%22id%22%3A1234567890123456%7D%7D%5D%7D%5D%7D"),
            text.clone()
        )
        .await,
        403
    );
    // Spellings that could read as that id are not ids: refused, not looked up and passed.
    for odd in [
        json!(1.234567890123456e15),
        json!(" 1234567890123456"),
        json!("01234567890123456"),
        json!(["1"]),
    ] {
        let body = json!({"to": "49151", "type": "image", "image": {"id": odd}});
        assert_eq!(send(None, body).await, 400, "{odd}");
    }
    // More media than a message can carry is refused before any lookup.
    let many: Vec<Value> = (1..=21)
        .map(|i| json!({"image": {"id": i.to_string()}}))
        .collect();
    assert_eq!(
        send(None, json!({"to": "49151", "type": "text", "x": many})).await,
        400
    );
    assert_eq!(w.calls(), 0, "Meta saw none of them");
}
