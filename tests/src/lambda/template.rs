//! What the deployment reads of template.yaml: its `!Ref` and `!Sub` resolved against what was
//! created locally, and the WebSocket API's routes and stage.

use std::collections::HashMap;

use anyhow::{Context, anyhow, bail};
use serde_norway::Value;

pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves the template's `!Ref` and `!Sub "${Param}"` against what was created locally.
pub(super) struct Resolver<'a> {
    pub(super) refs: HashMap<&'a str, String>,
}

impl Resolver<'_> {
    pub(super) fn resolve(&self, value: &Value) -> anyhow::Result<String> {
        if let Some(s) = scalar(value) {
            return Ok(s);
        }
        let Value::Tagged(tagged) = value else {
            bail!("unsupported template value {value:?}")
        };
        let text = tagged
            .value
            .as_str()
            .ok_or_else(|| anyhow!("!{} needs a string", tagged.tag))?;
        if tagged.tag == "Ref" {
            return self
                .refs
                .get(text)
                .cloned()
                .ok_or_else(|| anyhow!("!Ref {text} is not known locally"));
        }
        if tagged.tag == "Sub" {
            let mut out = text.to_owned();
            for (name, resolved) in &self.refs {
                out = out.replace(&format!("${{{name}}}"), resolved);
            }
            if out.contains("${") {
                bail!("!Sub {text}: unresolved reference");
            }
            return Ok(out);
        }
        bail!("unsupported intrinsic !{}", tagged.tag)
    }
}

/// The routes and the auto-deployed stage of template.yaml's WebSocket API, integrated with
/// the realtime function.
pub(super) async fn realtime_routes(
    apigw: &aws_sdk_apigatewayv2::Client,
    api: &str,
    template: &Value,
    function_arn: &str,
) -> anyhow::Result<()> {
    let integration = apigw
        .create_integration()
        .api_id(api)
        .integration_type(aws_sdk_apigatewayv2::types::IntegrationType::AwsProxy)
        .integration_uri(function_arn)
        .send()
        .await?
        .integration_id
        .ok_or_else(|| anyhow!("the integration has no id"))?;
    let mut routes = 0;
    for (_, route) in
        gateway_local::provision::resources_of_type(template, "AWS::ApiGatewayV2::Route")
    {
        let key = route["RouteKey"]
            .as_str()
            .ok_or_else(|| anyhow!("a WebSocket route without RouteKey"))?;
        apigw
            .create_route()
            .api_id(api)
            .route_key(key)
            .target(format!("integrations/{integration}"))
            .send()
            .await
            .with_context(|| format!("creating the route {key}"))?;
        routes += 1;
    }
    anyhow::ensure!(
        routes == 3,
        "template.yaml declares {routes} WebSocket routes, not 3"
    );
    let (_, stage) =
        gateway_local::provision::resources_of_type(template, "AWS::ApiGatewayV2::Stage")
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("template.yaml declares no WebSocket stage"))?;
    apigw
        .create_stage()
        .api_id(api)
        .stage_name(stage["StageName"].as_str().unwrap_or("realtime"))
        .auto_deploy(true)
        .send()
        .await
        .context("creating the WebSocket stage")?;
    Ok(())
}
