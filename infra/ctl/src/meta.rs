//! `gatewayctl meta`: the Meta app dashboard's webhook step by API. The app is subscribed to
//! the `whatsapp_business_account` object with the stack's callback URL and verify token
//! (`POST /{app-id}/subscriptions`, with the app access token; Meta calls the URL back with the
//! verification GET before it answers), and each WABA subscribes the app
//! (`POST /{waba-id}/subscribed_apps`, with the system user token).

use anyhow::{Context, anyhow, bail};
use gateway_aws::Clients;
use gateway_core::signature::Secret;
use serde_json::{Value, json};

use crate::names::Names;

/// The fields subscribed when none are named: messages and their statuses, templates, phone
/// numbers, account, flows and security (`--field` replaces the list; the gateway forwards any
/// field Meta sends, calls, echoes, history and groups included, once subscribed).
pub const DEFAULT_FIELDS: &[&str] = &[
    "messages",
    "message_template_status_update",
    "message_template_quality_update",
    "message_template_components_update",
    "template_category_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "account_alerts",
    "account_update",
    "business_capability_update",
    "flows",
    "security",
    "user_preferences",
];

#[derive(clap::Subcommand)]
pub enum MetaCommand {
    /// Subscribes the app to the stack's webhook URL and each WABA to the app; checks that
    /// Meta's verification request reached the gateway and succeeded.
    Subscribe {
        #[command(flatten)]
        app: AppArgs,
        /// Fields to subscribe (repeatable); the default list is in docs/OPERATIONS.md.
        #[arg(long = "field")]
        fields: Vec<String>,
        /// The callback URL, when it is not the stack's WebhookUrl output.
        #[arg(long)]
        callback_url: Option<String>,
    },
    /// Shows what the app and each WABA are subscribed to.
    Status {
        #[command(flatten)]
        app: AppArgs,
    },
}

#[derive(clap::Args)]
pub struct AppArgs {
    /// The Meta app's id.
    #[arg(long)]
    app_id: String,
    /// A WABA whose webhooks go to the app (repeatable).
    #[arg(long = "waba")]
    wabas: Vec<String>,
    /// The app access token; by default `{app-id}|{app secret}` from the stack's app secret.
    #[arg(long, env = "META_APP_ACCESS_TOKEN", hide_env_values = true)]
    app_token: Option<String>,
}

/// A secret: the stack's SSM parameter with a stack (never a variable, so what is checked or
/// sent is what the functions read), else the variable `env` (the local stack).
pub async fn secret(
    clients: &Clients,
    names: &Names,
    parameter: &str,
    env: &str,
) -> anyhow::Result<Secret> {
    if names.stack.is_none()
        && let Ok(value) = std::env::var(env)
    {
        return Ok(Secret::new(value));
    }
    let name = names
        .ssm_parameter(parameter)
        .with_context(|| format!("or set {env}"))?;
    let value = clients
        .ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .with_context(|| format!("reading the SSM parameter {name}"))?
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| anyhow!("the SSM parameter {name} has no value"))?;
    Ok(Secret::new(value))
}

/// The client gatewayctl calls Meta and the webhook URL with: no proxy, and no redirect (Meta
/// follows none, and a token must not travel with one).
pub fn http_client(timeout_secs: u64) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(timeout_secs))
        .build()
}

struct Graph {
    http: reqwest::Client,
    base: String,
}

impl Graph {
    fn new(names: &Names) -> anyhow::Result<Graph> {
        let (base, version) = names.graph()?;
        Ok(Graph {
            http: http_client(30)?,
            base: format!("{base}/{version}"),
        })
    }

    /// Calls Meta; answers the JSON of a 2xx, or an error with Meta's message.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &Secret,
        form: Option<&[(&str, String)]>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/{path}", self.base))
            .bearer_auth(token.expose());
        if let Some(form) = form {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded);
        }
        let response = request.send().await.map_err(|e| {
            anyhow::Error::new(e.without_url()).context(format!("{method} /{path}"))
        })?;
        let status = response.status();
        let body: Value = response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            bail!("{method} /{path}: Meta answered {status}: {message}");
        }
        Ok(body)
    }
}

impl Graph {
    /// The `data` list a GET of `path` answers.
    async fn list(&self, path: &str, token: &Secret) -> anyhow::Result<Vec<Value>> {
        let listed = self.call(reqwest::Method::GET, path, token, None).await?;
        Ok(listed["data"].as_array().cloned().unwrap_or_default())
    }
}

/// Meta answers `{"success": true}`, or `"true"` in its own samples.
fn succeeded(answer: &Value) -> bool {
    answer["success"] == json!(true) || answer["success"] == json!("true")
}

/// The system user token, read only when there are WABAs to call with it.
async fn system_token(
    clients: &Clients,
    names: &Names,
    app: &AppArgs,
) -> anyhow::Result<Option<Secret>> {
    if app.wabas.is_empty() {
        return Ok(None);
    }
    let token = secret(
        clients,
        names,
        "MetaAccessTokenParameter",
        "META_ACCESS_TOKEN",
    )
    .await?;
    Ok(Some(token))
}

async fn app_token(clients: &Clients, names: &Names, app: &AppArgs) -> anyhow::Result<Secret> {
    if let Some(token) = &app.app_token {
        return Ok(Secret::new(token.clone()));
    }
    let secrets = secret(clients, names, "MetaAppSecretParameter", "META_APP_SECRET").await?;
    // During a rotation the parameter holds "new,old": the app's current secret is the first.
    let current = secrets
        .expose()
        .split(',')
        .next()
        .unwrap_or_default()
        .trim();
    Ok(Secret::new(format!("{}|{current}", app.app_id)))
}

/// The app's `whatsapp_business_account` subscription, if any.
async fn app_subscription(graph: &Graph, app: &AppArgs, token: &Secret) -> anyhow::Result<Value> {
    let listed = graph
        .list(&format!("{}/subscriptions", app.app_id), token)
        .await?;
    Ok(listed
        .into_iter()
        .find(|s| s["object"] == "whatsapp_business_account")
        .unwrap_or(Value::Null))
}

/// Is the app among the WABA's subscribed apps?
async fn waba_subscribed(
    graph: &Graph,
    waba: &str,
    app_id: &str,
    token: &Secret,
) -> anyhow::Result<bool> {
    let listed = graph
        .list(&format!("{waba}/subscribed_apps"), token)
        .await?;
    Ok(listed
        .iter()
        .any(|a| a["whatsapp_business_api_data"]["id"] == app_id))
}

pub async fn run(clients: &Clients, names: &Names, command: MetaCommand) -> anyhow::Result<()> {
    let graph = Graph::new(names)?;
    match command {
        MetaCommand::Subscribe {
            app,
            fields,
            callback_url,
        } => {
            let callback = callback_url
                .or_else(|| names.webhook_url.clone())
                .context("the callback URL is not known: pass --stack NAME or --callback-url")?;
            let verify = secret(
                clients,
                names,
                "MetaVerifyTokenParameter",
                "META_VERIFY_TOKEN",
            )
            .await?;
            let token = app_token(clients, names, &app).await?;
            let fields = if fields.is_empty() {
                DEFAULT_FIELDS.join(",")
            } else {
                fields.join(",")
            };
            // Meta sends the verification GET to the callback before it answers this call.
            let answer = graph
                .call(
                    reqwest::Method::POST,
                    &format!("{}/subscriptions", app.app_id),
                    &token,
                    Some(&[
                        ("object", "whatsapp_business_account".to_owned()),
                        ("callback_url", callback.clone()),
                        ("verify_token", verify.expose().to_owned()),
                        ("fields", fields.clone()),
                        ("include_values", "true".to_owned()),
                    ]),
                )
                .await
                .context("subscribing the app (Meta verifies the callback URL first)")?;
            if !succeeded(&answer) {
                bail!("Meta did not confirm the app subscription: {answer}");
            }
            let current = app_subscription(&graph, &app, &token).await?;
            if current["callback_url"] != callback.as_str() || current["active"] != true {
                bail!("after subscribing, the app's subscription is {current}, not {callback}");
            }
            println!(
                "{}",
                json!({"app_id": app.app_id, "callback_url": callback, "verified": true, "fields": fields.split(',').collect::<Vec<_>>()})
            );
            let Some(system) = system_token(clients, names, &app).await? else {
                return Ok(());
            };
            for waba in &app.wabas {
                let answer = graph
                    .call(
                        reqwest::Method::POST,
                        &format!("{waba}/subscribed_apps"),
                        &system,
                        None,
                    )
                    .await
                    .with_context(|| format!("subscribing WABA {waba} to the app"))?;
                let confirmed = succeeded(&answer)
                    && waba_subscribed(&graph, waba, &app.app_id, &system).await?;
                if !confirmed {
                    bail!(
                        "WABA {waba} does not list the app {} after subscribing",
                        app.app_id
                    );
                }
                println!("{}", json!({"waba_id": waba, "subscribed": true}));
            }
        }
        MetaCommand::Status { app } => {
            let token = app_token(clients, names, &app).await?;
            let current = app_subscription(&graph, &app, &token).await?;
            let fields: Vec<&str> = current["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["name"].as_str())
                .collect();
            println!(
                "{}",
                json!({
                    "app_id": app.app_id,
                    "subscribed": !current.is_null(),
                    "callback_url": current["callback_url"],
                    "active": current["active"],
                    "fields": fields,
                    "is_this_stack": names.webhook_url.is_some() && current["callback_url"] == names.webhook_url.as_deref().unwrap_or_default(),
                })
            );
            let Some(system) = system_token(clients, names, &app).await? else {
                return Ok(());
            };
            for waba in &app.wabas {
                let subscribed = waba_subscribed(&graph, waba, &app.app_id, &system).await?;
                println!("{}", json!({"waba_id": waba, "subscribed": subscribed}));
            }
        }
    }
    Ok(())
}
