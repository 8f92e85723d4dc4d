//! The unchanged template.yaml, built by `sam build` and deployed per test by `sam deploy` into
//! the emulator (`make deploy-local`): CloudFormation creates the tables, queues, bucket,
//! functions, the HTTP API and the SQS event source mapping, and requests go through the HTTP
//! API's routes. Two gaps of the emulator are bridged here, each named where it is bridged:
//! its HTTP API ignores the OpenAPI body SAM writes (so the routes are created from the
//! template's events), and its API has no resolvable host name (so a loopback alias passes
//! requests on to its path form unchanged).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use aws_sdk_cloudformation::types::{Stack, StackStatus};
use gateway_aws::Clients;
use gateway_local::provision::{Resources, load_template, resources_of_type};
use gateway_local::{StackOptions, emulator};
use serde_norway::Value;
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::proxy::{serve_proxy, store_secrets};

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
        let _ = std::thread::spawn(move || sam_delete(&name)).join();
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
    ensure!(
        deployed.status.success(),
        "sam deploy --stack-name {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&deployed.stdout),
        String::from_utf8_lossy(&deployed.stderr)
    );
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

/// A parameter's default in template.yaml, as a number.
fn scalar_default<N: std::str::FromStr>(template: &Value, parameter: &str) -> anyhow::Result<N> {
    let default = &template["Parameters"][parameter]["Default"];
    let text = match default {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => bail!("template parameter {parameter} has no default"),
    };
    text.parse()
        .map_err(|_| anyhow!("template parameter {parameter}'s default `{text}` is not a number"))
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

/// Emulator gap: its HTTP API ignores the OpenAPI `Body` SAM generates, so it has no routes.
/// Each `HttpApi` event of template.yaml becomes the route and Lambda proxy integration (payload
/// 2.0) that SAM's body declares. Nothing is created when the API already has routes.
async fn bridge_routes(
    sdk: &aws_config::SdkConfig,
    template: &Value,
    api_id: &str,
    physical: &std::collections::HashMap<String, String>,
) -> anyhow::Result<()> {
    let apigw = aws_sdk_apigatewayv2::Client::new(sdk);
    let existing = apigw.get_routes().api_id(api_id).send().await?;
    if !existing.items().is_empty() {
        return Ok(());
    }
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let mut created = 0;
    for (logical_id, properties) in resources_of_type(template, "AWS::Serverless::Function") {
        let events = properties["Events"].as_mapping();
        for event in events.into_iter().flatten().map(|(_, e)| e) {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let (Some(path), Some(method)) = (
                event["Properties"]["Path"].as_str(),
                event["Properties"]["Method"].as_str(),
            ) else {
                bail!("{logical_id} has an HttpApi event without Path and Method");
            };
            let function_name = physical
                .get(logical_id)
                .ok_or_else(|| anyhow!("the stack has no {logical_id}"))?;
            let arn = lambda
                .get_function()
                .function_name(function_name)
                .send()
                .await?
                .configuration
                .and_then(|c| c.function_arn)
                .ok_or_else(|| anyhow!("{function_name} has no ARN"))?;
            let integration = apigw
                .create_integration()
                .api_id(api_id)
                .integration_type(aws_sdk_apigatewayv2::types::IntegrationType::AwsProxy)
                .integration_uri(arn)
                .payload_format_version("2.0")
                .send()
                .await?
                .integration_id
                .ok_or_else(|| anyhow!("the integration has no id"))?;
            apigw
                .create_route()
                .api_id(api_id)
                .route_key(format!("{} {path}", method.to_ascii_uppercase()))
                .target(format!("integrations/{integration}"))
                .send()
                .await
                .with_context(|| format!("creating the route {method} {path}"))?;
            created += 1;
        }
    }
    ensure!(created > 0, "template.yaml declares no HttpApi event");
    Ok(())
}

/// What a test needs that the cloud never has: the shrunk retry schedule, loopback webhook
/// targets (the receivers run on this machine), and an idle forwarder for tests that inspect
/// the queue. Added to the deployed functions' environment after `sam deploy`.
async fn test_settings(
    sdk: &aws_config::SdkConfig,
    template: &Value,
    options: &StackOptions,
    physical: &std::collections::HashMap<String, String>,
) -> anyhow::Result<()> {
    let lambda = aws_sdk_lambda::Client::new(sdk);
    for logical_id in ["WebhookFunction", "SendFunction", "ForwardFunction"] {
        let function = physical
            .get(logical_id)
            .ok_or_else(|| anyhow!("the stack has no {logical_id}"))?;
        let configuration = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| anyhow!("reading {function}: {e:?}"))?;
        let mut variables = configuration
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default();
        variables.insert("RETRY_SCALE".into(), options.retry_scale.to_string());
        if options.target_policy == gateway_core::tenant::TargetPolicy::AllowLoopbackHttp {
            variables.insert("ALLOW_LOOPBACK_HTTP_TARGETS".into(), "true".into());
        }
        lambda
            .update_function_configuration()
            .function_name(function)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| anyhow!("setting the test environment of {function}: {e:?}"))?;
    }
    // Emulator gap: ministack keeps the mapping's MaximumConcurrency, a Number parameter, as a
    // string; its poller then fails and the SDK cannot read the mapping back. It is set again
    // as a number (the template's value), and the mapping is turned off for tests that
    // inspect the queue.
    let mapping = physical
        .get("ForwardFunctionEvents")
        .ok_or_else(|| anyhow!("the stack has no ForwardFunctionEvents mapping"))?;
    let maximum: i32 = scalar_default(template, "ForwardMaximumConcurrency")?;
    lambda
        .update_event_source_mapping()
        .uuid(mapping)
        .scaling_config(
            aws_sdk_lambda::types::ScalingConfig::builder()
                .maximum_concurrency(maximum)
                .build(),
        )
        .enabled(options.forward)
        .send()
        .await
        .map_err(|e| anyhow!("updating the event source mapping: {e:?}"))?;
    if !options.forward {
        // The mapping may have polled once before it was turned off.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
