//! Media: whose an id is (the uploader's, or one of the tenant's numbers'), and what is probed
//! before an unseen id is read. Downloads are in `media_download.rs`.

use serde_json::json;

use super::*;
use crate::memory::GraphAnswer;

#[tokio::test]
async fn media_is_the_uploaders_and_otherwise_needs_one_of_the_tenants_numbers() {
    let w = world().await;
    use HttpMethod::*;
    w.graph
        .answer(GraphAnswer::Json(200, json!({"id": "7001"})));
    w.graph(&w.a, Post, "/v23.0/111/media", None, &json!({}))
        .await
        .unwrap();
    assert_eq!(
        w.tenants.owner(OwnerKind::Media, "7001").await.unwrap(),
        Some(w.a.id.clone())
    );
    w.graph(&w.a, Get, "/v23.0/7001", None, &json!({}))
        .await
        .unwrap();
    let refused: [(&Tenant, &str, Option<&str>, u16); 10] = [
        (&w.b, "/v23.0/7001", None, 403),
        // B's own number does not make A's media B's.
        (&w.b, "/v23.0/7001", Some("phone_number_id=222"), 403),
        (&w.b, "/7001", None, 403),
        (&w.b, "/v23.0/7001", Some("phone_number_id=111"), 403),
        (
            &w.b,
            "/v23.0/7001",
            Some("phone_number_id=222&phone_number_id=111"),
            400,
        ),
        (&w.b, "/v23.0/7001", Some("phone%5Fnumber%5Fid=111"), 403),
        (
            &w.b,
            "/v23.0/7001",
            Some("phone_number_id=222&phone%5Fnumber%5Fid=111"),
            400,
        ),
        (&w.a, "/v23.0/7002", None, 403),
        // A's own media, but another tenant's number in any spelling of the key.
        (&w.a, "/v23.0/7001", Some("PHONE_NUMBER_ID=222"), 403),
        (&w.a, "/v23.0/7001", Some("Phone_Number_Id=222"), 403),
    ];
    for (t, path, query, status) in refused {
        for method in [Get, Delete] {
            let err = w
                .graph(t, method, path, query, &json!({}))
                .await
                .unwrap_err();
            assert_eq!(
                err.status(),
                status,
                "{} {method:?} {path}?{query:?}",
                t.id.as_str()
            );
        }
    }
    let err = w
        .graph(
            &w.a,
            Get,
            "/v23.0/7002",
            Some("phone_number_id=x1"),
            &json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400, "a phone number id that is not numeric");
    // Unseen media with the tenant's own number goes to Meta, which checks it; only an answer
    // that is a media description makes it the tenant's.
    let media = json!({"messaging_product": "whatsapp", "url": "https://lookaside.fbsbx.com/m", "mime_type": "image/png", "sha256": "00", "file_size": 1, "id": "7002"});
    w.graph.answer(GraphAnswer::Json(200, media));
    let r = w
        .graph(
            &w.a,
            Get,
            "/v23.0/7002",
            Some("phone_number_id=111"),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(
        body_json(&r)["url"],
        "https://gw.example/v1/media/7002?phone_number_id=111"
    );
    assert_eq!(
        w.tenants.owner(OwnerKind::Media, "7002").await.unwrap(),
        Some(w.a.id.clone())
    );
    assert_eq!(
        w.graph.paths()[1..],
        ["/v23.0/7001", "/v23.0/7002?phone_number_id=111"]
    );
    // An id that is not media (a template, a flow, another tenant's number: Meta ignores
    // `phone_number_id` for those) is refused and its answer never reaches the tenant.
    for method in [Get, Delete] {
        w.graph.answer(GraphAnswer::Json(
            200,
            json!({"id": "7003", "name": "secret_template", "status": "APPROVED"}),
        ));
        let err = w
            .graph(
                &w.a,
                method,
                "/v23.0/7003",
                Some("phone_number_id=111"),
                &json!({}),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), 403, "{method:?}");
    }
    let probes = w
        .graph
        .calls
        .lock()
        .unwrap()
        .iter()
        .skip(3)
        .map(|c| c.method)
        .collect::<Vec<_>>();
    assert_eq!(probes, [Get, Get], "only the probes, never the DELETE");
    // Unseen media deleted: probed, then deleted.
    w.graph.answer(GraphAnswer::Json(
        200,
        json!({"messaging_product": "whatsapp", "id": "7004", "url": "u", "mime_type": "image/png", "sha256": "0"}),
    ));
    w.graph(
        &w.a,
        Delete,
        "/v23.0/7004",
        Some("phone_number_id=111"),
        &json!({}),
    )
    .await
    .unwrap();
    let last: Vec<_> = w
        .graph
        .calls
        .lock()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .map(|c| c.method)
        .collect();
    assert_eq!(last, [Delete, Get]);
}

#[tokio::test]
async fn an_id_another_tenant_holds_as_any_kind_is_never_probed_or_read_as_media() {
    let w = world().await;
    use HttpMethod::*;
    // A's number, A's template, and an id B once captured as media while A has it as a template.
    w.tenants
        .record_owner(OwnerKind::Template, "7101", &w.a.id)
        .await
        .unwrap();
    w.tenants
        .record_owner(OwnerKind::Template, "7102", &w.a.id)
        .await
        .unwrap();
    w.tenants
        .record_owner(OwnerKind::Media, "7102", &w.b.id)
        .await
        .unwrap();
    for id in ["111", "11", "7101", "7102"] {
        for method in [Get, Delete] {
            let path = format!("/v23.0/{id}");
            let err = w
                .graph(&w.b, method, &path, Some("phone_number_id=222"), &json!({}))
                .await
                .unwrap_err();
            assert_eq!(err.status(), 403, "{method:?} {path}");
        }
        let err = w
            .service
            .media_bytes(&w.b, id, Some("phone_number_id=222"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 403, "/v1/media/{id}");
    }
    assert_eq!(w.calls(), 0, "nothing of A's reached Meta");
}

#[tokio::test]
async fn the_probe_sends_only_the_number_and_needs_an_answer_about_this_very_media() {
    let w = world().await;
    use HttpMethod::*;
    // Another id in the answer (an alias, another object): refused.
    w.graph.answer(GraphAnswer::Json(200, json!({"messaging_product": "whatsapp", "id": "9999", "url": "u", "mime_type": "m", "sha256": "s"})));
    let err = w
        .graph(
            &w.b,
            Get,
            "/v23.0/7201",
            Some("phone_number_id=222&fields=name"),
            &json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(
        w.graph.paths(),
        ["/v23.0/7201?phone_number_id=222"],
        "the tenant's fields never went along"
    );
    assert_eq!(
        w.tenants.owner(OwnerKind::Media, "7201").await.unwrap(),
        None
    );
    // Meta's refusal is not passed on either: it would tell B whether the id exists.
    w.graph.answer(GraphAnswer::Json(
        400,
        json!({"error": {"code": 100, "message": "Object with ID '7202' does not exist"}}),
    ));
    let err = w
        .graph(
            &w.b,
            Get,
            "/v23.0/7202",
            Some("phone_number_id=222"),
            &json!({}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(!err.to_string().contains("7202"));
    w.graph.answer(GraphAnswer::Json(
        400,
        json!({"error": {"code": 100, "message": "Object with ID '7203' does not exist"}}),
    ));
    let err = w
        .service
        .media_bytes(&w.b, "7203", Some("phone_number_id=222"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
}

#[tokio::test]
async fn v1_media_needs_the_tenants_media_or_an_unseen_id_with_its_number() {
    let w = world().await;
    // An id nobody holds, without a number: refused before Meta.
    assert_eq!(
        w.service
            .media_bytes(&w.a, "7301", None)
            .await
            .unwrap_err()
            .status(),
        403
    );
    // The tenant's own template is not media, whichever number it names.
    w.tenants
        .record_owner(OwnerKind::Template, "7302", &w.a.id)
        .await
        .unwrap();
    let err = w
        .service
        .media_bytes(&w.a, "7302", Some("phone_number_id=111"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(w.calls(), 0);
    // Exactly the largest size served is staged, one byte more is refused.
    w.tenants
        .record_owner(OwnerKind::Media, "7303", &w.a.id)
        .await
        .unwrap();
    let largest = json!({"url": "https://lookaside.fbsbx.com/l", "mime_type": "video/mp4", "file_size": MAX_MEDIA_BYTES});
    w.graph.answer(GraphAnswer::Json(200, largest));
    assert_eq!(
        w.service
            .media_bytes(&w.a, "7303", None)
            .await
            .unwrap()
            .status,
        302
    );
}
