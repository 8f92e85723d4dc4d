//! The unchanged template.yaml, built by `sam build` and deployed per test by `sam deploy` into
//! the emulator (`make deploy-local`): CloudFormation creates the tables, queues, bucket,
//! functions, the HTTP API and the SQS event source mapping, and requests go through the HTTP
//! API's routes. Three gaps of the emulator are bridged here, each named where it is bridged:
//! its HTTP API ignores the OpenAPI body SAM writes (so the routes are created from the
//! template's events), its API has no resolvable host name (so a loopback alias passes
//! requests on to its path form unchanged), and neither has its WebSocket API (so the
//! functions' `REALTIME_*` variables name its path form).

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail, ensure};
use aws_sdk_cloudformation::types::{Stack, StackStatus};
use gateway_aws::Clients;
use gateway_local::provision::{Resources, load_template};
use gateway_local::{StackOptions, emulator};
use serde_norway::Value;
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::proxy::{serve_proxy, store_secrets};

mod bridge;

use bridge::{bridge_routes, test_settings};

/// The bucket `sam deploy` uploads the built functions to (one prefix per stack).
const ARTIFACTS_BUCKET: &str = "gateway-sam-artifacts";

pub struct SamStack {
    pub url: String,
    /// Where Meta posts: the stack's WebhookUrl output, as the emulator serves it.
    pub webhook_url: String,
    pub resources: Resources,
    pub clients: Clients,
    name: String,
    proxy: JoinHandle<()>,
}

impl SamStack {
    /// The stack's name (`gatewayctl --stack`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for SamStack {
    fn drop(&mut self) {
        self.proxy.abort();
        let name = self.name.clone();
        let ssm = self.clients.ssm.clone();
        let _ = std::thread::spawn(move || {
            sam_delete(&name);
            // The secrets stored before the deploy are not the stack's: removed here. The
            // client is used on a runtime of this thread, not the test's.
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    let listed = ssm
                        .get_parameters_by_path()
                        .path(format!("/{name}"))
                        .recursive(true)
                        .send()
                        .await;
                    for parameter in listed.iter().flat_map(|l| l.parameters()) {
                        if let Some(parameter) = parameter.name() {
                            let _ = ssm.delete_parameter().name(parameter).send().await;
                        }
                    }
                });
            }
        })
        .join();
    }
}

/// `sam delete` removes the stack and its uploaded artifacts; deleting the functions ends
/// their warm bootstrap processes.
fn sam_delete(name: &str) {
    let status = std::process::Command::new(sam_cli())
        .args([
            "delete",
            "--no-prompts",
            "--region",
            "us-east-1",
            "--stack-name",
        ])
        .arg(name)
        .args(["--s3-bucket", ARTIFACTS_BUCKET, "--s3-prefix"])
        .arg(name)
        .env("SAM_CLI_TELEMETRY", "0")
        .stdout(std::process::Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("sam delete --stack-name {name} failed: {status:?}");
    }
}

const EMPTY_CONFIG: &str = "gateway-tests-samconfig.toml";

/// A samconfig with nothing in it: the checkout's own samconfig.toml (written by
/// `make deploy --guided`) must not steer the test stacks.
fn empty_config() -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(EMPTY_CONFIG);
    std::fs::write(&path, "version = 0.1\n").context("writing an empty samconfig")?;
    Ok(path)
}

/// The SAM CLI `make deploy-local` installed (`GATEWAY_SAM`).
fn sam_cli() -> PathBuf {
    std::env::var_os("GATEWAY_SAM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sam"))
}

/// The checkout `sam build` ran in: `sam deploy` finds `.aws-sam/build` there.
fn project_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn output(stack: &Stack, key: &str) -> anyhow::Result<String> {
    stack
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the stack has no output {key}"))
}

pub async fn deploy(options: StackOptions) -> anyhow::Result<SamStack> {
    emulator::ensure_loopback(&options.endpoint)?;
    let sdk = emulator::sdk_config(&options.endpoint).await;
    let clients = Clients::new(&sdk);
    let template = load_template(&options.template)?;
    let name = options.prefix.clone();

    // What an operator does before `sam deploy`: the secrets as SSM SecureString parameters.
    let mut overrides = vec![
        format!("GraphApiBaseUrl={}", options.graph_api_base_url),
        format!(
            "WebhookTimeoutSeconds={}",
            options.webhook_timeout.as_secs().max(1)
        ),
        format!("TenantCacheSeconds={}", options.tenant_cache.as_secs()),
        format!("EventRetentionDays={}", options.event_retention_days),
        format!("BreakerThreshold={}", options.breaker.threshold),
        format!(
            "BreakerProbeSeconds={}",
            options.breaker.probe_every.as_secs().max(1)
        ),
        format!(
            "RealtimeMaxConnectionsPerTenant={}",
            options.realtime_max_connections_per_tenant
        ),
        format!(
            "Architecture={}",
            std::env::var("GATEWAY_SAM_ARCHITECTURE").unwrap_or_else(|_| "x86_64".into())
        ),
    ];
    for (parameter, value) in &options.template_parameters {
        overrides.push(format!("{parameter}={value}"));
    }
    for (parameter, value) in store_secrets(&clients, &options, &template).await? {
        overrides.push(format!("{parameter}={value}"));
    }
    match clients
        .s3
        .create_bucket()
        .bucket(ARTIFACTS_BUCKET)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(anyhow!(e).context("creating the artifacts bucket")),
    }

    let deployed = Command::new(sam_cli())
        .current_dir(project_dir())
        .args(["deploy", "--stack-name", &name, "--region", "us-east-1"])
        .arg("--config-file")
        .arg(empty_config()?)
        .args(["--s3-bucket", ARTIFACTS_BUCKET, "--s3-prefix", &name])
        .args(["--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset"])
        .args(["--no-fail-on-empty-changeset", "--no-progressbar"])
        .arg("--parameter-overrides")
        .args(&overrides)
        .env("SAM_CLI_TELEMETRY", "0")
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {}", sam_cli().display()))?;
    if !deployed.status.success() {
        // A failed create leaves a ROLLBACK_COMPLETE stack and its artifacts behind.
        let doomed = name.clone();
        let _ = tokio::task::spawn_blocking(move || sam_delete(&doomed)).await;
        bail!(
            "sam deploy --stack-name {name} failed:\n{}\n{}",
            String::from_utf8_lossy(&deployed.stdout),
            String::from_utf8_lossy(&deployed.stderr)
        );
    }
    match after_deploy(&sdk, clients, &template, &options, name.clone()).await {
        Ok(stack) => Ok(stack),
        Err(e) => {
            let _ = tokio::task::spawn_blocking(move || sam_delete(&name)).await;
            Err(e)
        }
    }
}

/// From the deployed stack: its resources, the bridged routes, the test settings, the alias.
async fn after_deploy(
    sdk: &aws_config::SdkConfig,
    clients: Clients,
    template: &Value,
    options: &StackOptions,
    name: String,
) -> anyhow::Result<SamStack> {
    let cloudformation = aws_sdk_cloudformation::Client::new(sdk);
    let stack = cloudformation
        .describe_stacks()
        .stack_name(&name)
        .send()
        .await
        .context("describing the stack")?
        .stacks
        .and_then(|s| s.into_iter().next())
        .ok_or_else(|| anyhow!("stack {name} is not there after sam deploy"))?;
    ensure!(
        stack.stack_status() == Some(&StackStatus::CreateComplete),
        "stack {name} is {:?}, not CREATE_COMPLETE",
        stack.stack_status()
    );
    let resources = Resources {
        tenants_table: output(&stack, "TenantsTableName")?,
        messages_table: output(&stack, "MessagesTableName")?,
        idempotency_table: output(&stack, "IdempotencyTableName")?,
        connections_table: output(&stack, "ConnectionsTableName")?,
        events_queue_url: output(&stack, "EventsQueueUrl")?,
        dead_letter_queue_url: output(&stack, "EventsDeadLetterQueueUrl")?,
        events_bucket: output(&stack, "EventsBucketName")?,
    };
    let physical = physical_ids(&cloudformation, &name)
        .await
        .context("listing the stack's resources")?;
    let api_id = physical
        .get("ServerlessHttpApi")
        .ok_or_else(|| anyhow!("the stack has no ServerlessHttpApi"))?
        .clone();
    bridge_routes(sdk, template, &api_id, &physical)
        .await
        .context("creating the HTTP API's routes")?;
    test_settings(sdk, template, options, &physical)
        .await
        .context("setting the test environment")?;

    // Emulator gap: `{apiId}.execute-api.localhost` does not resolve here, so a loopback alias
    // passes each request on to the API's path form, path, headers and body unchanged (the
    // Host header stays the alias's, so the URLs the gateway writes point back at it).
    let base = format!(
        "{}/_aws/execute-api/{api_id}/$default",
        options.endpoint.trim_end_matches('/')
    );
    let (url, proxy) = serve_proxy(move |_| base.clone(), true).await?;
    let webhook_url = local_webhook_url(&output(&stack, "WebhookUrl")?, &url, &options.endpoint)?;
    Ok(SamStack {
        url,
        webhook_url,
        resources,
        clients,
        name,
        proxy,
    })
}

/// The WebhookUrl output as this machine reaches it: the HTTP API's through the loopback alias,
/// a function URL (`https://{id}.lambda-url.{region}.on.aws/webhook`) at the emulator's
/// `/_aws/lambda-url/{id}/webhook`.
fn local_webhook_url(output: &str, alias: &str, endpoint: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(output).with_context(|| format!("WebhookUrl `{output}`"))?;
    let host = parsed.host_str().unwrap_or_default();
    if host.contains(".execute-api.") {
        return Ok(format!("{alias}{}", parsed.path()));
    }
    if let Some((id, _)) = host.split_once(".lambda-url.") {
        return Ok(format!(
            "{}/_aws/lambda-url/{id}{}",
            endpoint.trim_end_matches('/'),
            parsed.path()
        ));
    }
    bail!("WebhookUrl `{output}` is neither the HTTP API's nor a function URL")
}

/// Logical id -> physical id of every resource of the stack.
async fn physical_ids(
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let listed = cloudformation
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await?;
    Ok(listed
        .stack_resources()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_owned(),
                r.physical_resource_id()?.to_owned(),
            ))
        })
        .collect())
}
