//! `make run`'s binary, as a user starts it, against a Graph API of their choosing: with
//! GRAPH_API_BASE_URL and META_ACCESS_TOKEN set it sends there (here a fake standing in for a
//! recorder or Meta itself) instead of starting its own fake. The line it prints to paste is
//! all gatewayctl needs to operate it, and its live client prints what arrives over the
//! WebSocket. Needs the emulator `make test` starts (AWS_ENDPOINT_URL).

use std::process::Stdio;
use std::time::Duration;

use gateway_core::signature::{Secret, sign_hub};
use gateway_local::fake_graph::FakeGraph;
use tokio::io::{AsyncBufReadExt, BufReader};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn make_run_sends_through_the_graph_api_that_graph_api_base_url_names() {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        // As gateway_tests::skip does (this crate cannot depend on gateway-tests).
        let reason = "no emulator (AWS_ENDPOINT_URL unset): run `make test`";
        eprintln!(
            "SKIPPED make_run_sends_through_the_graph_api_that_graph_api_base_url_names: {reason}"
        );
        if let Ok(path) = std::env::var("GATEWAY_SKIP_LOG") {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            writeln!(
                log,
                "make_run_sends_through_the_graph_api_that_graph_api_base_url_names: {reason}"
            )
            .unwrap();
        }
        return;
    };
    let (phone, waba) = ("123450000001", "123450000002");
    let recorder = FakeGraph::start(
        0,
        Secret::new("my-meta-token"),
        Secret::new("my-app-secret"),
        &[(waba, &[phone])],
    )
    .await
    .unwrap();
    let gateway_port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway-local"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("GATEWAY_PORT", gateway_port.to_string())
        .env("GRAPH_PORT", free_port().to_string())
        .env("DEMO_RECEIVER_PORT", free_port().to_string())
        .env("REALTIME_PORT", free_port().to_string())
        .env("GRAPH_API_BASE_URL", &recorder.url)
        .env("META_ACCESS_TOKEN", "my-meta-token")
        .env("PHONE_NUMBER_ID", phone)
        .env("WABA_ID", waba)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut api_key = None;
    let mut paste = None;
    let started = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(key) = line.split("api_key=").nth(1) {
                assert!(
                    line.contains(phone),
                    "the demo tenant has my number: {line}"
                );
                api_key = Some(key.trim().to_owned());
            }
            if line.starts_with("export AWS_ENDPOINT_URL=") {
                paste = Some(line.clone());
            }
            if line.starts_with("ready") {
                assert!(line.contains(&format!("graph={}", recorder.url)), "{line}");
                return;
            }
        }
        panic!("gateway-local ended before it was ready");
    })
    .await;
    assert!(started.is_ok(), "gateway-local was not ready in 60 s");
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{gateway_port}/v1/messages"))
        .bearer_auth(api_key.expect("the demo tenant's key was printed"))
        .header("content-type", "application/json")
        .body(r#"{"recipient":"4915112345678","type":"text","text":{"body":"hi"}}"#)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    assert_eq!(status, 202, "{}", answer.text().await.unwrap_or_default());
    let seen = recorder.seen();
    assert!(
        seen.iter()
            .any(|r| r.path == format!("/v23.0/{phone}/messages")),
        "the send reached the Graph API I named: {seen:?}"
    );

    // A webhook Meta signs reaches the demo's live client over the WebSocket.
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{waba}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{phone}"}},"messages":[{{"from":"4915112345678","id":"wamid.live1","timestamp":"1700000000","type":"text","text":{{"body":"live"}}}}]}},"field":"messages"}}]}}]}}"#
    );
    let posted = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{gateway_port}/webhook"))
        .header(
            "x-hub-signature-256",
            sign_hub(&Secret::new("local-app-secret"), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let live = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("live client: message:new wamid.live1") {
                return line;
            }
        }
        panic!("gateway-local ended before its live client printed the event");
    })
    .await;
    assert!(live.is_ok(), "the live client printed no frame in 30 s");

    // The line `make run` prints is all gatewayctl needs: the local names, loopback targets.
    let paste = paste.expect("the line to paste was printed");
    let gatewayctl = |args: &[&str]| {
        let mut command = std::process::Command::new("gatewayctl");
        command.env_clear();
        let assignments = paste
            .trim_start_matches("export ")
            .split('#')
            .next()
            .unwrap()
            .split_whitespace();
        for assignment in assignments {
            let (name, value) = assignment.split_once('=').unwrap();
            let value = value
                .trim_matches('"')
                .replace("$PATH", &std::env::var("PATH").unwrap_or_default());
            command.env(name, value);
        }
        let out = command
            .args(args)
            .output()
            .expect("gatewayctl is on the printed PATH");
        assert!(
            out.status.success(),
            "gatewayctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(gatewayctl(&["tenant", "list"]).contains(r#""name":"demo""#));
    let created = gatewayctl(&[
        "tenant",
        "create",
        "--name",
        "laptop",
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        "--json",
    ]);
    assert!(created.contains("tenant_id"), "{created}");
    assert_eq!(gatewayctl(&["dlq", "list"]), "");
    let _ = child.kill().await;
}
