//! Lambda entry point of the realtime function (the WebSocket API's routes).

use gateway_aws::{Clients, Settings, config::sdk_config, init_logging};
use gateway_realtime::{RealtimeApp, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let settings = Settings::from_env()?;
    let limits = gateway_aws::realtime::limits_from_env()?;
    let sdk = sdk_config().await;
    let clients = Clients::new(&sdk);
    let app = RealtimeApp::new(&sdk, &clients, &settings, limits);
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle(app, &event.payload).await)
    }))
    .await
}
