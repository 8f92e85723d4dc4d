//! The send function: the tenant-facing API. Graph-compatible routes (`/{version}/...`) answer
//! errors in Meta's shape so WhatsApp SDKs parse them; `/v1` routes answer the gateway's shape.
//! The same `handle` serves Lambda and the local stack.

use std::time::Duration;

use gateway_aws::Gateway;
use gateway_aws::lambda::respond;
use gateway_core::Error;
use gateway_core::bundle::{Ports, PortsDeliveries, PortsRealtime, PortsSend, realtime_service};
use gateway_core::deliveries::DeliveriesService;
use gateway_core::http::{
    Route, Shape, TenantPath, TenantRoute, WEBHOOK_METHODS, graph_shaped, render,
};
use gateway_core::ports::HttpMethod;
use gateway_core::realtime::TokenRequest;
use gateway_core::send::{ApiResponse, GraphCall, SendService, api_key};
use gateway_core::signature::Secret;
use gateway_core::time::Clock;
use lambda_http::{Body, Request, Response};

/// How long a reopened delivery record is kept: as long as a failed one.
const REOPENED_KEPT_FOR: Duration = Duration::from_secs(14 * 86_400);

pub struct SendApp<P: Ports> {
    service: PortsSend<P>,
    deliveries: PortsDeliveries<P>,
    /// Mints real-time tokens when `REALTIME_URL` is set.
    realtime: Option<PortsRealtime<P>>,
    clock: P::Clock,
}

impl<P: Ports> SendApp<P> {
    /// `access_token`: the Meta token sends and Graph calls are made with.
    pub fn new(ports: &P, access_token: Secret) -> anyhow::Result<Self> {
        let config = ports.config();
        Ok(SendApp {
            service: SendService::new(
                ports.tenants(),
                ports.messages(),
                ports.idempotency(),
                ports.graph(access_token)?,
                config.target_policy,
                config.graph_api_version.clone(),
            ),
            deliveries: DeliveriesService::new(
                ports.idempotency(),
                ports.requeue(),
                ports.health(),
                REOPENED_KEPT_FOR,
            ),
            realtime: config
                .realtime_url
                .as_deref()
                .map(|url| realtime_service(ports, url)),
            clock: ports.clock(),
        })
    }
}

impl SendApp<Gateway> {
    /// `META_ACCESS_TOKEN[_PARAM]`.
    pub async fn from_gateway(gateway: &Gateway) -> anyhow::Result<Self> {
        SendApp::new(gateway, gateway.secret("META_ACCESS_TOKEN").await?)
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The gateway's base URL as the tenant reached it: `X-Forwarded-Proto` (API Gateway and
/// function URLs set it; `http` without it, as on the local stack) and `Host`.
fn public_base(req: &Request) -> String {
    let scheme = match header(req, "x-forwarded-proto") {
        Some("https") => "https",
        Some(_) | None => "http",
    };
    let host = header(req, "host")
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn error_response(err: &Error, graph_shape: bool) -> Response<Body> {
    let trace_id = hex::encode(rand::random::<[u8; 8]>());
    let shape = match graph_shape {
        true => Shape::Graph {
            trace_id: &trace_id,
        },
        false => Shape::Gateway,
    };
    respond(render(err, shape))
}

pub async fn handle<P: Ports>(app: &SendApp<P>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let tenant_path = match Route::parse(req.method().as_str(), &path) {
        Ok(Route::Tenant(tenant_path)) => tenant_path,
        // The HTTP API routes GET and POST /webhook to the webhook function; any other method
        // on it reaches this catch-all route and gets the webhook function's own refusal.
        Ok(Route::Webhook(_)) => {
            return error_response(&Error::MethodNotAllowed(WEBHOOK_METHODS), false);
        }
        Err(e) => return error_response(&e, graph_shaped(&path)),
    };
    match route(app, &req, tenant_path).await {
        Ok((TenantRoute::Media(_), response)) => {
            // A customer's media is served from the API's origin: never rendered there.
            let mut answer = respond(response);
            let headers = answer.headers_mut();
            headers.insert(
                "x-content-type-options",
                http::HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                http::header::CONTENT_DISPOSITION,
                http::HeaderValue::from_static("attachment"),
            );
            answer
        }
        Ok((_, response)) => respond(response),
        Err(e) => error_response(&e, tenant_path.graph_shaped()),
    }
}

/// Checks the key, then reads the route's ids and serves it.
async fn route<P: Ports>(
    app: &SendApp<P>,
    req: &Request,
    tenant_path: TenantPath<'_>,
) -> Result<(TenantRoute, ApiResponse), Error> {
    let service = &app.service;
    let tenant = service
        .authenticate(api_key(
            header(req, "authorization"),
            header(req, "x-api-key"),
        ))
        .await?;
    let route = tenant_path.resolve()?;
    let TenantPath { method, path } = tenant_path;
    let body: &[u8] = req.body().as_ref();
    let query = req.uri().query();
    let now = app.clock.now_secs();
    let idempotency_key = header(req, "idempotency-key");
    let fingerprint = [
        method.as_str().as_bytes(),
        b" ",
        path.as_bytes(),
        b"?",
        query.unwrap_or_default().as_bytes(),
        b"\n",
        body,
    ]
    .concat();

    let response = match &route {
        TenantRoute::SendSimple => {
            service
                .idempotent(
                    &tenant,
                    idempotency_key,
                    &fingerprint,
                    now,
                    service.send_simple(&tenant, body, now),
                )
                .await
        }
        TenantRoute::MessageStatus(wamid) => service.message_status(&tenant, wamid).await,
        TenantRoute::Events => {
            app.deliveries
                .events(&tenant, query, app.clock.now_ms())
                .await
        }
        TenantRoute::Recover => {
            app.deliveries
                .recover(&tenant, body, app.clock.now_ms())
                .await
        }
        TenantRoute::Event(id) => app.deliveries.event(&tenant, id).await,
        TenantRoute::Replay(id) => app.deliveries.replay(&tenant, id, app.clock.now_ms()).await,
        TenantRoute::Endpoint => app.deliveries.endpoint(&tenant, app.clock.now_ms()).await,
        TenantRoute::RealtimeToken => match &app.realtime {
            Some(realtime) => {
                let nonce = hex::encode(rand::random::<[u8; 12]>());
                realtime
                    .token(&tenant, &TokenRequest::parse(body)?, now, &nonce)
                    .await
            }
            None => Err(Error::NotFound(
                "real-time events are not enabled on this gateway (no REALTIME_URL)",
            )),
        },
        TenantRoute::Media(id) => service.media_bytes(&tenant, id, query).await,
        TenantRoute::Graph(graph_route) => {
            let public_base = public_base(req);
            let call = GraphCall {
                method,
                route: graph_route,
                query,
                content_type: header(req, "content-type"),
                body,
                public_base: &public_base,
            };
            let call = service.graph(&tenant, call, now);
            if method == HttpMethod::Post {
                service
                    .idempotent(&tenant, idempotency_key, &fingerprint, now, call)
                    .await
            } else {
                call.await
            }
        }
    }?;
    Ok((route, response))
}

#[cfg(test)]
mod tests;
