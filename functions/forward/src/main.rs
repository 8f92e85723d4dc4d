//! Lambda entry point of the forward function (SQS event source, ReportBatchItemFailures).

use aws_lambda_events::sqs::SqsEvent;
use gateway_aws::{Gateway, init_logging};
use gateway_forward::{ForwardApp, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    gateway_core::metrics::enable();
    let gateway = Gateway::from_env().await?;
    let app = ForwardApp::from_gateway(&gateway)?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
