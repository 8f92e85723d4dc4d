//! The send function: the tenant-facing API (Graph-compatible pass-through and `/v1`). The same
//! `handle` serves Lambda and the local stack.

use gateway_aws::{Clients, Settings};
use gateway_core::Error;
use gateway_core::signature::Secret;
use lambda_http::{Body, Request, Response};

pub struct SendApp {}

impl SendApp {
    pub fn new(
        _clients: &Clients,
        _settings: &Settings,
        _access_token: Secret,
    ) -> anyhow::Result<Self> {
        Ok(SendApp {})
    }

    pub async fn from_env(clients: &Clients, settings: &Settings) -> anyhow::Result<Self> {
        SendApp::new(
            clients,
            settings,
            clients.secret("META_ACCESS_TOKEN").await?,
        )
    }
}

pub async fn handle(_app: &SendApp, _req: Request) -> Response<Body> {
    let err = Error::NotFound("the send API is not implemented yet");
    Response::builder()
        .status(501)
        .header("content-type", "application/json")
        .body(Body::from(err.gateway_body()))
        .expect("static response parts are valid")
}
