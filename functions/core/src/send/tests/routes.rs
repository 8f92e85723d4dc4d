//! Ownership on every route, and the bookkeeping of what Meta answered.

use serde_json::{Value, json};

use super::*;
use crate::memory::GraphAnswer;

#[tokio::test]
async fn a_key_is_its_tenants_and_a_suspended_or_unknown_key_is_refused() {
    let w = world().await;
    assert_eq!(
        w.service.authenticate(Some("key-a")).await.unwrap().id,
        w.a.id
    );
    assert_eq!(
        w.service.authenticate(Some("key-b")).await.unwrap().id,
        w.b.id
    );
    for key in [Some("key-c"), Some(""), None] {
        assert_eq!(w.service.authenticate(key).await.unwrap_err().status(), 401);
    }
    let mut suspended = w.a.clone();
    suspended.active = false;
    w.tenants.add(suspended, &[], &[]);
    let err = w.service.authenticate(Some("key-a")).await.unwrap_err();
    assert_eq!(err.status(), 401, "a suspended tenant's key is refused");
}

#[tokio::test]
async fn another_tenants_phone_waba_and_template_are_403_and_meta_is_never_called() {
    let w = world().await;
    let text = json!({"messaging_product": "whatsapp", "to": "4915112345678", "type": "text", "text": {"body": "x"}});
    use HttpMethod::*;
    let tries: [(HttpMethod, &str, Option<&str>); 6] = [
        (Post, "/v23.0/222/messages", None),
        (Post, "/v23.0/222/media", None),
        (Get, "/v23.0/22/message_templates", None),
        (Post, "/v23.0/22/message_templates", None),
        (
            Delete,
            "/v23.0/22/message_templates",
            Some("name=b_template"),
        ),
        (Post, "/v23.0/999/messages", None),
    ];
    for (method, path, query) in tries {
        let err = w.graph(&w.a, method, path, query, &text).await.unwrap_err();
        assert_eq!(err.status(), 403, "{method:?} {path}");
    }
    assert_eq!(w.calls(), 0, "nothing reached Meta");
    w.graph(&w.a, Post, "/v23.0/111/messages", None, &text)
        .await
        .unwrap();
    assert_eq!(w.graph.paths(), ["/v23.0/111/messages"]);
}

#[tokio::test]
async fn templates_meta_lists_or_creates_become_the_tenants_and_only_theirs() {
    let w = world().await;
    use HttpMethod::*;
    w.graph.answer(GraphAnswer::Json(
        200,
        json!({"data": [{"id": "501"}, {"id": "502"}]}),
    ));
    w.graph(&w.a, Get, "/v23.0/11/message_templates", None, &json!({}))
        .await
        .unwrap();
    w.graph.answer(GraphAnswer::Json(
        200,
        json!({"id": "503", "status": "PENDING"}),
    ));
    w.graph(
        &w.a,
        Post,
        "/v23.0/11/message_templates",
        None,
        &json!({"name": "t"}),
    )
    .await
    .unwrap();
    // A failed create records nothing, even when Meta's error names an id.
    w.graph.answer(GraphAnswer::Json(
        400,
        json!({"id": "504", "error": {"code": 100}}),
    ));
    w.graph(
        &w.a,
        Post,
        "/v23.0/11/message_templates",
        None,
        &json!({"name": "t"}),
    )
    .await
    .unwrap();
    for id in ["501", "502", "503"] {
        let edit = format!("/v23.0/{id}");
        w.graph(&w.a, Post, &edit, None, &json!({"category": "UTILITY"}))
            .await
            .unwrap();
        let err = w
            .graph(&w.b, Post, &edit, None, &json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 403, "B edits A's template {id}");
    }
    let err = w
        .graph(&w.a, Post, "/v23.0/504", None, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403, "an id from an error answer is nobody's");
    assert_eq!(w.calls(), 6);
}

#[tokio::test]
async fn calls_that_take_webhooks_away_or_are_app_level_are_refused_before_meta() {
    let w = world().await;
    use HttpMethod::*;
    let tries: [(HttpMethod, &str, Value); 4] = [
        (
            Post,
            "/v23.0/11/subscribed_apps",
            json!({"override_callback_uri": "https://evil.example", "verify_token": "x"}),
        ),
        (Delete, "/v23.0/11/subscribed_apps", json!({})),
        (
            Post,
            "/v23.0/111",
            json!({"webhook_configuration": {"override_callback_uri": "https://evil.example"}}),
        ),
        (
            Post,
            "/v23.0/11/subscriptions",
            json!({"object": "whatsapp_business_account"}),
        ),
    ];
    for (method, path, body) in tries {
        let err = w.graph(&w.a, method, path, None, &body).await.unwrap_err();
        assert_eq!(err.status(), 403, "{method:?} {path}");
        assert!(err.to_string().contains("operator"), "{err}");
    }
    assert_eq!(w.calls(), 0);
    // Reading the subscription and a two-step PIN on the tenant's own number go through.
    w.graph(&w.a, Get, "/v23.0/11/subscribed_apps", None, &json!({}))
        .await
        .unwrap();
    w.graph(
        &w.a,
        Post,
        "/v23.0/111",
        None,
        &json!({"pin": "123456", "data_localization_region": "DE"}),
    )
    .await
    .unwrap();
    assert_eq!(w.graph.paths(), ["/v23.0/11/subscribed_apps", "/v23.0/111"]);
}

#[tokio::test]
async fn every_phone_and_waba_route_of_the_table_checks_the_owner_with_and_without_a_version() {
    use crate::http::graph_route::ROUTES;
    let w = world().await;
    for rule in ROUTES {
        if matches!(rule.action, crate::http::graph_route::Action::Refuse(_)) {
            continue;
        }
        let (mine, theirs) = match rule.subjects.first() {
            Some(OwnerKind::Phone) if rule.subjects.len() == 1 => ("111", "222"),
            Some(OwnerKind::Waba) => ("11", "22"),
            _ => continue,
        };
        let tail: Vec<&str> = rule
            .tail
            .iter()
            .map(|t| if *t == "{code}" { "QR1" } else { t })
            .collect();
        for &method in rule.methods {
            for version in ["/v23.0", ""] {
                let path = |id: &str| format!("{version}/{id}/{}", tail.join("/"));
                let before = w.calls();
                let err = w
                    .graph(&w.a, method, &path(theirs), None, &json!({"x": 1}))
                    .await
                    .unwrap_err();
                assert_eq!(err.status(), 403, "{method:?} {}", path(theirs));
                assert_eq!(
                    w.calls(),
                    before,
                    "{method:?} {} reached Meta",
                    path(theirs)
                );
                w.graph(&w.a, method, &path(mine), None, &json!({"to": "1"}))
                    .await
                    .unwrap();
                let sent = w.graph.paths().pop().unwrap();
                assert_eq!(
                    sent,
                    format!("/v23.0/{mine}/{}", tail.join("/")),
                    "{method:?}"
                );
            }
        }
    }
    assert!(w.calls() > 40, "the table has its routes");
}

#[tokio::test]
async fn a_webhook_override_is_refused_in_the_query_or_a_form_and_named_ids_must_be_owned() {
    let w = world().await;
    use HttpMethod::*;
    let err = w
        .graph(
            &w.a,
            Post,
            "/v23.0/111",
            Some("webhook_configuration=%7B%7D"),
            &json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    let route = GraphRoute::parse(Post, "/v23.0/111").unwrap();
    let form =
        b"webhook_configuration=%7B%22override_callback_uri%22%3A%22https%3A%2F%2Fevil%22%7D";
    let call = GraphCall {
        method: Post,
        route: &route,
        query: None,
        content_type: Some("application/x-www-form-urlencoded"),
        body: form,
        public_base: "https://gw",
    };
    assert_eq!(
        w.service.graph(&w.a, call, 0).await.unwrap_err().status(),
        403
    );
    // Ids named besides the path: B's template and flow are not A's to delete or clone.
    w.tenants
        .record_owner(OwnerKind::Template, "8001", &w.b.id)
        .await
        .unwrap();
    w.tenants
        .record_owner(OwnerKind::Flow, "8002", &w.b.id)
        .await
        .unwrap();
    let err = w
        .graph(
            &w.a,
            Delete,
            "/v23.0/11/message_templates",
            Some("name=x&hsm_id=8001"),
            &json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    let err = w
        .graph(
            &w.a,
            Post,
            "/v23.0/11/flows",
            None,
            &json!({"name": "copy", "clone_flow_id": "8002"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    // The same id as a JSON number.
    let err = w
        .graph(
            &w.a,
            Post,
            "/v23.0/11/flows",
            None,
            &json!({"name": "copy", "clone_flow_id": 8002}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(w.calls(), 0);
    // A leading zero would miss the owner record of the id without it.
    assert_eq!(
        w.graph(
            &w.b,
            Get,
            "/v23.0/0111/whatsapp_business_profile",
            None,
            &json!({})
        )
        .await
        .unwrap_err()
        .status(),
        400
    );
    // With its own ids, A goes through.
    w.tenants
        .record_owner(OwnerKind::Template, "8003", &w.a.id)
        .await
        .unwrap();
    w.graph(
        &w.a,
        Delete,
        "/v23.0/11/message_templates",
        Some("name=x&hsm_id=8003"),
        &json!({}),
    )
    .await
    .unwrap();
    assert_eq!(w.calls(), 1);
}
