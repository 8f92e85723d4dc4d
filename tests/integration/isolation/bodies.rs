//! Tenant isolation in bodies: tenant B names tenant A's ids, or a webhook override, in every
//! body spelling on every route of the table that acts on B's own number or WABA. Each try is
//! refused and the fake Graph API receives nothing from B.

use futures::StreamExt;
use gateway_core::ports::OwnerKind;
use gateway_core::send::ROUTES;
use gateway_tests::*;

use super::{arrange, method_name};

/// Every way a body can carry `key = value`: JSON (plain, as a number, an escaped key, a
/// duplicate, a list, a BOM, another case), a form (plain, an encoded key, another case, a
/// nested key, a duplicate), multipart (plain, an RFC 2231 name) and bytes whose content type
/// says something else. The gateway reads each as Meta could and refuses it, or cannot read it
/// and refuses it: nothing reaches Meta.
fn body_spellings(key: &str, value: &str) -> Vec<(Option<String>, Vec<u8>)> {
    let json = Some("application/json".to_owned());
    let form = Some("application/x-www-form-urlencoded".to_owned());
    let escaped_key = key.replace('_', "\\u005f");
    let encoded_key = key.replace('_', "%5F");
    let upper = key.to_ascii_uppercase();
    let b = "B0und4ry";
    let multipart = Some(format!("multipart/form-data; boundary={b}"));
    let part = |disposition: &str| {
        format!(
            "--{b}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n{value}\r\n--{b}--\r\n"
        )
        .into_bytes()
    };
    let plain_json = format!(r#"{{"name":"x","{key}":"{value}"}}"#);
    vec![
        (json.clone(), plain_json.clone().into_bytes()),
        (json.clone(), format!(r#"{{"{key}":{value}}}"#).into_bytes()),
        (
            json.clone(),
            format!(r#"{{"{escaped_key}":"{value}"}}"#).into_bytes(),
        ),
        (
            json.clone(),
            format!(r#"{{"{key}":"1","{key}":"{value}"}}"#).into_bytes(),
        ),
        (
            json.clone(),
            format!(r#"{{"{key}":"{value}","{escaped_key}":"1"}}"#).into_bytes(),
        ),
        (json.clone(), format!(r#"[{plain_json}]"#).into_bytes()),
        (
            json.clone(),
            format!(r#"{{"{key}":["{value}"]}}"#).into_bytes(),
        ),
        (
            json.clone(),
            format!(r#"{{"{key}":{{"id":"{value}"}}}}"#).into_bytes(),
        ),
        (
            json.clone(),
            [b"\xEF\xBB\xBF".as_slice(), plain_json.as_bytes()].concat(),
        ),
        (
            json.clone(),
            format!(r#"{{"{upper}":"{value}"}}"#).into_bytes(),
        ),
        (json.clone(), format!("{key}={value}").into_bytes()),
        (form.clone(), format!("name=x&{key}={value}").into_bytes()),
        (form.clone(), format!("{encoded_key}={value}").into_bytes()),
        (form.clone(), format!("{upper}={value}").into_bytes()),
        (form.clone(), format!("{key}%5B0%5D={value}").into_bytes()),
        (form.clone(), format!("{key}[0]={value}").into_bytes()),
        (form.clone(), format!("{key}=1&{key}={value}").into_bytes()),
        (form.clone(), plain_json.clone().into_bytes()),
        (multipart.clone(), part(&format!("name=\"{key}\""))),
        (
            multipart.clone(),
            part(&format!("name*=utf-8''{encoded_key}")),
        ),
        (
            Some(format!("multipart/form-data; boundary=\"{b}\"")),
            part(&format!("name={key}")),
        ),
        (None, plain_json.clone().into_bytes()),
        (
            Some("text/plain".to_owned()),
            plain_json.clone().into_bytes(),
        ),
        (
            Some("application/json; charset=utf-16".to_owned()),
            plain_json.into_bytes(),
        ),
    ]
}

async fn call_raw(
    stack: &Stack,
    key: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http()
        .request(method, format!("{}{path}", stack.url()))
        .bearer_auth(key)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn tenant_b_names_tenant_as_ids_or_a_webhook_override_in_no_body_spelling() {
    let (world, owned) = arrange("isolation-bodies").await;
    let World {
        stack,
        graph,
        other: b,
        ..
    } = &world;
    let before = graph.seen().len();

    // What a body can name: A's template and flow, and the webhook override (on B's own
    // number, where it would move B's webhooks away from the gateway).
    let named = [
        ("hsm_id", owned.template.clone()),
        ("clone_flow_id", owned.flow.clone()),
        ("webhook_configuration", "1".to_owned()),
        ("override_callback_uri", "1".to_owned()),
    ];
    // Every route of the table that acts on B's own number or WABA, every method, every
    // spelling: run eight at a time (about 3,000 requests).
    let mut cases = Vec::new();
    for rule in ROUTES {
        let Some(own) = rule.subjects.iter().find_map(|k| match k {
            OwnerKind::Phone => Some(OTHER_PHONE),
            OwnerKind::Waba => Some(OTHER_WABA),
            _ => None,
        }) else {
            continue;
        };
        if rule.tail.contains(&"{code}") {
            continue;
        }
        let path = format!("/v23.0/{own}/{}", rule.tail.join("/"));
        let path = path.trim_end_matches('/').to_owned();
        for method in rule.methods {
            let method = method_name(method);
            for (key, value) in &named {
                // The override keys are tried on every POST; ids on every method.
                if matches!(*key, "webhook_configuration" | "override_callback_uri")
                    && method != "POST"
                {
                    continue;
                }
                for (content_type, body) in body_spellings(key, value) {
                    cases.push((method, path.clone(), content_type, body));
                }
            }
        }
    }
    let tries = cases.len();
    let (stack_ref, key) = (&stack, b.api_key.as_str());
    let failures: Vec<String> = futures::stream::iter(cases)
        .map(|(method, path, content_type, body)| async move {
            let (status, answer) = call_raw(
                stack_ref,
                key,
                method,
                &format!("{path}?name=x"),
                content_type.as_deref(),
                body.clone(),
            )
            .await;
            (![400, 403].contains(&status)).then(|| {
                format!(
                    "{method} {path} {content_type:?} {}: {status} {answer}",
                    String::from_utf8_lossy(&body)
                )
            })
        })
        .buffer_unordered(8)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {tries} tries got through:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let reached: Vec<_> = graph.seen().into_iter().skip(before).collect();
    assert!(reached.is_empty(), "B's bodies reached Meta: {reached:?}");
    assert!(tries > 1000, "the table was walked ({tries} tries)");

    // A readable body without A's ids goes through: the refusals above are about A's ids and
    // the spellings, not about bodies.
    let (_, answer) = call_raw(
        stack,
        &b.api_key,
        "POST",
        &format!("/v23.0/{OTHER_WABA}/flows"),
        Some("application/x-www-form-urlencoded"),
        b"name=copy&categories=%5B%22OTHER%22%5D".to_vec(),
    )
    .await;
    assert!(!answer.contains("unreadable_body"), "{answer}");
    assert_eq!(graph.seen().len(), before + 1, "the form reached Meta");
}
