//! The emulator's gaps, bridged after `sam deploy` (each named where it is bridged), and the
//! settings a test needs that the cloud never has.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use gateway_local::StackOptions;
use gateway_local::provision::resources_of_type;
use serde_norway::Value;

/// Emulator gap: its HTTP API ignores the OpenAPI `Body` SAM generates, so it has no routes.
/// Each `HttpApi` event of template.yaml becomes the route and Lambda proxy integration (payload
/// 2.0) that SAM's body declares. Nothing is created when the API already has routes.
pub(super) async fn bridge_routes(
    sdk: &aws_config::SdkConfig,
    template: &Value,
    api_id: &str,
    physical: &HashMap<String, String>,
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
pub(super) async fn test_settings(
    sdk: &aws_config::SdkConfig,
    template: &Value,
    options: &StackOptions,
    physical: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let lambda = aws_sdk_lambda::Client::new(sdk);
    // Emulator gap: template.yaml's execute-api host names do not resolve here; the emulator
    // serves the same WebSocket API and its @connections API under /_aws/execute-api/.
    let api = physical
        .get("RealtimeApi")
        .ok_or_else(|| anyhow!("the stack has no RealtimeApi"))?;
    let stage_url = format!(
        "{}/_aws/execute-api/{api}/realtime",
        options.endpoint.trim_end_matches('/')
    );
    let realtime_url = stage_url.replacen("http://", "ws://", 1);
    let realtime_endpoint = options.realtime_endpoint.clone().unwrap_or(stage_url);
    for logical_id in [
        "WebhookFunction",
        "SendFunction",
        "ForwardFunction",
        "RealtimeFunction",
    ] {
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
        if variables.contains_key("REALTIME_URL") {
            variables.insert("REALTIME_URL".into(), realtime_url.clone());
        }
        if variables.contains_key("REALTIME_ENDPOINT") {
            variables.insert("REALTIME_ENDPOINT".into(), realtime_endpoint.clone());
        }
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
    let maximum: i32 = match options
        .template_parameters
        .iter()
        .find(|(k, _)| k == "ForwardMaximumConcurrency")
    {
        Some((_, v)) => v.parse().context("ForwardMaximumConcurrency")?,
        None => scalar_default(template, "ForwardMaximumConcurrency")?,
    };
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
        // The mapping may poll until it is disabled: wait for the state, not for a guess.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let state = lambda
                .get_event_source_mapping()
                .uuid(mapping)
                .send()
                .await
                .map_err(|e| anyhow!("reading the event source mapping: {e:?}"))?
                .state()
                .map(str::to_owned);
            if state.as_deref() == Some("Disabled") {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "the event source mapping was not disabled in 30 s (state {state:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
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
