//! `gateway-local`: the whole gateway on this machine against the AWS emulator named by
//! AWS_ENDPOINT_URL (started by `make run`), with a demo tenant and its receiver. The Graph API
//! is the fake one, or the one GRAPH_API_BASE_URL names (with META_ACCESS_TOKEN).

use std::sync::Arc;

use anyhow::Context;
use gateway_core::admin::{AdminError, OwnershipError, TenantSpec};
use gateway_core::format::DeliveryFormat;
use gateway_core::ports::OwnerKind;
use gateway_core::signature::Secret;
use gateway_local::fake_graph::FakeGraph;
use gateway_local::{LocalStack, StackOptions, demo_client, demo_receiver, emulator, http_server};

/// The ids used by the fixtures in tests/fixtures/meta, so any of them can be posted as is.
const DEMO_PHONE_NUMBER_ID: &str = "106540352242922";
const DEMO_WABA_ID: &str = "102290129340398";

fn port(name: &str, default: u16) -> anyhow::Result<u16> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a port number")),
        Err(_) => Ok(default),
    }
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gateway_aws::init_logging();
    let endpoint = emulator::endpoint_from_env()?;
    let gateway_port = port("GATEWAY_PORT", 3000)?;
    let graph_port = port("GRAPH_PORT", 3001)?;
    let receiver_port = port("DEMO_RECEIVER_PORT", 3002)?;
    let realtime_port = port("REALTIME_PORT", 3003)?;

    let mut options = StackOptions::new(&endpoint, "local");
    options.gateway_port = gateway_port;
    options.realtime_port = realtime_port;
    options.app_secrets = var("META_APP_SECRET", "local-app-secret")
        .split(',')
        .map(|s| Secret::new(s.trim()))
        .collect();
    options.verify_token = Secret::new(var("META_VERIFY_TOKEN", "local-verify-token"));
    options.retry_scale = var("RETRY_SCALE", "0.01").parse().context("RETRY_SCALE")?;
    // As the functions read them: with a shrunk retry schedule, shrink the probe interval too.
    options.breaker = gateway_aws::config::breaker_from_env()?;
    // The demo tenant's number and WABA: the fixtures' by default, your own against Meta.
    let phone_number_id = var("PHONE_NUMBER_ID", DEMO_PHONE_NUMBER_ID);
    let waba_id = var("WABA_ID", DEMO_WABA_ID);
    // GRAPH_API_BASE_URL: a real Graph API (or a recorder) instead of the fake one.
    let graph = match std::env::var("GRAPH_API_BASE_URL") {
        Ok(url) => {
            let token = std::env::var("META_ACCESS_TOKEN")
                .context("META_ACCESS_TOKEN is required with GRAPH_API_BASE_URL")?;
            options.access_token = Secret::new(token);
            options.graph_api_base_url = url;
            None
        }
        Err(_) => {
            let fake = FakeGraph::start(
                graph_port,
                options.access_token.clone(),
                options.app_secrets[0].clone(),
                &[(waba_id.as_str(), &[phone_number_id.as_str()])],
            )
            .await?;
            options.graph_api_base_url = fake.url.clone();
            Some(fake)
        }
    };
    let graph_url = options.graph_api_base_url.clone();
    let stack = LocalStack::start(options).await?;
    if let Some(fake) = &graph {
        fake.set_webhook_url(format!("{}/webhook", stack.url()));
    }

    let receiver_listener = http_server::bind(receiver_port).await?;
    let admin = stack.admin();
    let demo = admin
        .create(TenantSpec {
            name: "demo".to_owned(),
            webhook_url: format!("http://127.0.0.1:{receiver_port}/webhook"),
            format: DeliveryFormat::Meta,
            callback_domains: vec!["localhost".to_owned()],
        })
        .await?;
    for (kind, id) in [
        (OwnerKind::Phone, phone_number_id.as_str()),
        (OwnerKind::Waba, waba_id.as_str()),
    ] {
        match admin.assign(kind, id, &demo.tenant_id).await {
            Ok(_) | Err(AdminError::Ownership(OwnershipError::Taken { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let secret = Arc::new(Secret::new(demo.webhook_secret.clone()));
    let receiver = tokio::spawn(http_server::serve(receiver_listener, move |req| {
        demo_receiver::handle(secret.clone(), req)
    }));

    // The one line to paste into another shell: gatewayctl (built next to this binary) then
    // finds the local tables, queues and bucket by their local names.
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    println!(
        "export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 PATH=\"{bin_dir}:$PATH\"  # then: gatewayctl tenant list"
    );
    println!(
        "demo tenant {} (phone_number_id {phone_number_id}, WABA {waba_id}) api_key={}",
        demo.tenant_id, demo.api_key
    );
    println!(
        "real time: POST {}/v1/realtime/tokens gives a ws://{}/ws?token=... URL; the demo's live client prints what it receives",
        stack.url(),
        stack.realtime_addr
    );
    let (gateway, key) = (stack.url(), demo.api_key.clone());
    let (connected, live_ready) = tokio::sync::oneshot::channel();
    let live = tokio::spawn(async move {
        if let Err(e) = demo_client::run(gateway, key, connected).await {
            eprintln!("live client stopped: {e:#}");
        }
    });
    // "ready" only once the live client listens, so nothing posted after it is missed.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), live_ready).await;

    println!(
        "ready gateway={} webhook={}/webhook graph={} receiver=http://127.0.0.1:{receiver_port}/webhook",
        stack.url(),
        stack.url(),
        graph_url
    );

    tokio::signal::ctrl_c().await?;
    println!("stopping");
    live.abort();
    receiver.abort();
    drop(graph);
    stack.stop().await;
    Ok(())
}
