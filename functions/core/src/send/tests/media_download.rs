//! `GET /v1/media/{id}`: downloads with Meta's type, staged when too large, never a header
//! broken by Meta's `mime_type`, and the description's URL pointed at the gateway.

use serde_json::{Value, json};

use super::*;
use crate::memory::GraphAnswer;

#[tokio::test]
async fn v1_media_is_downloaded_with_metas_type_and_failures_are_not_200() {
    let w = world().await;
    w.tenants
        .record_owner(OwnerKind::Media, "7001", &w.a.id)
        .await
        .unwrap();
    let info =
        json!({"url": "https://lookaside.fbsbx.com/x", "mime_type": "image/jpeg", "file_size": 3});
    w.graph.answer(GraphAnswer::Json(200, info.clone()));
    let r = w.service.media_bytes(&w.a, "7001", None).await.unwrap();
    assert_eq!(
        (r.status, r.content_type.as_str(), r.body.as_slice()),
        (200, "image/jpeg", &b"PNG"[..])
    );
    assert_eq!(
        w.graph.downloads.lock().unwrap().as_slice(),
        ["https://lookaside.fbsbx.com/x"]
    );
    assert_eq!(
        w.service
            .media_bytes(&w.b, "7001", None)
            .await
            .unwrap_err()
            .status(),
        403
    );
    w.graph.answer(GraphAnswer::Json(
        404,
        json!({"error": {"code": 100, "message": "gone"}}),
    ));
    let r = w.service.media_bytes(&w.a, "7001", None).await.unwrap();
    assert_eq!(r.status, 404, "Meta's refusal of the description");
    w.graph.answer(GraphAnswer::Json(200, info));
    w.graph.download_answer(GraphResponse {
        status: 403,
        content_type: None,
        body: vec![],
    });
    let err = w.service.media_bytes(&w.a, "7001", None).await.unwrap_err();
    assert_eq!(err.status(), 502, "the download failing");
    w.graph
        .answer(GraphAnswer::Json(200, json!({"mime_type": "image/png"})));
    assert_eq!(
        w.service
            .media_bytes(&w.a, "7001", None)
            .await
            .unwrap_err()
            .status(),
        502
    );
    assert_eq!(w.graph.downloads.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn v1_media_of_an_unseen_id_that_is_not_media_is_refused_and_not_downloaded() {
    let w = world().await;
    w.graph.answer(GraphAnswer::Json(
        200,
        json!({"id": "7009", "url": "https://lookaside.fbsbx.com/x"}),
    ));
    let err = w
        .service
        .media_bytes(&w.a, "7009", Some("phone_number_id=111"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(w.graph.downloads.lock().unwrap().is_empty());
    let media = json!({"messaging_product": "whatsapp", "id": "7010", "url": "https://lookaside.fbsbx.com/x", "mime_type": "image/png", "sha256": "0", "file_size": 1});
    w.graph.answer(GraphAnswer::Json(200, media));
    let r = w
        .service
        .media_bytes(&w.a, "7010", Some("phone_number_id=111"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        w.tenants.owner(OwnerKind::Media, "7010").await.unwrap(),
        Some(w.a.id.clone())
    );
}

#[tokio::test]
async fn a_control_character_in_metas_mime_type_never_reaches_a_header() {
    let w = world().await;
    w.tenants
        .record_owner(OwnerKind::Media, "7001", &w.a.id)
        .await
        .unwrap();
    for (mime, download_type, expected) in [
        (
            "image/png\r\nset-cookie: x",
            Some("image/webp"),
            "image/webp",
        ),
        ("image/png\u{0}", None, "application/octet-stream"),
    ] {
        let info =
            json!({"url": "https://lookaside.fbsbx.com/x", "mime_type": mime, "file_size": 1});
        w.graph.answer(GraphAnswer::Json(200, info));
        w.graph.download_answer(GraphResponse {
            status: 200,
            content_type: download_type.map(str::to_owned),
            body: b"X".to_vec(),
        });
        let r = w.service.media_bytes(&w.a, "7001", None).await.unwrap();
        assert_eq!(r.content_type, expected);
    }
}

#[tokio::test]
async fn a_media_description_points_its_url_at_the_gateway_with_the_same_query() {
    let w = world().await;
    use HttpMethod::*;
    w.tenants
        .record_owner(OwnerKind::Media, "7001", &w.a.id)
        .await
        .unwrap();
    // As Meta sends it: escaped slashes.
    let meta: Value = serde_json::from_str(r#"{"messaging_product":"whatsapp","url":"https:\/\/lookaside.fbsbx.com\/whatsapp_business\/attachments\/?mid=1&hash=h","mime_type":"image\/jpeg","sha256":"ab","file_size":3,"id":"7001"}"#).unwrap();
    for (query, url) in [
        (None, "https://gw.example/v1/media/7001"),
        (
            Some("phone_number_id=111"),
            "https://gw.example/v1/media/7001?phone_number_id=111",
        ),
    ] {
        w.graph.answer(GraphAnswer::Json(200, meta.clone()));
        let r = w
            .graph(&w.a, Get, "/v23.0/7001", query, &json!({}))
            .await
            .unwrap();
        let body = body_json(&r);
        assert_eq!(body["url"], url);
        assert_eq!(
            (body["mime_type"].as_str(), body["file_size"].as_u64()),
            (Some("image/jpeg"), Some(3))
        );
    }
    // A template's description is Meta's, untouched.
    w.tenants
        .record_owner(OwnerKind::Template, "501", &w.a.id)
        .await
        .unwrap();
    w.graph.answer(GraphAnswer::Json(
        200,
        json!({"id": "501", "url": "https://example.com/x"}),
    ));
    let r = w
        .graph(&w.a, Get, "/v23.0/501", None, &json!({}))
        .await
        .unwrap();
    assert_eq!(body_json(&r)["url"], "https://example.com/x");
}

#[tokio::test]
async fn v1_media_too_large_for_a_response_is_staged_and_redirected_and_too_large_is_refused() {
    let w = world().await;
    w.tenants
        .record_owner(OwnerKind::Media, "7001", &w.a.id)
        .await
        .unwrap();
    let url = "https://lookaside.fbsbx.com/big";
    for (size, staged) in [
        (json!(4 * 1024 * 1024), false),
        (json!(4 * 1024 * 1024 + 1), true),
        (json!("52428800"), true),
        (Value::Null, true),
    ] {
        w.graph.answer(GraphAnswer::Json(
            200,
            json!({"url": url, "mime_type": "video/mp4", "file_size": size}),
        ));
        let r = w.service.media_bytes(&w.a, "7001", None).await.unwrap();
        match staged {
            true => {
                assert_eq!(r.status, 302, "{size}");
                let location = r.location.clone().unwrap();
                assert!(location.starts_with("https://staged.example/"));
                assert_eq!(body_json(&r)["url"], location.as_str());
            }
            false => assert_eq!((r.status, r.location.as_deref()), (200, None), "{size}"),
        }
    }
    assert_eq!(w.graph.staged.lock().unwrap().len(), 3);
    assert_eq!(
        w.graph.staged.lock().unwrap()[0],
        (url.to_owned(), "video/mp4".to_owned())
    );
    assert_eq!(
        w.graph.downloads.lock().unwrap().len(),
        1,
        "only the small one was read whole"
    );
    w.graph.answer(GraphAnswer::Json(
        200,
        json!({"url": url, "mime_type": "video/mp4", "file_size": 100_000_001}),
    ));
    assert_eq!(
        w.service
            .media_bytes(&w.a, "7001", None)
            .await
            .unwrap_err()
            .status(),
        502
    );
    assert_eq!(
        w.graph.staged.lock().unwrap().len(),
        3,
        "nothing staged over the limit"
    );
}
