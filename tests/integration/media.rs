//! Media larger than a function's response: `GET /v1/media/{id}` copies it into the events
//! bucket as it streams in from Meta's URL and redirects to a short-lived presigned URL of the
//! copy, which the tenant fetches without the API key (its SDK drops it on the cross-origin
//! redirect). Against the emulator's S3 over the real protocol.

use gateway_core::send::INLINE_MEDIA_BYTES;
use gateway_tests::*;

#[tokio::test]
async fn media_too_large_for_a_response_is_staged_in_the_bucket_and_redirected_to() {
    let world = World::start("media-staging").await;
    let World {
        stack,
        graph,
        tenant,
        ..
    } = &world;
    let size = INLINE_MEDIA_BYTES as usize * 3 + 12_345;
    let media: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
    let id = graph.add_media(media.clone(), "video/mp4", PHONE_NUMBER_ID);
    world.give_media_to_a(&id).await;
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects
        .get(format!("{}/v1/media/{id}", stack.url()))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(
        body["url"],
        location.as_str(),
        "clients that do not follow see the URL too"
    );
    assert!(
        location.contains("X-Amz-Signature="),
        "a presigned URL: {location}"
    );
    assert!(location.contains("/media/"), "{location}");
    // The copy, fetched as an SDK would after the redirect: no API key, no AWS credentials.
    let fetched = http().get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "video/mp4");
    assert!(
        fetched.bytes().await.unwrap() == media,
        "the copy is the media, byte for byte"
    );
    // Following the redirect, as SDKs do, ends at the same bytes.
    let followed = http()
        .get(format!("{}/v1/media/{id}", stack.url()))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(followed.bytes().await.unwrap().len(), size);
    // Small media is still answered inline.
    let small = graph.add_media(b"tiny".to_vec(), "image/png", PHONE_NUMBER_ID);
    world.give_media_to_a(&small).await;
    let inline = no_redirects
        .get(format!("{}/v1/media/{small}", stack.url()))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(inline.status(), 200);
    assert_eq!(&inline.bytes().await.unwrap()[..], b"tiny");
}
