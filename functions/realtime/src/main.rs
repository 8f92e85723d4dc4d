//! Lambda entry point of the realtime function (the WebSocket API's routes).

use gateway_aws::{Gateway, init_logging};
use gateway_realtime::{RealtimeApp, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let limits = gateway_aws::realtime::limits_from_env()?;
    let gateway = Gateway::from_env().await?.with_realtime_limits(limits);
    let app = RealtimeApp::from_gateway(&gateway);
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle(app, &event.payload).await)
    }))
    .await
}
