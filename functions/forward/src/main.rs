//! Lambda entry point of the forward function (SQS event source, ReportBatchItemFailures).

use aws_lambda_events::sqs::SqsEvent;
use gateway_aws::{Clients, Settings, config::sdk_config, init_logging};
use gateway_forward::{ForwardApp, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    gateway_core::metrics::enable();
    let settings = Settings::from_env()?;
    let sdk = sdk_config().await;
    let clients = Clients::new(&sdk);
    let mut app = ForwardApp::from_settings(&clients, &settings)?;
    if let Some(endpoint) = &settings.realtime_endpoint {
        let poster = gateway_aws::realtime::ApiGatewayPoster::new(&sdk, endpoint);
        app = app.with_realtime(&clients, &settings, poster);
    }
    let app = &app;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
