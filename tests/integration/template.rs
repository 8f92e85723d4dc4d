//! What cfn-lint cannot see in template.yaml: the settings the code relies on.

use gateway_aws::dynamo::{BY_CONNECTION, CONNECTION_ID, PK, TENANT, TTL_ATTRIBUTE, WAMID};
use gateway_core::retry::RetrySchedule;
use gateway_local::provision::{get_att_target, load_template, resources_of_type};
use gateway_local::stack::default_template;
use serde_norway::Value;

fn template() -> Value {
    load_template(&default_template()).unwrap()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t.get("Resources")
        .and_then(|r| r.get(id))
        .unwrap_or_else(|| panic!("no resource {id}"))
}

/// The name a `!Ref` points at.
fn ref_target(v: &Value) -> String {
    match v {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().unwrap().to_owned(),
        other => panic!("not a !Ref: {other:?}"),
    }
}

fn number(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

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
fn the_forwarder_reports_batch_item_failures_from_batches_of_ten() {
    let t = template();
    let event = &resource(&t, "ForwardFunction")["Properties"]["Events"]["Events"];
    assert_eq!(event["Type"], "SQS");
    assert_eq!(
        event["Properties"]["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(number(&event["Properties"]["BatchSize"]), 10);
    assert_eq!(
        get_att_target(&event["Properties"]["Queue"]).as_deref(),
        Some("EventsQueue")
    );
}

#[test]
fn queue_visibility_is_at_least_six_forward_timeouts_and_timeouts_nest() {
    let t = template();
    let forward = &resource(&t, "ForwardFunction")["Properties"];
    let timeout = number(&forward["Timeout"]);
    let parameter = ref_target(&forward["Environment"]["Variables"]["WEBHOOK_TIMEOUT_SECS"]);
    let http_timeout = &t["Parameters"][parameter.as_str()];
    assert_eq!(number(&http_timeout["Default"]), 10);
    let longest = number(&http_timeout["MaxValue"]);
    let visibility = number(&resource(&t, "EventsQueue")["Properties"]["VisibilityTimeout"]);
    // Large events are delivered five at a time, so a batch of ten takes at most two waves.
    assert!(
        2 * longest < timeout,
        "two waves of the longest HTTP timeout ({longest} s) must end before the function's {timeout} s"
    );
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} < 6 x {timeout}"
    );
}

#[test]
fn max_receive_count_is_a_backstop_above_the_delivery_attempts() {
    let t = template();
    let queue = &resource(&t, "EventsQueue")["Properties"];
    let redrive = &queue["RedrivePolicy"];
    let schedule = RetrySchedule::default();
    assert_eq!(
        number(&redrive["maxReceiveCount"]),
        u64::from(schedule.receive_backstop())
    );
    assert!(schedule.receive_backstop() > schedule.attempts());
    assert_eq!(
        get_att_target(&redrive["deadLetterTargetArn"]).as_deref(),
        Some("EventsDeadLetterQueue")
    );
    assert_eq!(number(&queue["MessageRetentionPeriod"]), 14 * 86_400);
    assert_eq!(
        number(&resource(&t, "EventsDeadLetterQueue")["Properties"]["MessageRetentionPeriod"]),
        14 * 86_400
    );
}

#[test]
fn tables_use_the_key_and_ttl_attributes_the_code_uses() {
    let t = template();
    for (id, key) in [
        ("TenantsTable", PK),
        ("MessagesTable", WAMID),
        ("IdempotencyTable", PK),
    ] {
        let props = &resource(&t, id)["Properties"];
        assert_eq!(props["KeySchema"][0]["AttributeName"], key, "{id}");
        assert_eq!(
            props["TimeToLiveSpecification"]["AttributeName"], TTL_ATTRIBUTE,
            "{id}"
        );
        assert_eq!(props["TimeToLiveSpecification"]["Enabled"], true, "{id}");
        assert_eq!(props["BillingMode"], "PAY_PER_REQUEST", "{id}");
        assert_eq!(
            props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{id}"
        );
        assert_eq!(props["SSESpecification"]["SSEEnabled"], true, "{id}");
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
fn every_alarm_notifies_the_alarm_topic() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 5, "DLQ depth, API 5xx and one per function");
    for (id, props) in alarms {
        let actions = props["AlarmActions"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has no AlarmActions"));
        assert!(
            actions.iter().any(
                |a| matches!(a, Value::Tagged(t) if t.tag == "Ref" && t.value == "AlarmTopic")
            ),
            "{id} does not notify AlarmTopic"
        );
    }
}

#[test]
fn the_events_bucket_is_encrypted_private_and_expires_what_it_keeps() {
    let t = template();
    let bucket = &resource(&t, "EventsBucket")["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key].as_bool(), Some(true), "{key}");
    }
    assert!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str()
            .is_some()
    );
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("lifecycle rules");
    let days = |prefix: &str| {
        rules
            .iter()
            .find(|r| r["Prefix"].as_str() == Some(prefix))
            .map(|r| number(&r["ExpirationInDays"]))
    };
    // Claim checks outlive the DLQ's 14 days; parked events are kept 14 days.
    assert!(days("events/").is_some_and(|d| d > 14));
    assert_eq!(days(gateway_aws::blob::UNROUTABLE_PREFIX), Some(14));
}

#[test]
fn the_unroutable_alarm_watches_the_metric_the_forwarder_publishes() {
    let t = template();
    let alarm = &resource(&t, "UnroutableEventsAlarm")["Properties"];
    assert_eq!(
        alarm["Namespace"].as_str(),
        Some(gateway_core::metrics::NAMESPACE)
    );
    assert_eq!(
        alarm["MetricName"].as_str(),
        Some(gateway_core::metrics::Metric::Unroutable.name())
    );
    assert_eq!(alarm["Dimensions"][0]["Name"].as_str(), Some("Service"));
    assert_eq!(alarm["Dimensions"][0]["Value"].as_str(), Some("forward"));
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

#[test]
fn the_delivery_index_and_the_dashboard_name_what_the_code_writes() {
    use gateway_aws::dynamo::{BY_TENANT_STATE, STATE_AT_MS, TENANT_STATE};
    let t = template();
    let table = &resource(&t, "IdempotencyTable")["Properties"];
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], BY_TENANT_STATE);
    assert_eq!(index["KeySchema"][0]["AttributeName"], TENANT_STATE);
    assert_eq!(index["KeySchema"][1]["AttributeName"], STATE_AT_MS);
    let types: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| {
            let name = d["AttributeName"].as_str().unwrap().to_owned();
            (name, d["AttributeType"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(types.contains(&(STATE_AT_MS.to_owned(), "N".to_owned())));
    assert!(types.contains(&(TENANT_STATE.to_owned(), "S".to_owned())));

    // The settings the functions read, from the parameters an operator sets.
    let variables = &t["Globals"]["Function"]["Environment"]["Variables"];
    for (variable, parameter) in [
        ("EVENT_RETENTION_DAYS", "EventRetentionDays"),
        ("BREAKER_THRESHOLD", "BreakerThreshold"),
        ("BREAKER_PROBE_SECONDS", "BreakerProbeSeconds"),
    ] {
        assert_eq!(ref_target(&variables[variable]), parameter);
        assert!(
            t["Parameters"][parameter]["Default"].is_number(),
            "{parameter}"
        );
    }

    // The dashboard is valid JSON once substituted, and shows the metrics the code emits.
    let body = match &resource(&t, "Dashboard")["Properties"]["DashboardBody"] {
        Value::Tagged(tagged) if tagged.tag == "Sub" => {
            tagged.value[0].as_str().unwrap().to_owned()
        }
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    let mut substituted = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        substituted.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        substituted.push('X');
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    let dashboard: serde_json::Value = serde_json::from_str(&substituted).expect("dashboard JSON");
    let text = dashboard.to_string();
    for delivered in [true, false] {
        let line = gateway_core::metrics::delivery_line("t", delivered, 1, 0);
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                text.contains(&format!("\"{name}\"")),
                "{name} is not on the dashboard"
            );
        }
    }
    for metric in [
        gateway_core::metrics::Metric::Unroutable,
        gateway_core::metrics::Metric::DeadLettered,
        gateway_core::metrics::Metric::MalformedPart,
    ] {
        assert!(
            text.contains(&format!("\"{}\"", metric.name())),
            "{metric:?}"
        );
    }
    assert!(text.contains(gateway_core::metrics::NAMESPACE));
    assert!(text.contains("ApproximateNumberOfMessagesVisible"));
}

#[test]
fn the_websocket_api_reaches_the_realtime_function_on_the_stage_the_urls_name() {
    let t = template();
    let table = &resource(&t, "ConnectionsTable")["Properties"];
    assert_eq!(table["KeySchema"][0]["AttributeName"], TENANT);
    assert_eq!(table["KeySchema"][1]["AttributeName"], CONNECTION_ID);
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], BY_CONNECTION);
    assert_eq!(index["KeySchema"][0]["AttributeName"], CONNECTION_ID);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        TTL_ATTRIBUTE
    );

    assert_eq!(
        resource(&t, "RealtimeApi")["Properties"]["ProtocolType"],
        "WEBSOCKET"
    );
    let mut keys: Vec<_> = resources_of_type(&t, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(_, r)| r["RouteKey"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["$connect", "$default", "$disconnect"]);
    let integration = format!(
        "{:?}",
        resource(&t, "RealtimeIntegration")["Properties"]["IntegrationUri"]
    );
    assert!(
        integration.contains("${RealtimeFunction.Arn}"),
        "{integration}"
    );
    // No AWS::ApiGatewayV2::Deployment: the stage deploys itself.
    let stage = &resource(&t, "RealtimeStage")["Properties"];
    assert_eq!(stage["AutoDeploy"], true);
    let stage_name = stage["StageName"].as_str().unwrap();
    for (function, variable) in [
        ("SendFunction", "REALTIME_URL"),
        ("ForwardFunction", "REALTIME_ENDPOINT"),
        ("RealtimeFunction", "REALTIME_ENDPOINT"),
    ] {
        let value = format!(
            "{:?}",
            resource(&t, function)["Properties"]["Environment"]["Variables"][variable]
        );
        assert!(
            value.contains("${RealtimeApi}"),
            "{function}.{variable}: {value}"
        );
        assert!(
            value.contains(&format!("/{stage_name}\"")),
            "{function}.{variable}: {value}"
        );
    }
    // What each function does to the WebSocket side, its policies allow (the emulator does
    // not enforce IAM, so only this test checks it).
    let policies =
        |function: &str| format!("{:?}", resource(&t, function)["Properties"]["Policies"]);
    for function in ["ForwardFunction", "RealtimeFunction"] {
        let p = policies(function);
        assert!(
            p.contains("execute-api:ManageConnections"),
            "{function}: {p}"
        );
        assert!(p.contains("${RealtimeApi}/*"), "{function}: {p}");
        assert!(p.contains("ConnectionsTable"), "{function}: {p}");
        assert!(p.contains("TenantsTable"), "{function} reads tenants: {p}");
    }
    // The send function makes the token key in the Tenants table.
    assert!(policies("SendFunction").contains("DynamoDBCrudPolicy"));
    let permission = &resource(&t, "RealtimeInvokePermission")["Properties"];
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert_eq!(ref_target(&permission["FunctionName"]), "RealtimeFunction");
}
