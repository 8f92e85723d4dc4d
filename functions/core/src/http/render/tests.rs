use std::time::Duration;

use serde_json::Value;

use super::*;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn header<'a>(r: &'a ApiResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// A secret-looking detail each variant that can carry one carries.
const INTERNAL: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/tenants-prod";

/// One of every variant, with the status each must answer.
fn every_variant() -> Vec<(Error, u16)> {
    vec![
        (
            Error::invalid("unknown_field", "colour", "unknown field `colour`"),
            400,
        ),
        (
            Error::invalid_body("invalid_body", "the body is not JSON"),
            400,
        ),
        (Error::PayloadTooLarge { limit: 10 }, 413),
        (Error::Unauthorized("bad key"), 401),
        (Error::Forbidden("not yours"), 403),
        (Error::NotFound("unknown route"), 404),
        (Error::MethodNotAllowed("use GET or POST"), 405),
        (Error::Conflict("in progress"), 409),
        (Error::OutcomeUnknown("Meta answered 500".into()), 409),
        (Error::Unprocessable("key reused"), 422),
        (
            Error::RateLimited {
                message: "too many replays",
                retry_after: Duration::from_millis(200),
            },
            429,
        ),
        (
            Error::Unavailable {
                context: format!("query {INTERNAL}"),
                retry_after: None,
            },
            503,
        ),
        (Error::Unreachable, 502),
        (
            Error::Upstream {
                status: 504,
                message: "Meta did not answer in time".into(),
            },
            504,
        ),
        (
            Error::Internal(anyhow::anyhow!("access denied on {INTERNAL}")),
            500,
        ),
    ]
}

#[test]
fn every_variant_in_every_shape_is_json_with_its_status_and_no_internal_detail() {
    let shapes = [
        Shape::Gateway,
        Shape::Graph { trace_id: "AbC" },
        Shape::Webhook,
        Shape::Subscription,
    ];
    for shape in shapes {
        for (err, status) in every_variant() {
            let r = render(&err, shape);
            let what = format!("{err:?} in {shape:?}");
            let expected = match (shape, &err) {
                (Shape::Webhook, Error::Unavailable { .. }) => 500,
                _ => status,
            };
            assert_eq!(r.status, expected, "{what}");
            let text = r.text();
            assert!(
                !text.contains("tenants-prod") && !text.contains("123456789012"),
                "{what}: {text}"
            );
            if shape == Shape::Subscription {
                assert_eq!(
                    (r.content_type.as_str(), text.as_str()),
                    ("text/plain", "forbidden")
                );
                assert!(r.headers.is_empty(), "{what}");
                continue;
            }
            assert_eq!(r.content_type, "application/json", "{what}");
            let body = json(&r.body);
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{what}: {text}");
            match shape {
                Shape::Graph { .. } => {
                    assert_eq!(body["error"]["fbtrace_id"], "AbC", "{what}");
                    assert!(body["error"]["code"].is_i64(), "{what}");
                    assert!(
                        body["error"]["type"]
                            .as_str()
                            .unwrap()
                            .ends_with("Exception")
                    );
                }
                _ => assert!(
                    !body["error"]["code"].as_str().unwrap().is_empty(),
                    "{what}"
                ),
            }
            assert_eq!(r.location, None);
            assert_eq!(
                header(&r, "retry-after").is_some(),
                status == 429,
                "{what}: {:?}",
                r.headers
            );
            assert_eq!(header(&r, "allow").is_some(), status == 405, "{what}");
            assert_eq!(
                header(&r, "www-authenticate"),
                (status == 401 && shape != Shape::Webhook).then_some("Bearer"),
                "{what}"
            );
        }
    }
}

#[test]
fn a_retry_after_is_whole_seconds_and_at_least_one() {
    let (err, _) = every_variant().remove(10);
    assert_eq!(
        header(&render(&err, Shape::Gateway), "retry-after"),
        Some("1")
    );
    let err = Error::RateLimited {
        message: "x",
        retry_after: Duration::from_secs(40),
    };
    assert_eq!(
        header(&render(&err, Shape::Gateway), "retry-after"),
        Some("40")
    );
    assert_eq!(
        json(&render(&err, Shape::Graph { trace_id: "T" }).body)["error"]["code"],
        4
    );
}

#[test]
fn the_gateway_body_names_code_message_and_field() {
    let err = Error::invalid("unknown_field", "colour", "unknown field `colour`");
    let body = json(&render(&err, Shape::Gateway).body);
    assert_eq!(body["error"]["code"], "unknown_field");
    assert_eq!(body["error"]["message"], "unknown field `colour`");
    assert_eq!(body["error"]["field"], "colour");
    let forbidden = json(&render(&Error::Forbidden("no"), Shape::Gateway).body);
    assert_eq!(forbidden["error"]["code"], "forbidden");
    assert!(forbidden["error"].get("field").is_none());
}

#[test]
fn the_graph_body_is_metas_error_shape() {
    let body = json(
        &render(
            &Error::Unauthorized("bad key"),
            Shape::Graph { trace_id: "AbC" },
        )
        .body,
    );
    assert_eq!(body["error"]["type"], "OAuthException");
    assert_eq!(body["error"]["code"], 190);
    assert_eq!(body["error"]["message"], "bad key");
    let graph = Shape::Graph { trace_id: "T" };
    assert_eq!(
        json(&render(&Error::Forbidden("x"), graph).body)["error"]["code"],
        200
    );
    assert_eq!(
        json(&render(&Error::NotFound("x"), graph).body)["error"]["type"],
        "GraphMethodException"
    );
}

#[test]
fn the_webhook_answers_a_queue_failure_with_the_500_meta_retries() {
    let err = Error::unavailable("SendMessageBatch on https://sqs.example/123456789012/q");
    let r = render(&err, Shape::Webhook);
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        r#"{"error":{"code":"unavailable","message":"events could not be queued, retry"}}"#
    );
    assert_eq!(render(&err, Shape::Gateway).status, 503);
}

#[test]
fn metas_refusal_on_a_v1_route_keeps_metas_status_and_details() {
    let r = meta_inside_gateway(
        400,
        br#"{"error":{"message":"(#131030) Recipient not in allowed list","type":"OAuthException","code":131030,"fbtrace_id":"Az"}}"#,
    );
    assert_eq!(r.status, 400);
    let body = json(&r.body);
    assert_eq!(body["error"]["code"], "meta_error");
    assert_eq!(
        body["error"]["message"],
        "(#131030) Recipient not in allowed list"
    );
    assert_eq!(body["error"]["meta"]["code"], 131030);
    let r = meta_inside_gateway(502, b"<html>bad gateway</html>");
    assert_eq!(
        json(&r.body)["error"]["message"],
        "Meta refused the request"
    );
}
