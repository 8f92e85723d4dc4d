//! Operating a gateway by its stack's name: `gatewayctl --stack`, `meta subscribe`, `meta status`
//! and `doctor`, the real binary against the emulator and the fake Graph API playing Meta
//! (which calls the gateway's verification route back, as Meta does).
//!
//! gatewayctl runs as a blocking child process, so the tests use a multi-threaded runtime: the
//! stack and the fake go on serving meanwhile. `--stack` and `doctor` need a stack that
//! `sam deploy` created: they run in `make deploy-local` and say SKIPPED under `make test`.

use aws_sdk_ssm::types::ParameterType;
use gateway_core::ports::TenantDirectory;
use gateway_local::fake_graph::APP_ID;
use gateway_tests::{
    ACCESS_TOKEN, APP_SECRET, OTHER_WABA, Stack, VERIFY_TOKEN, WABA_ID, emulator_endpoint, skip,
    stack_with_fake_graph,
};
use serde_json::Value;

#[path = "operate/run.rs"]
mod run;

use run::{Run, gatewayctl_only};

/// gatewayctl against `stack`: by `--stack NAME` when sam deployed it, else by the variables
/// the local stack is operated with.
fn gatewayctl(stack: &Stack, graph_url: &str, args: &[&str]) -> Run {
    gatewayctl_with(stack, graph_url, &[], args)
}

/// As [`gatewayctl`], with `extra` variables set as well.
fn gatewayctl_with(stack: &Stack, graph_url: &str, extra: &[(&str, &str)], args: &[&str]) -> Run {
    let endpoint = emulator_endpoint();
    let mut env: Vec<(&str, &str)> = vec![
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let name = stack.stack_name();
    let mut all_args: Vec<&str> = Vec::new();
    match &name {
        Some(name) => all_args.extend(["--stack", name.as_str()]),
        None => {
            let r = &stack.resources;
            env.extend([
                ("TENANTS_TABLE", r.tenants_table.as_str()),
                ("MESSAGES_TABLE", &r.messages_table),
                ("EVENTS_QUEUE_URL", &r.events_queue_url),
                ("DEAD_LETTER_QUEUE_URL", &r.dead_letter_queue_url),
                ("EVENTS_BUCKET", &r.events_bucket),
                ("GRAPH_API_BASE_URL", graph_url),
                ("META_APP_SECRET", APP_SECRET),
                ("META_VERIFY_TOKEN", VERIFY_TOKEN),
                ("META_ACCESS_TOKEN", ACCESS_TOKEN),
            ]);
        }
    }
    env.extend(extra.iter().copied());
    all_args.extend(args.iter().copied());
    gatewayctl_only(&env, &all_args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn meta_subscribe_is_verified_through_the_gateway_and_subscribes_each_waba() {
    let (stack, graph) = stack_with_fake_graph("meta-subscribe").await;
    let callback = format!("{}/webhook", stack.url());
    let status = gatewayctl(
        &stack,
        &graph.url,
        &["meta", "status", "--app-id", APP_ID, "--waba", WABA_ID],
    );
    assert!(status.ok, "{}", status.stderr);
    assert_eq!(status.lines()[0]["subscribed"], false);
    assert_eq!(status.lines()[1]["subscribed"], false);

    let subscribed = gatewayctl(
        &stack,
        &graph.url,
        &[
            "meta",
            "subscribe",
            "--app-id",
            APP_ID,
            "--waba",
            WABA_ID,
            "--callback-url",
            &callback,
        ],
    );
    assert!(
        subscribed.ok,
        "{}\n{}",
        subscribed.stdout, subscribed.stderr
    );
    let lines = subscribed.lines();
    assert_eq!(lines[0]["verified"], true);
    assert_eq!(lines[0]["callback_url"], callback.as_str());
    assert!(
        lines[0]["fields"]
            .as_array()
            .unwrap()
            .contains(&"messages".into())
    );
    assert_eq!(
        lines[1],
        serde_json::json!({"waba_id": WABA_ID, "subscribed": true})
    );
    // Meta's verification GET reached the gateway: the fake made it before it answered.
    let seen = graph.seen();
    let posted = seen
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with(&format!("/{APP_ID}/subscriptions")))
        .expect("the app subscription was posted");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&posted.body)
        .into_owned()
        .collect();
    assert!(form.contains(&("verify_token".into(), VERIFY_TOKEN.into())));
    assert!(form.contains(&("object".into(), "whatsapp_business_account".into())));

    let status = gatewayctl(
        &stack,
        &graph.url,
        &[
            "meta", "status", "--app-id", APP_ID, "--waba", WABA_ID, "--waba", OTHER_WABA,
        ],
    );
    assert!(status.ok, "{}", status.stderr);
    let lines = status.lines();
    assert_eq!(lines[0]["subscribed"], true);
    assert_eq!(lines[0]["active"], true);
    assert_eq!(lines[0]["callback_url"], callback.as_str());
    assert_eq!(lines[1]["subscribed"], true);
    assert_eq!(
        lines[2],
        serde_json::json!({"waba_id": OTHER_WABA, "subscribed": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn meta_subscribe_fails_and_says_why_when_the_verification_fails() {
    let (stack, graph) = stack_with_fake_graph("meta-subscribe-wrong").await;
    // A callback that is not the gateway: the verification cannot succeed there.
    let wrong = format!("{}/not-the-webhook", stack.url());
    let run = gatewayctl(
        &stack,
        &graph.url,
        &[
            "meta",
            "subscribe",
            "--app-id",
            APP_ID,
            "--callback-url",
            &wrong,
        ],
    );
    assert!(!run.ok, "{}", run.stdout);
    assert!(
        run.stderr.contains("Callback verification failed"),
        "{}",
        run.stderr
    );
    let status = gatewayctl(&stack, &graph.url, &["meta", "status", "--app-id", APP_ID]);
    assert_eq!(status.lines()[0]["subscribed"], false, "{}", status.stderr);
    // Another app's id is not this token's app.
    let other = gatewayctl(&stack, &graph.url, &["meta", "status", "--app-id", "999"]);
    assert!(!other.ok);
    assert!(
        other.stderr.contains("Invalid OAuth access token")
            || other.stderr.contains("does not exist"),
        "{}",
        other.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stack_name_is_all_gatewayctl_needs() {
    let (stack, graph) = stack_with_fake_graph("ctl-stack").await;
    if stack.stack_name().is_none() {
        skip(
            "a_stack_name_is_all_gatewayctl_needs",
            "`--stack` needs a stack sam deployed; `make deploy-local` runs this test",
        );
        return;
    }
    let created = gatewayctl(
        &stack,
        &graph.url,
        &[
            "tenant",
            "create",
            "--name",
            "acme",
            "--webhook-url",
            "http://127.0.0.1:9/hook",
            "--json",
        ],
    );
    assert!(created.ok, "{}", created.stderr);
    let tenant = created.lines()[0]["tenant_id"].as_str().unwrap().to_owned();
    // The table it wrote is the stack's, read back through the SDK.
    assert!(
        stack
            .tenants()
            .tenant(&gateway_core::tenant::TenantId::new(tenant.clone()))
            .await
            .unwrap()
            .is_some()
    );
    // Variables left in the shell from another stack do not redirect a named one.
    let listed = gatewayctl_with(
        &stack,
        &graph.url,
        &[
            ("TENANTS_TABLE", "another-stacks-table"),
            ("META_VERIFY_TOKEN", "wrong"),
        ],
        &["tenant", "list"],
    );
    assert!(listed.ok, "{}", listed.stderr);
    assert!(listed.stdout.contains(&tenant), "{}", listed.stdout);
    let listed = gatewayctl(&stack, &graph.url, &["dlq", "list"]);
    assert!(listed.ok, "{}", listed.stderr);
    assert_eq!(listed.stdout, "");
    let endpoint = emulator_endpoint();
    let missing = gatewayctl_only(
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
        &["--stack", "no-such-stack", "tenant", "list"],
    );
    assert!(!missing.ok);
    assert!(missing.stderr.contains("no-such-stack"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_passes_a_healthy_stack_and_names_what_to_fix() {
    let (stack, graph) = stack_with_fake_graph("ctl-doctor").await;
    let Some(name) = stack.stack_name() else {
        skip(
            "doctor_passes_a_healthy_stack_and_names_what_to_fix",
            "`doctor` checks a stack sam deployed; `make deploy-local` runs this test",
        );
        return;
    };
    let webhook = format!("{}/webhook", stack.url());
    let doctor =
        |stack: &Stack| gatewayctl(stack, &graph.url, &["doctor", "--webhook-url", &webhook]);
    let check = |run: &Run, name: &str| -> Value {
        run.lines()
            .into_iter()
            .find(|l| l["check"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {}", run.stdout))
    };

    // Nobody subscribed to the alarm topic yet: the one failure, with its fix.
    let first = doctor(&stack);
    assert!(!first.ok);
    for passing in [
        "ssm:MetaAppSecretParameter",
        "ssm:MetaVerifyTokenParameter",
        "ssm:MetaAccessTokenParameter",
        "webhook_verification",
        "events_queue",
        "dead_letter_queue",
        "graph_token",
    ] {
        assert_eq!(
            check(&first, passing)["ok"],
            true,
            "{passing}: {}",
            first.stdout
        );
    }
    let alarms = check(&first, "alarm_subscribers");
    assert_eq!(alarms["ok"], false);
    assert!(alarms["fix"].as_str().unwrap().contains("AlarmEmail"));

    let cloudformation = aws_sdk_cloudformation::Client::new(
        &gateway_local::emulator::sdk_config(&emulator_endpoint()).await,
    );
    let outputs = cloudformation
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .unwrap();
    let topic = outputs.stacks()[0]
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("AlarmTopicArn"))
        .and_then(|o| o.output_value())
        .unwrap()
        .to_owned();
    let sns =
        aws_sdk_sns::Client::new(&gateway_local::emulator::sdk_config(&emulator_endpoint()).await);
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:oncall")
        .send()
        .await
        .unwrap();
    let healthy = doctor(&stack);
    assert!(healthy.ok, "{}\n{}", healthy.stdout, healthy.stderr);

    // A secret stored as a plain String is named, with the command that fixes it.
    let parameter = outputs.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("MetaVerifyTokenParameter"))
        .and_then(|p| p.parameter_value())
        .unwrap()
        .to_owned();
    stack
        .clients
        .ssm
        .put_parameter()
        .name(format!("/{parameter}"))
        .value(VERIFY_TOKEN)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let plain = doctor(&stack);
    assert!(!plain.ok);
    let verify = check(&plain, "ssm:MetaVerifyTokenParameter");
    assert_eq!(verify["ok"], false);
    assert!(
        verify["fix"]
            .as_str()
            .unwrap()
            .contains("--type SecureString"),
        "{verify}"
    );
}

#[test]
fn loopback_targets_and_a_plain_http_graph_api_are_refused_outside_the_local_emulator() {
    let aws = [
        (
            "AWS_ENDPOINT_URL",
            "https://dynamodb.us-east-1.amazonaws.com",
        ),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("TENANTS_TABLE", "t"),
        ("MESSAGES_TABLE", "m"),
        ("ALLOW_LOOPBACK_HTTP_TARGETS", "true"),
    ];
    // Refused before any request is made.
    let refused = gatewayctl_only(&aws, &["tenant", "list"]);
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("local emulator only"),
        "{}",
        refused.stderr
    );
    let endpoint = emulator_endpoint();
    let local = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("GRAPH_API_BASE_URL", "http://graph.example"),
        ("META_APP_SECRET", APP_SECRET),
    ];
    // Tokens go only to an https Graph API (or the local fake on loopback).
    let plain = gatewayctl_only(&local, &["meta", "status", "--app-id", APP_ID]);
    assert!(!plain.ok);
    assert!(plain.stderr.contains("must be https"), "{}", plain.stderr);
}
