//! Lambda entry point of the send function.

use gateway_aws::{Gateway, init_logging};
use gateway_send::{SendApp, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let gateway = Gateway::from_env().await?;
    let app = SendApp::from_gateway(&gateway).await?;
    let app = &app;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
