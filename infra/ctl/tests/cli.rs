//! gatewayctl round trips: the real binary against tables and queues in the emulator.

use gateway_core::meta::split::split_events;
use gateway_core::ports::EventQueue;

mod common;

use common::Ctl;

#[tokio::test]
async fn a_tenant_is_created_shown_updated_listed_and_given_numbers() {
    let ctl = Ctl::new("ctl-tenant").await;
    let created = ctl.json(&[
        "tenant",
        "create",
        "--name",
        "acme",
        "--webhook-url",
        "https://acme.example/wa",
        "--callback-domain",
        "acme.example",
        "--json",
    ]);
    let id = created["tenant_id"].as_str().unwrap();
    assert!(
        created["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert!(created["api_key"].as_str().unwrap().starts_with("wgk_"));

    let out = ctl.run(&["phone", "add", "106540352242922", "--tenant", id]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        ctl.run(&["waba", "add", "102290129340398", "--tenant", id])
            .ok
    );
    let shown = ctl.json(&["tenant", "show", id]);
    assert_eq!(
        shown["phone_number_ids"],
        serde_json::json!(["106540352242922"])
    );
    assert_eq!(
        shown["callback_domains"],
        serde_json::json!(["acme.example"])
    );
    assert!(
        shown.get("webhook_secret").is_none()
            && !ctl.run(&["tenant", "show", id]).stdout.contains("whsec_")
    );

    let updated = ctl.json(&[
        "tenant",
        "update",
        id,
        "--format",
        "envelope",
        "--webhook-url",
        "https://hooks.acme.example/v2",
    ]);
    assert_eq!(updated["format"], "envelope");
    assert_eq!(updated["webhook_url"], "https://hooks.acme.example/v2");
    assert_eq!(
        updated["phone_number_ids"],
        serde_json::json!(["106540352242922"]),
        "an update keeps the numbers"
    );

    let second = ctl.json(&[
        "tenant",
        "create",
        "--name",
        "beta",
        "--webhook-url",
        "https://beta.example/wa",
        "--json",
    ]);
    let listed = ctl.run(&["tenant", "list"]);
    assert_eq!(listed.stdout.lines().count(), 2);
    assert!(
        listed.stdout.contains(id)
            && listed
                .stdout
                .contains(second["tenant_id"].as_str().unwrap())
    );

    assert!(
        ctl.run(&["phone", "remove", "106540352242922", "--tenant", id])
            .ok
    );
    assert_eq!(
        ctl.json(&["tenant", "show", id])["phone_number_ids"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_a_clear_error() {
    let ctl = Ctl::new("ctl-errors").await;
    ctl.fails(
        &[
            "tenant",
            "create",
            "--name",
            "x",
            "--webhook-url",
            "http://acme.example/wa",
        ],
        "--webhook-url must use https",
    );
    ctl.fails(
        &[
            "tenant",
            "create",
            "--name",
            "x",
            "--webhook-url",
            "https://10.0.0.1/wa",
        ],
        "non-public",
    );
    ctl.fails(
        &[
            "tenant",
            "create",
            "--name",
            "x",
            "--webhook-url",
            "https://a.example",
            "--format",
            "xml",
        ],
        "xml",
    );
    ctl.fails(
        &[
            "tenant",
            "create",
            "--name",
            "x",
            "--webhook-url",
            "https://a.example",
            "--callback-domain",
            "not a domain",
        ],
        "not a domain name",
    );
    ctl.fails(
        &["phone", "add", "123", "--tenant", "nobody"],
        "unknown tenant `nobody`",
    );
    ctl.fails(&["tenant", "show", "nobody"], "unknown tenant");
    let a = ctl.json(&[
        "tenant",
        "create",
        "--name",
        "a",
        "--webhook-url",
        "https://a.example/wa",
        "--json",
    ]);
    let b = ctl.json(&[
        "tenant",
        "create",
        "--name",
        "b",
        "--webhook-url",
        "https://b.example/wa",
        "--json",
    ]);
    assert!(
        ctl.run(&[
            "phone",
            "add",
            "555",
            "--tenant",
            a["tenant_id"].as_str().unwrap()
        ])
        .ok
    );
    ctl.fails(
        &[
            "phone",
            "add",
            "555",
            "--tenant",
            b["tenant_id"].as_str().unwrap(),
        ],
        "already belongs to a tenant",
    );
    ctl.fails(
        &[
            "phone",
            "add",
            "12a",
            "--tenant",
            a["tenant_id"].as_str().unwrap(),
        ],
        "must be digits",
    );
    ctl.fails(&["message", "show", "wamid.none"], "no message record");
}

#[tokio::test]
async fn rotation_issues_new_credentials_and_keeps_the_old_for_a_day() {
    let ctl = Ctl::new("ctl-rotate").await;
    let created = ctl.json(&[
        "tenant",
        "create",
        "--name",
        "acme",
        "--webhook-url",
        "https://acme.example/wa",
        "--json",
    ]);
    let id = created["tenant_id"].as_str().unwrap();
    let tenants = gateway_aws::dynamo::DynamoTenants::new(
        ctl.clients.dynamodb.clone(),
        &ctl.resources.tenants_table,
    );
    use gateway_core::ports::{OwnerKind, TenantDirectory};
    let owner = |key: String| {
        let tenants = tenants.clone();
        async move {
            tenants
                .owner(
                    OwnerKind::ApiKey,
                    gateway_core::ids::ApiKey::new(&key).hash().as_str(),
                )
                .await
                .unwrap()
        }
    };
    let old_key = created["api_key"].as_str().unwrap().to_owned();

    let rotated = ctl.json(&["key", "rotate", "--tenant", id]);
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    assert!(owner(new_key.clone()).await.is_some());
    assert!(
        owner(old_key.clone()).await.is_some(),
        "the old key keeps working for 24 h"
    );
    ctl.json(&["key", "rotate", "--tenant", id, "--revoke-now"]);
    assert!(owner(old_key).await.is_none());
    assert!(owner(new_key).await.is_none());

    let secret = ctl.json(&["secret", "rotate", "--tenant", id]);
    let tenant = tenants
        .tenant(&gateway_core::tenant::TenantId::new(id.to_owned()))
        .await
        .unwrap()
        .unwrap();
    let signing = tenant.signing_secrets(gateway_aws::now());
    assert_eq!(
        signing.len(),
        2,
        "new and old secret both sign during the grace period"
    );
    assert_eq!(
        signing[0].expose(),
        secret["webhook_secret"].as_str().unwrap()
    );
    assert_eq!(
        signing[1].expose(),
        created["webhook_secret"].as_str().unwrap()
    );
    assert!(
        tenant
            .signing_secrets(gateway_aws::now() + 24 * 3600 + 1)
            .len()
            == 1
    );
}

#[tokio::test]
async fn dead_letters_are_listed_and_redriven_with_a_count() {
    let ctl = Ctl::new("ctl-dlq").await;
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"value":{"messaging_product":"whatsapp","messages":[{"from":"1","id":"wamid.d1"},{"from":"1","id":"wamid.d2"},{"from":"1","id":"wamid.d3"}]},"field":"messages"}]}]}"#;
    let dlq = gateway_aws::queue::SqsEventQueue::new(
        ctl.clients.sqs.clone(),
        &ctl.resources.dead_letter_queue_url,
        gateway_aws::events_bucket::EventsBucket::new(
            ctl.clients.s3.clone(),
            &ctl.resources.events_bucket,
        ),
    );
    dlq.enqueue(&split_events(body).unwrap()).await.unwrap();

    let listed = ctl.run(&["dlq", "list"]);
    assert!(listed.ok, "{}", listed.stderr);
    assert_eq!(listed.stdout.lines().count(), 3, "{}", listed.stdout);
    for id in ["wamid.d1", "wamid.d2", "wamid.d3"] {
        assert!(listed.stdout.contains(id));
    }
    // Listing leaves them in place: wait until all three are visible again (their brief
    // hiding ends), a condition rather than a guessed sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let attrs = ctl
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&ctl.resources.dead_letter_queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let visible = attrs
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if visible == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "listed messages never became visible again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(ctl.json(&["dlq", "redrive"])["moved"], 3);
    let back = ctl
        .clients
        .sqs
        .receive_message()
        .queue_url(&ctl.resources.events_queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(back.messages.unwrap_or_default().len(), 3);
    assert_eq!(ctl.json(&["dlq", "redrive"])["moved"], 0);
}

#[tokio::test]
async fn parked_unroutable_events_are_listed_and_replayed_by_phone_number() {
    use gateway_core::ports::UnroutableStore;
    let ctl = Ctl::new("ctl-unroutable").await;
    let bucket = gateway_aws::events_bucket::EventsBucket::new(
        ctl.clients.s3.clone(),
        &ctl.resources.events_bucket,
    );
    let change = |phone: &str, id: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{phone}"}},"messages":[{{"from":"1","id":"{id}"}}]}},"field":"messages"}}]}}]}}"#
        )
    };
    for (phone, id) in [("P1", "wamid.u1"), ("P1", "wamid.u2"), ("P2", "wamid.u3")] {
        let event = split_events(change(phone, id).as_bytes())
            .unwrap()
            .remove(0);
        bucket.park(&event).await.unwrap();
    }
    let listed = ctl.run(&["unroutable", "list", "--phone", "P1"]);
    assert!(listed.ok, "{}", listed.stderr);
    assert_eq!(listed.stdout.lines().count(), 2, "{}", listed.stdout);
    assert!(listed.stdout.contains("wamid.u1") && listed.stdout.contains("wamid.u2"));
    assert!(!listed.stdout.contains("wamid.u3"));
    assert_eq!(ctl.run(&["unroutable", "list"]).stdout.lines().count(), 3);

    assert_eq!(
        ctl.json(&["unroutable", "replay", "--phone", "P1"])["replayed"],
        2
    );
    let back = ctl
        .clients
        .sqs
        .receive_message()
        .queue_url(&ctl.resources.events_queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let mut ids: Vec<String> = back
        .iter()
        .map(|m| {
            gateway_core::meta::Event::from_queue_body(m.body().unwrap())
                .unwrap()
                .id
                .to_string()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["wamid.u1", "wamid.u2"]);
    let rest = ctl.run(&["unroutable", "list"]);
    assert_eq!(rest.stdout.lines().count(), 1, "{}", rest.stdout);
    assert!(rest.stdout.contains("wamid.u3"));
}
