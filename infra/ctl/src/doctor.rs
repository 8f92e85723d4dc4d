//! `gatewayctl doctor`: checks a deployed stack the way an operator would by hand, and says
//! what to fix. Each check prints one JSON line; the command fails if any check failed.

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_ssm::types::ParameterType;
use gateway_aws::Clients;
use serde_json::json;

use crate::meta::{http_client, secret};
use crate::names::Names;

/// The stack's three SSM parameters and the variable that stands in for each locally.
const SECRETS: &[(&str, &str)] = &[
    ("MetaAppSecretParameter", "META_APP_SECRET"),
    ("MetaVerifyTokenParameter", "META_VERIFY_TOKEN"),
    ("MetaAccessTokenParameter", "META_ACCESS_TOKEN"),
];

struct Report {
    failed: usize,
}

impl Report {
    fn check(&mut self, name: &str, result: Result<String, String>) {
        match result {
            Ok(detail) => println!("{}", json!({"check": name, "ok": true, "detail": detail})),
            Err(fix) => {
                self.failed += 1;
                println!("{}", json!({"check": name, "ok": false, "fix": fix}));
            }
        }
    }
}

async fn ssm_parameter(
    clients: &Clients,
    names: &Names,
    parameter: &str,
) -> Result<String, String> {
    let name = names
        .ssm_parameter(parameter)
        .map_err(|e| format!("{e:#}"))?;
    let create = format!(
        "aws ssm put-parameter --name {name} --type SecureString --value '...' (then redeploy nothing: functions read it at their next cold start)"
    );
    match clients.ssm.get_parameter().name(&name).send().await {
        Ok(found) => match found.parameter.and_then(|p| p.r#type) {
            Some(ParameterType::SecureString) => Ok(format!("{name} is a SecureString")),
            other => Err(format!(
                "{name} is {other:?}, not a SecureString: delete it and run {create}"
            )),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Err(format!("{name} does not exist: run {create}"))
        }
        Err(e) => Err(format!("reading {name}: {e}")),
    }
}

async fn verification(clients: &Clients, names: &Names) -> Result<String, String> {
    let url = names
        .webhook_url
        .clone()
        .ok_or("the stack has no WebhookUrl output: pass --stack NAME")?;
    let token = secret(
        clients,
        names,
        "MetaVerifyTokenParameter",
        "META_VERIFY_TOKEN",
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    let challenge = format!("{}", rand::random::<u32>());
    let http = http_client(15).map_err(|e| e.to_string())?;
    let target = url::Url::parse_with_params(
        &url,
        [
            ("hub.mode", "subscribe"),
            ("hub.verify_token", token.expose()),
            ("hub.challenge", &challenge),
        ],
    )
    .map_err(|_| format!("the webhook URL `{url}` is not a URL"))?;
    let answer = http
        .get(target)
        .send()
        .await
        .map_err(|e| format!("{url} does not answer: {}", e.without_url()))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.is_success() && body == challenge {
        Ok(format!("{url} answers Meta's verification"))
    } else {
        Err(format!(
            "{url} answered {status} to the verification: check that the verify token parameter holds the token entered at Meta and that the webhook function can read it"
        ))
    }
}

async fn depth(clients: &Clients, url: &str) -> Result<usize, String> {
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| format!("reading {url}: {e}"))?
        .attributes
        .unwrap_or_default();
    let mut total = 0;
    for attribute in [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ] {
        total += attributes
            .get(&attribute)
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| format!("{url} reports no {attribute}"))?;
    }
    Ok(total)
}

async fn alarm_subscribers(sdk: &aws_config::SdkConfig, names: &Names) -> Result<String, String> {
    let topic = names
        .alarm_topic_arn
        .clone()
        .ok_or("the stack has no AlarmTopicArn output: pass --stack NAME")?;
    let listed = aws_sdk_sns::Client::new(sdk)
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .map_err(|e| format!("reading the subscriptions of {topic}: {e}"))?;
    let confirmed = listed
        .subscriptions()
        .iter()
        .filter(|s| s.subscription_arn().is_some_and(|a| a.starts_with("arn:")))
        .count();
    let pending = listed.subscriptions().len() - confirmed;
    match (confirmed, pending) {
        (0, 0) => Err(format!(
            "nobody hears the alarms: redeploy with AlarmEmail=you@example.com, or aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint you@example.com"
        )),
        (0, _) => Err(format!(
            "{pending} subscription(s) of {topic} await confirmation: click the link in the e-mail AWS sent"
        )),
        _ => Ok(format!("{confirmed} confirmed subscriber(s) of {topic}")),
    }
}

async fn graph_token(clients: &Clients, names: &Names) -> Result<String, String> {
    let token = secret(
        clients,
        names,
        "MetaAccessTokenParameter",
        "META_ACCESS_TOKEN",
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    let (base, version) = names.graph().map_err(|e| format!("{e:#}"))?;
    let http = http_client(15).map_err(|e| e.to_string())?;
    let answer = http
        .get(format!("{base}/{version}/me"))
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| format!("the Graph API does not answer: {}", e.without_url()))?;
    let status = answer.status();
    let body: serde_json::Value = answer
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if status.is_success() {
        Ok(format!(
            "the access token works (Graph user {})",
            body["id"].as_str().unwrap_or("?")
        ))
    } else {
        Err(format!(
            "the Graph API refused the access token ({status}: {}): put a valid system user token in the MetaAccessTokenParameter parameter",
            body["error"]["message"].as_str().unwrap_or("no message")
        ))
    }
}

pub async fn run(
    sdk: &aws_config::SdkConfig,
    clients: &Clients,
    names: &Names,
) -> anyhow::Result<()> {
    let mut report = Report { failed: 0 };
    for (parameter, env) in SECRETS {
        let result = if names.stack.is_none() && std::env::var(env).is_ok() {
            Ok(format!("{env} is set (the local stack)"))
        } else {
            ssm_parameter(clients, names, parameter).await
        };
        report.check(&format!("ssm:{parameter}"), result);
    }
    report.check("webhook_verification", verification(clients, names).await);
    for (name, url, empty_is_required) in [
        ("events_queue", &names.events_queue_url, false),
        ("dead_letter_queue", &names.dead_letter_queue_url, true),
    ] {
        let result = match url {
            None => Err(format!("the {name} is not known: pass --stack NAME")),
            Some(url) => match depth(clients, url).await {
                Ok(0) => Ok("empty".to_owned()),
                Ok(n) if empty_is_required => Err(format!(
                    "{n} event(s) spent every delivery attempt: `gatewayctl dlq list` shows them, `gatewayctl dlq redrive` delivers them again once the tenant's endpoint is fixed"
                )),
                Ok(n) => Ok(format!("{n} event(s) waiting or in flight")),
                Err(e) => Err(e),
            },
        };
        report.check(name, result);
    }
    report.check("alarm_subscribers", alarm_subscribers(sdk, names).await);
    report.check("graph_token", graph_token(clients, names).await);
    anyhow::ensure!(report.failed == 0, "{} check(s) failed", report.failed);
    Ok(())
}
