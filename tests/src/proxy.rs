//! What the deployed stacks of the tests share: the secrets an operator stores before
//! deploying, and a loopback proxy in front of what the emulator serves.

use anyhow::{Context, anyhow};
use aws_sdk_ssm::types::ParameterType;
use gateway_aws::Clients;
use gateway_local::{StackOptions, http_server};
use lambda_http::{Body, Request, Response};
use serde_norway::Value;
use tokio::task::JoinHandle;

/// Stores the stack's three secrets as SSM SecureString parameters under the stack's prefix, as
/// an operator creates them before deploying; answers each template parameter's value (the
/// parameter name without its leading slash).
pub(crate) async fn store_secrets(
    clients: &Clients,
    options: &StackOptions,
    template: &Value,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let app_secrets: Vec<&str> = options.app_secrets.iter().map(|s| s.expose()).collect();
    let mut names = Vec::new();
    for (parameter, value) in [
        ("MetaAppSecretParameter", app_secrets.join(",")),
        (
            "MetaVerifyTokenParameter",
            options.verify_token.expose().to_owned(),
        ),
        (
            "MetaAccessTokenParameter",
            options.access_token.expose().to_owned(),
        ),
    ] {
        let default = template["Parameters"][parameter]["Default"]
            .as_str()
            .ok_or_else(|| anyhow!("template parameter {parameter} has no default"))?;
        let name = format!("{}/{default}", options.prefix);
        clients
            .ssm
            .put_parameter()
            .name(format!("/{name}"))
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .with_context(|| format!("storing SSM parameter /{name}"))?;
        names.push((parameter, name));
    }
    Ok(names)
}

/// A loopback server passing each request on to `target(path)` with [`route`]; its URL.
pub(crate) async fn serve_proxy(
    target: impl Fn(&str) -> String + Clone + Send + Sync + 'static,
    keep_host: bool,
) -> anyhow::Result<(String, JoinHandle<()>)> {
    let listener = http_server::bind(0).await?;
    let url = format!("http://{}", listener.local_addr()?);
    // API Gateway hands a function's redirect to the caller; it never follows it.
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let task = tokio::spawn(http_server::serve(listener, move |req: Request| {
        let base = target(req.uri().path());
        route(http.clone(), base, req, keep_host)
    }));
    Ok((url, task))
}

/// Passes a request on to `base` with its path, query, headers and body unchanged; with
/// `keep_host` its Host header too (else the one `base` implies).
pub(crate) async fn route(
    http: reqwest::Client,
    base: String,
    req: Request,
    keep_host: bool,
) -> Response<Body> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut forwarded = http.request(req.method().clone(), format!("{base}{path_and_query}"));
    for (name, value) in req.headers() {
        if (keep_host || name != http::header::HOST) && name != http::header::CONTENT_LENGTH {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = match forwarded.body(req.body().as_ref().to_vec()).send().await {
        Ok(answer) => answer,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(Body::Text(format!("router: {e}")))
                .unwrap();
        }
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != http::header::CONTENT_LENGTH
            && name != http::header::TRANSFER_ENCODING
            && name != http::header::CONNECTION
        {
            response = response.header(name, value);
        }
    }
    let body = answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    response
        .body(if body.is_empty() {
            Body::Empty
        } else {
            Body::Binary(body)
        })
        .unwrap()
}
