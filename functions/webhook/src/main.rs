//! Lambda entry point of the webhook function: clients and secrets once per cold start.

use gateway_aws::{Clients, Settings, config::sdk_config, init_logging};
use gateway_webhook::{WebhookApp, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    gateway_core::metrics::enable();
    let settings = Settings::from_env()?;
    let clients = Clients::new(&sdk_config().await);
    let app = WebhookApp::from_env(&clients, &settings).await?;
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
