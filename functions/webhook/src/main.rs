//! Lambda entry point of the webhook function: clients and secrets once per cold start.

use gateway_aws::{Gateway, init_logging};
use gateway_webhook::{WebhookApp, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    gateway_core::metrics::enable();
    let gateway = Gateway::from_env().await?;
    let app = WebhookApp::from_gateway(&gateway).await?;
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
