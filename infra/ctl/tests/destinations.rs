//! `gatewayctl tenant destinations` and the breaker in `tenant show`: the real binary against
//! the emulator's Tenants table.

use gateway_aws::dynamo::DynamoHealth;
use gateway_core::endpoint_health::{EndpointHealth, Failure};
use gateway_core::tenant::TenantId;

mod common;

use common::Ctl;

#[tokio::test]
async fn destinations_are_set_checked_and_shown_with_their_breaker() {
    let ctl = Ctl::new("ctl-dest").await;
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
    assert!(
        ctl.run(&["phone", "add", "106540352242922", "--tenant", id])
            .ok
    );

    let set = ctl.json(&[
        "tenant",
        "destinations",
        id,
        "--phone",
        "106540352242922=https://acme.example/sales",
        "--statuses-url",
        "https://acme.example/statuses",
        "--fields",
        "messages,calls",
    ]);
    let urls = set["destinations"]["urls"].as_array().unwrap();
    assert_eq!(urls.len(), 3, "{set}");
    assert_eq!(urls[0]["used_for"][0], "default");
    assert_eq!(
        set["destinations"]["fields"],
        serde_json::json!(["messages", "calls"])
    );

    // A failure recorded by a forwarder shows up in `tenant show`.
    let health = DynamoHealth::new(ctl.clients.dynamodb.clone(), &ctl.resources.tenants_table);
    let failure = Failure {
        at_ms: 1_000,
        status: Some(502),
        error: "HTTP 502".into(),
    };
    let tenant = TenantId::new(id);
    health
        .record_failure(&tenant, "https://acme.example/statuses", &failure)
        .await
        .unwrap();
    let shown = ctl.json(&["tenant", "show", id]);
    let statuses = shown["destinations"]["urls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["used_for"][0] == "statuses")
        .cloned()
        .unwrap();
    assert_eq!(statuses["failure_streak"], 1, "{shown}");
    assert_eq!(statuses["last_status"], 502);
    assert_eq!(statuses["breaker"], "closed");

    ctl.fails(
        &[
            "tenant",
            "destinations",
            id,
            "--phone",
            "999=https://acme.example/x",
        ],
        "not one of this tenant's phone numbers",
    );
    ctl.fails(
        &["tenant", "destinations", id, "--phone", "106540352242922"],
        "<phone_number_id>=<url>",
    );
    ctl.fails(
        &[
            "tenant",
            "destinations",
            id,
            "--statuses-url",
            "https://10.0.0.1/s",
        ],
        "--statuses-url",
    );
    ctl.fails(
        &["tenant", "destinations", id, "--fields", "Messages"],
        "--fields",
    );
    ctl.fails(
        &["tenant", "destinations", id, "--remove-phone", "123"],
        "has no URL of its own",
    );
    let cleared = ctl.json(&[
        "tenant",
        "destinations",
        id,
        "--remove-phone",
        "106540352242922",
        "--clear-statuses-url",
        "--all-fields",
    ]);
    assert_eq!(
        cleared["destinations"]["urls"].as_array().unwrap().len(),
        1,
        "{cleared}"
    );
    assert_eq!(cleared["destinations"]["fields"], serde_json::json!([]));
}
