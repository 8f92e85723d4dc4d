//! Where a gateway's resources are. In order: a flag naming one resource, the outputs and
//! parameters of the stack named by `--stack` / `GATEWAY_STACK`, a variable naming the resource
//! (only without a stack, so a shell left over from another stack cannot redirect it), and,
//! against a loopback emulator, the names `make run` gives the local stack.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use aws_config::SdkConfig;
use gateway_aws::Settings;
use gateway_aws::config::Resources;
use gateway_core::tenant::TargetPolicy;

/// The local stack's name prefix (`gateway-local`).
const LOCAL_PREFIX: &str = "local";

#[derive(clap::Args, Debug, Default)]
pub struct StackArgs {
    /// The CloudFormation stack `sam deploy` created: its outputs name every resource below.
    #[arg(long, env = "GATEWAY_STACK", global = true)]
    pub stack: Option<String>,
    /// The Tenants table (the stack's TenantsTableName output; without a stack, TENANTS_TABLE).
    #[arg(long, global = true)]
    pub tenants_table: Option<String>,
    /// The Messages table (MessagesTableName; MESSAGES_TABLE).
    #[arg(long, global = true)]
    pub messages_table: Option<String>,
    /// The events queue (EventsQueueUrl; EVENTS_QUEUE_URL).
    #[arg(long, global = true)]
    pub events_queue_url: Option<String>,
    /// The dead-letter queue (EventsDeadLetterQueueUrl; DEAD_LETTER_QUEUE_URL).
    #[arg(long, global = true)]
    pub dead_letter_queue_url: Option<String>,
    /// The events bucket (EventsBucketName; EVENTS_BUCKET).
    #[arg(long, global = true)]
    pub events_bucket: Option<String>,
}

/// The resources and settings of one gateway.
#[derive(Debug, Clone)]
pub struct Names {
    pub stack: Option<String>,
    pub tenants_table: String,
    pub messages_table: String,
    pub events_queue_url: Option<String>,
    pub dead_letter_queue_url: Option<String>,
    pub events_bucket: Option<String>,
    /// The callback URL Meta is given (the WebhookUrl output).
    pub webhook_url: Option<String>,
    pub alarm_topic_arn: Option<String>,
    /// The stack's parameters (SSM parameter names, Graph API base URL and version).
    pub parameters: HashMap<String, String>,
    /// The AWS endpoint is an emulator on loopback (never a real account).
    pub local: bool,
}

impl Names {
    /// A required resource, or an error saying where its name comes from.
    pub fn required<'a>(value: &'a Option<String>, what: &str) -> anyhow::Result<&'a str> {
        value.as_deref().with_context(|| {
            format!("{what} is not known: pass --stack NAME (or set GATEWAY_STACK), or set {what}")
        })
    }

    /// An SSM parameter name from the stack (`MetaVerifyTokenParameter`...), with its slash.
    pub fn ssm_parameter(&self, parameter: &str) -> anyhow::Result<String> {
        let name = self.parameters.get(parameter).with_context(|| {
            format!("the stack parameter {parameter} is not known: pass --stack NAME")
        })?;
        Ok(format!("/{}", name.trim_start_matches('/')))
    }

    /// A setting: the stack's parameter with a stack, else the variable `env`, else `default`.
    fn setting(&self, parameter: &str, env: &str, default: &str) -> String {
        match &self.stack {
            Some(_) => self.parameters.get(parameter).cloned(),
            None => std::env::var(env).ok(),
        }
        .unwrap_or_else(|| default.to_owned())
    }

    /// The Graph API base URL and version the stack calls; tokens go only there, so it must be
    /// https (or the loopback fake of a local stack).
    pub fn graph(&self) -> anyhow::Result<(String, String)> {
        let base = self.setting(
            "GraphApiBaseUrl",
            "GRAPH_API_BASE_URL",
            "https://graph.facebook.com",
        );
        let version = self.setting("GraphApiVersion", "GRAPH_API_VERSION", "v23.0");
        let parsed = url::Url::parse(&base)
            .with_context(|| format!("the Graph API base URL `{base}` is not a URL"))?;
        anyhow::ensure!(
            parsed.scheme() == "https" || (self.local && is_loopback(&base)),
            "the Graph API base URL `{base}` must be https (tokens are sent there)"
        );
        Ok((base.trim_end_matches('/').to_owned(), version))
    }
}

impl Names {
    /// The settings gatewayctl builds its [`gateway_aws::Gateway`] from: the resources it
    /// knows (a resource it does not know is empty; the commands that need one check it
    /// with [`Names::required`] first), and where URLs may point.
    pub fn settings(&self, policy: TargetPolicy) -> Settings {
        let mut settings = Settings::new(Resources {
            tenants_table: self.tenants_table.clone(),
            messages_table: self.messages_table.clone(),
            idempotency_table: String::new(),
            connections_table: String::new(),
            events_queue_url: self.events_queue_url.clone().unwrap_or_default(),
            dead_letter_queue_url: self.dead_letter_queue_url.clone().unwrap_or_default(),
            events_bucket: self.events_bucket.clone().unwrap_or_default(),
        });
        settings.target_policy = policy;
        settings
    }
}

/// Is `endpoint` on this machine (the emulator `make run` and the tests start)?
pub fn is_loopback(endpoint: &str) -> bool {
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "localhost" | "[::1]"))
}

pub async fn resolve(args: StackArgs, sdk: &SdkConfig) -> anyhow::Result<Names> {
    let local = sdk.endpoint_url().is_some_and(is_loopback);
    let mut outputs = HashMap::new();
    let mut parameters = HashMap::new();
    if let Some(stack) = &args.stack {
        let described = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .with_context(|| format!("reading the stack {stack}"))?;
        let found = described
            .stacks()
            .first()
            .ok_or_else(|| anyhow!("there is no stack {stack}"))?;
        for output in found.outputs() {
            if let (Some(k), Some(v)) = (output.output_key(), output.output_value()) {
                outputs.insert(k.to_owned(), v.to_owned());
            }
        }
        for parameter in found.parameters() {
            if let (Some(k), Some(v)) = (parameter.parameter_key(), parameter.parameter_value()) {
                parameters.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    let from_stack = |key: &str| outputs.get(key).cloned();
    // A variable names a resource only when no stack does.
    let from_env = |name: &str| {
        args.stack
            .is_none()
            .then(|| std::env::var(name).ok())
            .flatten()
    };
    // The local stack's names, when nothing else names a resource and AWS is the emulator.
    let local_default =
        |id: &str| (local && args.stack.is_none()).then(|| format!("{LOCAL_PREFIX}-{id}"));
    let mut events_queue_url = args
        .events_queue_url
        .or_else(|| from_stack("EventsQueueUrl"))
        .or_else(|| from_env("EVENTS_QUEUE_URL"));
    let mut dead_letter_queue_url = args
        .dead_letter_queue_url
        .or_else(|| from_stack("EventsDeadLetterQueueUrl"))
        .or_else(|| from_env("DEAD_LETTER_QUEUE_URL"));
    if local && args.stack.is_none() {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        for (url, id) in [
            (&mut events_queue_url, "EventsQueue"),
            (&mut dead_letter_queue_url, "EventsDeadLetterQueue"),
        ] {
            if url.is_none() {
                *url = sqs
                    .get_queue_url()
                    .queue_name(format!("{LOCAL_PREFIX}-{id}"))
                    .send()
                    .await
                    .ok()
                    .and_then(|q| q.queue_url);
            }
        }
    }
    Ok(Names {
        tenants_table: args
            .tenants_table
            .or_else(|| from_stack("TenantsTableName"))
            .or_else(|| from_env("TENANTS_TABLE"))
            .or_else(|| local_default("TenantsTable"))
            .context("the Tenants table is not known: pass --stack NAME (or set GATEWAY_STACK), or set TENANTS_TABLE")?,
        messages_table: args
            .messages_table
            .or_else(|| from_stack("MessagesTableName"))
            .or_else(|| from_env("MESSAGES_TABLE"))
            .or_else(|| local_default("MessagesTable"))
            .context("the Messages table is not known: pass --stack NAME (or set GATEWAY_STACK), or set MESSAGES_TABLE")?,
        events_queue_url,
        dead_letter_queue_url,
        events_bucket: args
            .events_bucket
            .or_else(|| from_stack("EventsBucketName"))
            .or_else(|| from_env("EVENTS_BUCKET"))
            .or_else(|| local_default("EventsBucket").map(|b| b.to_ascii_lowercase())),
        webhook_url: from_stack("WebhookUrl"),
        alarm_topic_arn: from_stack("AlarmTopicArn"),
        stack: args.stack,
        parameters,
        local,
    })
}
