//! The real Lambda bootstraps, deployed into the emulator (`make e2e-lambda`): each function is
//! created from its binary with the settings template.yaml gives it, secrets come from the
//! emulator's SSM Parameter Store as in the cloud, webhook and send get function URLs, and the
//! forward function gets an SQS event source mapping with ReportBatchItemFailures. A loopback
//! router stands in for the HTTP API's two routes (`/webhook` and everything else).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionResponseType, FunctionUrlAuthType, Runtime,
};
use gateway_aws::Clients;
use gateway_local::provision::{Resources, get_att_target, load_template, provision};
use gateway_local::{StackOptions, emulator};
use serde_norway::Value;
use tokio::task::JoinHandle;

use crate::proxy::{serve_proxy, store_secrets};

mod template;

use template::{Resolver, realtime_routes, scalar};

pub struct Deployment {
    pub url: String,
    pub resources: Resources,
    pub clients: Clients,
    endpoint: String,
    functions: Vec<String>,
    /// The WebSocket API of real-time events.
    realtime_api: String,
    router: JoinHandle<()>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.router.abort();
        // Deleting the functions ends their warm bootstrap processes. The client is built
        // here: one from the test's runtime would wait on that runtime, blocked by this join.
        let endpoint = self.endpoint.clone();
        let functions = std::mem::take(&mut self.functions);
        let realtime_api = self.realtime_api.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let sdk = emulator::sdk_config(&endpoint).await;
                let lambda = aws_sdk_lambda::Client::new(&sdk);
                for name in functions {
                    let _ = lambda.delete_function().function_name(name).send().await;
                }
                let apigw = aws_sdk_apigatewayv2::Client::new(&sdk);
                let _ = apigw.delete_api().api_id(realtime_api).send().await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Where the bootstraps are: `GATEWAY_LAMBDA_BIN_DIR`, else the target directory this test
/// binary was built into (`target/debug`).
fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("GATEWAY_LAMBDA_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("cannot tell the target directory from {}", exe.display()))
}

/// A zip holding the binary as `bootstrap`, as `sam build` packages it.
fn bootstrap_zip(binary: &str) -> anyhow::Result<Vec<u8>> {
    let path = bin_dir()?.join(binary);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("{} is missing: `make e2e-lambda` builds it", path.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(&bytes)?;
    Ok(zip.finish()?.into_inner())
}

pub async fn deploy(options: StackOptions) -> anyhow::Result<Deployment> {
    emulator::ensure_loopback(&options.endpoint)?;
    let sdk = emulator::sdk_config(&options.endpoint).await;
    let clients = Clients::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let resources = provision(&clients, &options.template, &options.prefix).await?;
    let template = load_template(&options.template)?;

    // Secrets go where the deployed functions look for them: SSM SecureString parameters.
    let mut refs: HashMap<&str, String> = HashMap::from([
        ("TenantsTable", resources.tenants_table.clone()),
        ("MessagesTable", resources.messages_table.clone()),
        ("IdempotencyTable", resources.idempotency_table.clone()),
        ("ConnectionsTable", resources.connections_table.clone()),
        ("EventsQueue", resources.events_queue_url.clone()),
        (
            "EventsDeadLetterQueue",
            resources.dead_letter_queue_url.clone(),
        ),
        ("EventsBucket", resources.events_bucket.clone()),
        ("GraphApiBaseUrl", options.graph_api_base_url.clone()),
        ("GraphApiVersion", "v23.0".to_owned()),
        (
            "TenantCacheSeconds",
            options.tenant_cache.as_secs().to_string(),
        ),
        (
            "WebhookTimeoutSeconds",
            options.webhook_timeout.as_secs().max(1).to_string(),
        ),
        (
            "EventRetentionDays",
            options.event_retention_days.to_string(),
        ),
        ("BreakerThreshold", options.breaker.threshold.to_string()),
        (
            "BreakerProbeSeconds",
            options.breaker.probe_every.as_secs().max(1).to_string(),
        ),
        (
            "RealtimeMaxConnectionsPerTenant",
            options.realtime_max_connections_per_tenant.to_string(),
        ),
    ]);
    refs.extend(store_secrets(&clients, &options, &template).await?);
    let resolver = Resolver { refs };

    let globals = &template["Globals"]["Function"];
    let memory: i32 = scalar(&globals["MemorySize"])
        .and_then(|m| m.parse().ok())
        .unwrap_or(128);
    // The WebSocket API template.yaml declares, served by the emulator at its path form.
    let apigw = aws_sdk_apigatewayv2::Client::new(&sdk);
    let realtime_api = apigw
        .create_api()
        .name(format!("{}-realtime", options.prefix))
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Websocket)
        .route_selection_expression("$request.body.action")
        .send()
        .await
        .context("creating the WebSocket API")?
        .api_id
        .ok_or_else(|| anyhow!("the WebSocket API has no id"))?;
    let stage_url = format!(
        "{}/_aws/execute-api/{realtime_api}/realtime",
        options.endpoint.trim_end_matches('/')
    );
    let realtime = HashMap::from([
        ("REALTIME_URL", stage_url.replacen("http://", "ws://", 1)),
        (
            "REALTIME_ENDPOINT",
            options.realtime_endpoint.clone().unwrap_or(stage_url),
        ),
    ]);
    let mut functions = Vec::new();
    let mut urls = HashMap::new();
    for logical_id in [
        "RealtimeFunction",
        "WebhookFunction",
        "SendFunction",
        "ForwardFunction",
    ] {
        let resource = &template["Resources"][logical_id];
        let props = &resource["Properties"];
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| anyhow!("{logical_id} names no binary"))?;
        let mut variables = HashMap::new();
        for source in [
            &globals["Environment"]["Variables"],
            &props["Environment"]["Variables"],
        ] {
            for (key, value) in source.as_mapping().into_iter().flatten() {
                let key = key.as_str().ok_or_else(|| anyhow!("variable name"))?;
                // The cloud's execute-api host names are the emulator's paths here.
                if let Some(url) = realtime.get(key) {
                    variables.insert(key.to_owned(), url.clone());
                    continue;
                }
                variables.insert(
                    key.to_owned(),
                    resolver
                        .resolve(value)
                        .with_context(|| format!("{logical_id}.{key}"))?,
                );
            }
        }
        // What the cloud has that a local run must say: the emulator, throwaway credentials'
        // region, the scaled schedule, and the loopback targets tests deliver to.
        variables.insert("AWS_ENDPOINT_URL".into(), options.endpoint.clone());
        variables.insert("RETRY_SCALE".into(), options.retry_scale.to_string());
        if options.target_policy == gateway_core::tenant::TargetPolicy::AllowLoopbackHttp {
            variables.insert("ALLOW_LOOPBACK_HTTP_TARGETS".into(), "true".into());
        }
        let timeout: i32 = scalar(&props["Timeout"])
            .and_then(|t| t.parse().ok())
            .unwrap_or(30);
        let name = format!("{}-{logical_id}", options.prefix);
        let arn = lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::from(
                globals["Runtime"].as_str().unwrap_or("provided.al2023"),
            ))
            .handler("bootstrap")
            .role("arn:aws:iam::000000000000:role/gateway-e2e")
            .architectures(Architecture::from(
                globals["Architectures"][0].as_str().unwrap_or("arm64"),
            ))
            .memory_size(
                scalar(&props["MemorySize"])
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(memory),
            )
            .timeout(timeout)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(Blob::new(bootstrap_zip(binary)?))
                    .build(),
            )
            .environment(
                Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await
            .with_context(|| format!("creating {name}"))?
            .function_arn
            .ok_or_else(|| anyhow!("{name} has no ARN"))?;
        functions.push(name.clone());

        if logical_id == "RealtimeFunction" {
            realtime_routes(&apigw, &realtime_api, &template, &arn).await?;
            continue;
        }

        if logical_id == "ForwardFunction" {
            if !options.forward {
                continue;
            }
            let event = &props["Events"]["Events"]["Properties"];
            let queue = get_att_target(&event["Queue"])
                .ok_or_else(|| anyhow!("ForwardFunction's queue"))?;
            anyhow::ensure!(queue == "EventsQueue", "ForwardFunction reads {queue}");
            let arn = clients
                .sqs
                .get_queue_attributes()
                .queue_url(&resources.events_queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await?
                .attributes
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                        .cloned()
                })
                .ok_or_else(|| anyhow!("events queue has no ARN"))?;
            let batch: i32 = scalar(&event["BatchSize"])
                .and_then(|b| b.parse().ok())
                .unwrap_or(10);
            let response_types = event["FunctionResponseTypes"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(FunctionResponseType::from)
                .collect();
            lambda
                .create_event_source_mapping()
                .function_name(&name)
                .event_source_arn(arn)
                .batch_size(batch)
                .set_function_response_types(Some(response_types))
                .send()
                .await
                .context("creating the SQS event source mapping")?;
        } else {
            let url = lambda
                .create_function_url_config()
                .function_name(&name)
                .auth_type(FunctionUrlAuthType::None)
                .send()
                .await
                .with_context(|| format!("creating the function URL of {name}"))?
                .function_url;
            // https://<id>.lambda-url.<region>.on.aws/ is served at <endpoint>/_aws/lambda-url/<id>.
            let id = url
                .split("://")
                .nth(1)
                .and_then(|host| host.split('.').next())
                .ok_or_else(|| anyhow!("unexpected function URL {url}"))?;
            urls.insert(
                logical_id,
                format!(
                    "{}/_aws/lambda-url/{id}",
                    options.endpoint.trim_end_matches('/')
                ),
            );
        }
    }

    let webhook = urls
        .remove("WebhookFunction")
        .ok_or_else(|| anyhow!("no webhook URL"))?;
    let send = urls
        .remove("SendFunction")
        .ok_or_else(|| anyhow!("no send URL"))?;
    let (url, router) = serve_proxy(
        move |path| {
            if path == "/webhook" {
                webhook.clone()
            } else {
                send.clone()
            }
        },
        false,
    )
    .await?;
    Ok(Deployment {
        url,
        resources,
        clients,
        endpoint: options.endpoint.clone(),
        functions,
        realtime_api,
        router,
    })
}
