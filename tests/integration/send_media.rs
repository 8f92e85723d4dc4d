//! Templates and media through the Graph-compatible routes, end to end: listed, created,
//! edited, deleted, uploaded, described and downloaded, only by their owner.

use gateway_tests::*;
use serde_json::json;

use crate::send::world;

#[tokio::test]
async fn templates_are_listed_created_edited_and_deleted_through_the_gateway() {
    let w = world("templates").await;
    let key = &w.tenant.api_key;
    let path = format!("/v23.0/{WABA_ID}/message_templates");
    let (status, list) = w.get(&format!("{path}?limit=10"), key).await;
    assert_eq!(status, 200);
    let listed = list["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        w.graph
            .seen()
            .iter()
            .any(|r| r.query.as_deref() == Some("limit=10"))
    );
    // A listed template is the tenant's to edit; the other tenant's key may not.
    assert_eq!(
        w.post(
            &format!("/v23.0/{listed}"),
            key,
            &json!({"category": "UTILITY"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        w.post(
            &format!("/v23.0/{listed}"),
            &w.other.api_key,
            &json!({"category": "UTILITY"})
        )
        .await
        .0,
        403
    );
    let (status, created) = w.post(&path, key, &json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "components": []})).await;
    assert_eq!(status, 200);
    let new_id = created["id"].as_str().unwrap();
    assert_eq!(
        w.post(&format!("/v23.0/{new_id}"), key, &json!({"components": []}))
            .await
            .0,
        200
    );
    let deleted = http()
        .delete(w.url(&format!("{path}?name=order_update")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
}

#[tokio::test]
async fn media_is_uploaded_described_downloaded_and_deleted_only_by_its_owner() {
    let w = world("media").await;
    let key = &w.tenant.api_key;
    let image: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let (status, body) = w.upload_png(key, &image).await;
    assert_eq!(status, 200, "{body}");
    let media_id = body["id"].as_str().unwrap().to_owned();

    let (status, info) = w.get(&format!("/v23.0/{media_id}"), key).await;
    assert_eq!(status, 200);
    assert_eq!(info["mime_type"], "image/png");
    let bytes = http()
        .get(w.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.headers()["content-type"], "image/png");
    assert_eq!(bytes.bytes().await.unwrap().to_vec(), image);

    assert_eq!(
        w.get(&format!("/v23.0/{media_id}"), &w.other.api_key)
            .await
            .0,
        403
    );
    assert_eq!(
        w.get(&format!("/v1/media/{media_id}"), &w.other.api_key)
            .await
            .0,
        403
    );
    let delete = http()
        .delete(w.url(&format!("/v23.0/{media_id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 200);
}

#[tokio::test]
async fn another_tenant_cannot_reach_media_by_any_spelling_of_the_query() {
    let w = world("media-isolation").await;
    let owner = &w.tenant.api_key;
    let (status, body) = w.upload_png(owner, b"\x89PNG secret").await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (mine, theirs) = (PHONE_NUMBER_ID, OTHER_PHONE);
    let intruder = &w.other.api_key;
    // (path and query, status the gateway itself must answer; None: Meta decides and refuses;
    // either way never a 2xx)
    let rows: Vec<(String, Option<u16>)> = vec![
        (format!("/v23.0/{id}"), Some(403)),
        (format!("/v23.0/{id}?phone_number_id={mine}"), Some(403)),
        // A key named twice is refused before any owner is looked at.
        (
            format!("/v23.0/{id}?phone_number_id={theirs}&phone_number_id={mine}"),
            Some(400),
        ),
        (
            format!("/v23.0/{id}?phone_number_id={theirs}&phone%5Fnumber%5Fid={mine}"),
            Some(400),
        ),
        (format!("/{id}"), Some(403)),
        (format!("/{id}?phone_number_id={mine}"), Some(403)),
        (format!("/v23.0/{id}?phone%5fnumber%5fid={mine}"), Some(403)),
        (format!("/v23.0/{id}?phone_number_id=abc"), Some(400)),
        // Its own number does not make the owner's media its own.
        (format!("/v23.0/{id}?phone_number_id={theirs}"), Some(403)),
        (format!("/v1/media/{id}"), Some(403)),
        (
            format!("/v1/media/{id}?phone_number_id={theirs}&phone%5Fnumber%5Fid={mine}"),
            Some(400),
        ),
        (format!("/v1/media/{id}?phone_number_id={mine}"), Some(403)),
        (
            format!("/v1/media/{id}?phone_number_id={theirs}"),
            Some(403),
        ),
    ];
    let mut failures = Vec::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        for (path, expected) in &rows {
            if method == reqwest::Method::DELETE && path.starts_with("/v1/") {
                continue;
            }
            let response = http()
                .request(method.clone(), w.url(path))
                .bearer_auth(intruder)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let ok = match expected {
                Some(s) => status == *s,
                None => !(200..300).contains(&status),
            };
            if !ok || text.contains("secret") || text.contains("_media") {
                failures.push(format!("{method} {path}: {status} {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The owner still has it, and no intruder request reached Meta with the owner's number.
    assert_eq!(w.get(&format!("/v23.0/{id}"), owner).await.0, 200);
    let leaked: Vec<_> = w
        .graph
        .seen()
        .into_iter()
        .filter(|r| r.path.ends_with(&id) && r.query.as_deref().is_some_and(|q| q.contains(mine)))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}
