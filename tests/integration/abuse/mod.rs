//! A table of bad inputs to every route: each gets its status and nothing is queued, sent to
//! Meta or stored.

use gateway_core::admin::TenantWriter;
use gateway_core::format::DeliveryFormat;
use gateway_core::meta::MAX_WEBHOOK_BYTES;
use gateway_core::signature::Secret;
use gateway_local::fake_graph::FakeGraph;
use gateway_tests::*;

mod cases;
mod meta_values;

use cases::*;

async fn messages_stored(stack: &Stack) -> usize {
    stack
        .clients
        .dynamodb
        .scan()
        .table_name(&stack.resources.messages_table)
        .send()
        .await
        .unwrap()
        .count as usize
}

#[tokio::test]
async fn bad_input_to_every_route_gets_its_status_and_leaves_nothing_behind() {
    let graph = FakeGraph::start(
        0,
        Secret::new("abuse-token"),
        Secret::new(APP_SECRET),
        &[(WABA_ID, &[PHONE_NUMBER_ID])],
    )
    .await
    .unwrap();
    let mut options = stack_options("abuse");
    options.forward = false;
    options.graph_api_base_url = graph.url.clone();
    options.access_token = Secret::new("abuse-token");
    let stack = spawn_stack(options).await;
    let tenant = tenant_for_fixtures(&stack, "http://127.0.0.1:9/hook", DeliveryFormat::Meta).await;
    // The SSRF rows' hosts are on the tenant's callback list, so only the address check can
    // refuse them (a row refused by the list would pass with the address check deleted).
    let tenants = stack.tenants();
    let mut record = stack.admin().existing(&tenant.tenant_id).await.unwrap();
    record.callback_domains = ["localhost", "169.254.169.254", "0.0.0.0", "10.0.0.1"]
        .map(String::from)
        .to_vec();
    tenants.put_tenant(&record).await.unwrap();
    let pn = PHONE_NUMBER_ID;
    let text = |extra: &str| {
        format!(r#"{{"recipient":"4915112345678","type":"text","text":{{"body":"x"}}{extra}}}"#)
    };

    let mut cases = vec![
        // Meta's side.
        Case {
            credentials: false,
            ..case(
                "webhook without signature",
                "POST",
                "/webhook",
                fixture("message_text.json"),
                401,
            )
        },
        case(
            "webhook truncated JSON",
            "POST",
            "/webhook",
            &fixture("message_text.json")[..100],
            400,
        ),
        case(
            "webhook invalid UTF-8",
            "POST",
            "/webhook",
            b"{\"object\":\"\xff\xfe\"}".to_vec(),
            400,
        ),
        case(
            "webhook JSON array",
            "POST",
            "/webhook",
            b"[{\"object\":\"whatsapp_business_account\"}]".to_vec(),
            400,
        ),
        case(
            "webhook other object",
            "POST",
            "/webhook",
            br#"{"object":"instagram","entry":[]}"#.to_vec(),
            400,
        ),
        case(
            "webhook of another object",
            "POST",
            "/webhook",
            br#"{"object":"instagram","entry":[{"id":"1","changes":[]}]}"#.to_vec(),
            400,
        ),
        case(
            "webhook 3 MB + 1",
            "POST",
            "/webhook",
            vec![b' '; MAX_WEBHOOK_BYTES + 1],
            413,
        ),
        case(
            "webhook verify with injection",
            "GET",
            "/webhook?hub.mode=subscribe&hub.verify_token=%27%20OR%201%3D1--&hub.challenge=x",
            Vec::new(),
            403,
        ),
        // The tenant's side.
        Case {
            credentials: false,
            ..case("send without key", "POST", "/v1/messages", text(""), 401)
        },
        case(
            "send truncated JSON",
            "POST",
            "/v1/messages",
            &text("")[..20],
            400,
        ),
        case(
            "send form-encoded body",
            "POST",
            "/v1/messages",
            "recipient=4915112345678&type=text",
            400,
        ),
        case(
            "send multipart body",
            "POST",
            "/v1/messages",
            "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--",
            400,
        ),
        case(
            "send unknown field",
            "POST",
            "/v1/messages",
            text(r#","priority":"high""#),
            400,
        ),
        case(
            "send huge number as recipient",
            "POST",
            "/v1/messages",
            r#"{"recipient":1e999999,"type":"text","text":{"body":"x"}}"#,
            400,
        ),
        case(
            "send SQL injection as recipient",
            "POST",
            "/v1/messages",
            r#"{"recipient":"' OR 1=1 --","type":"text","text":{"body":"x"}}"#,
            400,
        ),
        case(
            "send JSON injection in phone_number_id",
            "POST",
            "/v1/messages",
            text(r#","phone_number_id":"1\"},{\"to\":\"2"}"#),
            400,
        ),
        case(
            "send another tenant's number",
            "POST",
            "/v1/messages",
            text(r#","phone_number_id":"999999999""#),
            403,
        ),
        saying(
            "non-public address",
            case(
                "send SSRF callback to metadata",
                "POST",
                "/v1/messages",
                text(r#","callback_url":"https://169.254.169.254/latest/meta-data""#),
                400,
            ),
        ),
        saying(
            "non-public address",
            case(
                "send SSRF callback to this network",
                "POST",
                "/v1/messages",
                text(r#","callback_url":"https://0.0.0.0/x""#),
                400,
            ),
        ),
        case(
            "send callback with credentials",
            "POST",
            "/v1/messages",
            text(r#","callback_url":"https://user:pw@localhost/x""#),
            400,
        ),
        case(
            "graph path traversal",
            "POST",
            "/v23.0/..%2F..%2Fadmin/messages",
            text(""),
            400,
        ),
        case(
            "graph non-numeric phone",
            "POST",
            "/v23.0/abc/messages",
            text(""),
            400,
        ),
        case(
            "graph another tenant's WABA",
            "GET",
            "/v23.0/999999999/message_templates",
            Vec::new(),
            403,
        ),
        case(
            "graph truncated JSON",
            "POST",
            &format!("/v23.0/{pn}/messages"),
            "{\"to\":",
            400,
        ),
        saying(
            "non-public address",
            case(
                "graph SSRF callback",
                "POST",
                &format!("/v23.0/{pn}/messages"),
                r#"{"to":"4915112345678","type":"text","text":{"body":"x"},"callback_url":"https://10.0.0.1/"}"#,
                400,
            ),
        ),
        case(
            "status with traversal",
            "GET",
            "/v1/messages/..%2F..%2Fetc%2Fpasswd",
            Vec::new(),
            400,
        ),
        case(
            "status of unknown wamid",
            "GET",
            "/v1/messages/wamid.nobody",
            Vec::new(),
            404,
        ),
        case(
            "media with traversal",
            "GET",
            "/v1/media/..%2F1",
            Vec::new(),
            400,
        ),
        case("unknown route", "PATCH", "/v1/messages", Vec::new(), 404),
    ];
    cases.push(Case {
        content_type: "text/plain",
        ..case(
            "send text/plain JSON is parsed by content, not type",
            "POST",
            "/v1/messages",
            text(r#","callback_url":"ftp://x""#),
            400,
        )
    });

    let client = http();
    let mut failures = Vec::new();
    for c in &cases {
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
        let mut request = client
            .request(method, format!("{}{}", stack.url(), c.path))
            .header("content-type", c.content_type)
            .body(c.body.clone());
        if c.credentials {
            request = if c.path.starts_with("/webhook") {
                request.header("x-hub-signature-256", meta_signature(&c.body))
            } else {
                request.bearer_auth(&tenant.api_key)
            };
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let emulated = stack
            .is_lambda()
            .then(|| {
                EMULATOR_FUNCTION_URL_DIFFERENCES
                    .iter()
                    .find(|(name, _)| *name == c.name)
            })
            .flatten();
        if let Some((name, (alternative, why))) = emulated
            && status == *alternative
        {
            eprintln!(
                "NOTE {name}: {status} instead of {} through the emulator's function URL ({why}); still refused",
                c.status
            );
            continue;
        }
        if status != c.status {
            failures.push(format!(
                "{}: expected {}, got {status}: {body}",
                c.name, c.status
            ));
        }
        if !body.contains(c.needle) {
            failures.push(format!("{}: `{body}` should say `{}`", c.name, c.needle));
        }
        if status >= 400 && !body.is_empty() && !c.path.starts_with("/webhook?") {
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok(),
                "{}: error body is not JSON: {body}",
                c.name
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        queue_depth(&stack.clients.sqs, &stack.resources.events_queue_url).await,
        0,
        "something was queued"
    );
    assert!(
        graph.seen().is_empty(),
        "something reached Meta: {:?}",
        graph.seen()
    );
    assert_eq!(
        messages_stored(&stack).await,
        0,
        "a message record was stored"
    );
}
