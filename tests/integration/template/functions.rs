//! The functions themselves: runtime, architecture and memory, the variables their settings
//! need, and the public function URL of the webhook.

use gateway_local::provision::resources_of_type;

use super::*;

#[test]
fn every_function_runs_on_provided_al2023_arm64_by_default_with_128_mb_but_the_forwarder_256() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(ref_target(&globals["Architectures"][0]), "Architecture");
    let architecture = &t["Parameters"]["Architecture"];
    assert_eq!(architecture["Default"], "arm64");
    assert_eq!(
        architecture["AllowedValues"],
        serde_norway::from_str::<Value>("[arm64, x86_64]").unwrap()
    );
    assert_eq!(number(&globals["MemorySize"]), 128);
    assert_eq!(
        number(&resource(&t, "ForwardFunction")["Properties"]["MemorySize"]),
        256
    );
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(globals["LoggingConfig"]["SystemLogLevel"], "WARN");
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 4);
    for (id, props) in functions {
        let r = resource(&t, id);
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert!(
            props.get("Runtime").is_none_or(|v| v == "provided.al2023"),
            "{id}"
        );
        assert!(
            props.get("Architectures").is_none(),
            "{id} overrides the architecture"
        );
    }
}

#[test]
fn the_template_never_allows_loopback_http_targets() {
    let text = std::fs::read_to_string(default_template()).unwrap();
    assert!(!text.contains("ALLOW_LOOPBACK_HTTP_TARGETS"));
}

#[test]
fn the_functions_read_every_variable_the_settings_need() {
    let t = template();
    let vars = &t["Globals"]["Function"]["Environment"]["Variables"];
    for name in [
        "TENANTS_TABLE",
        "MESSAGES_TABLE",
        "IDEMPOTENCY_TABLE",
        "EVENTS_QUEUE_URL",
        "GRAPH_API_BASE_URL",
        "GRAPH_API_VERSION",
    ] {
        assert!(vars.get(name).is_some(), "{name} missing from Globals");
    }
    let webhook = &resource(&t, "WebhookFunction")["Properties"]["Environment"]["Variables"];
    assert!(webhook.get("META_APP_SECRET_PARAM").is_some());
    assert!(webhook.get("META_VERIFY_TOKEN_PARAM").is_some());
    let send = &resource(&t, "SendFunction")["Properties"]["Environment"]["Variables"];
    assert!(send.get("META_ACCESS_TOKEN_PARAM").is_some());
}

#[test]
fn a_function_url_webhook_has_both_permissions_aws_requires_and_its_own_alarm() {
    let t = template();
    let url = resource(&t, "WebhookFunctionUrl");
    assert_eq!(url["Condition"], "UseFunctionUrl");
    assert_eq!(url["Properties"]["AuthType"], "NONE");
    let mut actions: Vec<(String, bool)> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Permission" && r["Condition"] == "UseFunctionUrl")
        .map(|r| {
            let p = &r["Properties"];
            assert_eq!(ref_target(&p["FunctionName"]), "WebhookFunction");
            assert_eq!(p["Principal"], "*");
            (
                p["Action"].as_str().unwrap().to_owned(),
                p["InvokedViaFunctionUrl"] == true || p["FunctionUrlAuthType"] == "NONE",
            )
        })
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec![
            ("lambda:InvokeFunction".to_owned(), true),
            ("lambda:InvokeFunctionUrl".to_owned(), true)
        ],
        "a public function URL needs InvokeFunctionUrl and, via the URL only, InvokeFunction"
    );
    let alarm = resource(&t, "WebhookUrlServerErrorsAlarm");
    assert_eq!(alarm["Condition"], "UseFunctionUrl");
    assert_eq!(alarm["Properties"]["MetricName"], "Url5xxCount");
}
