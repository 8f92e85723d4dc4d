//! Lambda entry point of the send function.

use gateway_aws::{Clients, Settings, config::sdk_config, init_logging};
use gateway_send::{SendApp, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let settings = Settings::from_env()?;
    let clients = Clients::new(&sdk_config().await);
    let app = SendApp::from_env(&clients, &settings).await?;
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
