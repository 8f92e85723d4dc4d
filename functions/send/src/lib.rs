//! The send function: the tenant-facing API. Graph-compatible routes (`/{version}/...`) answer
//! errors in Meta's shape so WhatsApp SDKs parse them; `/v1` routes answer the gateway's shape.
//! The same `handle` serves Lambda and the local stack.

use std::time::Duration;

use gateway_aws::blob::EventsBucket;
use gateway_aws::dynamo::{DynamoHealth, DynamoIdempotency, DynamoMessages, DynamoTenants};
use gateway_aws::graph::HttpGraphApi;
use gateway_aws::queue::SqsEventQueue;
use gateway_aws::{Clients, Settings};
use gateway_core::Error;
use gateway_core::cache::CachedTenants;
use gateway_core::deliveries::DeliveriesService;
use gateway_core::ports::HttpMethod;
use gateway_core::realtime::TokenRequest;
use gateway_core::send::{ApiResponse, GraphCall, GraphRoute, SendService, api_key};
use gateway_core::signature::Secret;
use lambda_http::{Body, Request, Response};

pub type AwsSendService =
    SendService<CachedTenants<DynamoTenants>, DynamoMessages, DynamoIdempotency, HttpGraphApi>;

/// Calls to Meta stay well inside the function's 29 s.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(10);

pub type AwsDeliveries = DeliveriesService<DynamoIdempotency, SqsEventQueue, DynamoHealth>;

/// How long a reopened delivery record is kept: as long as a failed one.
const REOPENED_KEPT_FOR: Duration = Duration::from_secs(14 * 86_400);

pub use gateway_aws::realtime::AwsRealtime;

pub struct SendApp {
    service: AwsSendService,
    deliveries: AwsDeliveries,
    /// Mints real-time tokens when `REALTIME_URL` is set.
    realtime: Option<AwsRealtime>,
}

impl SendApp {
    pub fn new(
        clients: &Clients,
        settings: &Settings,
        access_token: Secret,
    ) -> anyhow::Result<Self> {
        let graph = HttpGraphApi::new(
            &settings.graph_api_base_url,
            access_token,
            GRAPH_TIMEOUT,
            settings.target_policy,
            &settings.media_hosts,
        )?
        .with_staging(gateway_aws::media::MediaStaging::new(
            clients.s3.clone(),
            &settings.events_bucket,
        ));
        Ok(SendApp {
            service: SendService::new(
                CachedTenants::new(
                    DynamoTenants::new(clients.dynamodb.clone(), &settings.tenants_table),
                    settings.tenant_cache,
                ),
                DynamoMessages::new(clients.dynamodb.clone(), &settings.messages_table),
                DynamoIdempotency::new(clients.dynamodb.clone(), &settings.idempotency_table),
                graph,
                settings.target_policy,
                settings.graph_api_version.clone(),
            ),
            deliveries: DeliveriesService::new(
                DynamoIdempotency::new(clients.dynamodb.clone(), &settings.idempotency_table),
                SqsEventQueue::new(
                    clients.sqs.clone(),
                    &settings.events_queue_url,
                    EventsBucket::new(clients.s3.clone(), &settings.events_bucket),
                ),
                DynamoHealth::new(clients.dynamodb.clone(), &settings.tenants_table),
                REOPENED_KEPT_FOR,
            ),
            realtime: settings
                .realtime_url
                .as_deref()
                .map(|url| gateway_aws::realtime::service(clients, settings, url)),
        })
    }

    /// From the environment: the tables, `GRAPH_API_*` and `META_ACCESS_TOKEN[_PARAM]`.
    pub async fn from_env(clients: &Clients, settings: &Settings) -> anyhow::Result<Self> {
        SendApp::new(
            clients,
            settings,
            clients.secret("META_ACCESS_TOKEN").await?,
        )
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

fn respond(response: ApiResponse) -> Response<Body> {
    let body = match String::from_utf8(response.body) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    // The core only hands out header-safe content types; should one slip through, the answer
    // is still given rather than the function panicking.
    let content_type = http::HeaderValue::from_str(&response.content_type)
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    let status =
        http::StatusCode::from_u16(response.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let mut answer = Response::new(body);
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, content_type);
    if let Some(location) = response
        .location
        .as_deref()
        .and_then(|l| http::HeaderValue::from_str(l).ok())
    {
        answer
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    answer
}

fn error_response(err: &Error, graph_shape: bool) -> Response<Body> {
    match err {
        Error::Internal(e) => tracing::error!(error = ?e, "internal error"),
        Error::Unavailable { context, .. } => tracing::error!(context, "dependency unavailable"),
        other => tracing::info!(
            status = other.status(),
            code = other.code(),
            "request refused"
        ),
    }
    let body = if graph_shape {
        let trace_id = hex::encode(rand::random::<[u8; 8]>());
        err.graph_body(&trace_id)
    } else {
        err.gateway_body()
    };
    let mut response = Response::builder()
        .status(err.status())
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .expect("valid response");
    if err.status() == 401 {
        response
            .headers_mut()
            .insert("www-authenticate", http::HeaderValue::from_static("Bearer"));
    }
    if let Some(after) = err.retry_after() {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(after.as_secs().max(1)),
        );
    }
    response
}

fn percent_decoded(segment: &str) -> Result<String, Error> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::invalid("invalid_id", "id", "the id is not valid UTF-8"))
}

/// A wamid as Meta writes them: `wamid.` and base64-ish characters.
fn wamid(segment: &str) -> Result<String, Error> {
    let id = percent_decoded(segment)?;
    let valid = (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-=+".contains(&b));
    if valid {
        Ok(id)
    } else {
        Err(Error::invalid(
            "invalid_id",
            "wamid",
            "`wamid` is not a WhatsApp message id",
        ))
    }
}

pub async fn handle(app: &SendApp, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    // The HTTP API routes GET and POST /webhook to the webhook function; any other method on
    // it reaches this catch-all route and gets the webhook function's own refusal.
    if path == "/webhook" {
        let mut refused = error_response(&Error::MethodNotAllowed("use GET or POST"), false);
        refused.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("GET, POST"),
        );
        return refused;
    }
    let graph_shape = !path.starts_with("/v1/");
    match route(app, &req, &path).await {
        Ok(response) if path.starts_with("/v1/media/") => {
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
        Ok(response) => respond(response),
        Err(e) => error_response(&e, graph_shape),
    }
}

async fn route(app: &SendApp, req: &Request, path: &str) -> Result<ApiResponse, Error> {
    let method = match *req.method() {
        http::Method::GET => HttpMethod::Get,
        http::Method::POST => HttpMethod::Post,
        http::Method::DELETE => HttpMethod::Delete,
        _ => return Err(Error::NotFound("unknown route")),
    };
    let service = &app.service;
    let tenant = service
        .authenticate(api_key(
            header(req, "authorization"),
            header(req, "x-api-key"),
        ))
        .await?;
    let body: &[u8] = req.body().as_ref();
    let query = req.uri().query();
    let now = gateway_aws::now();
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

    if let Some(rest) = path.strip_prefix("/v1/") {
        let segments: Vec<&str> = rest.split('/').collect();
        return match (method, segments.as_slice()) {
            (HttpMethod::Post, ["messages"]) => {
                service
                    .idempotent(
                        &tenant,
                        idempotency_key,
                        &fingerprint,
                        service.send_simple(&tenant, body, now),
                    )
                    .await
            }
            (HttpMethod::Get, ["messages", id]) => {
                service.message_status(&tenant, &wamid(id)?).await
            }
            (HttpMethod::Get, ["events"]) => {
                app.deliveries
                    .events(&tenant, query, gateway_aws::now_ms())
                    .await
            }
            (HttpMethod::Post, ["events", "recover"]) => {
                app.deliveries
                    .recover(&tenant, body, gateway_aws::now_ms())
                    .await
            }
            (HttpMethod::Get, ["events", id]) => {
                app.deliveries.event(&tenant, &percent_decoded(id)?).await
            }
            (HttpMethod::Post, ["events", id, "replay"]) => {
                app.deliveries
                    .replay(&tenant, &percent_decoded(id)?, gateway_aws::now_ms())
                    .await
            }
            (HttpMethod::Get, ["endpoint"]) => {
                app.deliveries
                    .endpoint(&tenant, gateway_aws::now_ms())
                    .await
            }
            (HttpMethod::Post, ["realtime", "tokens"]) => match &app.realtime {
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
            (HttpMethod::Get, ["media", id]) => {
                service
                    .media_bytes(&tenant, &percent_decoded(id)?, query)
                    .await
            }
            _ => Err(Error::NotFound("unknown route")),
        };
    }

    let graph_route = GraphRoute::parse(method, path)?;
    let public_base = public_base(req);
    let call = GraphCall {
        method,
        route: &graph_route,
        query,
        content_type: header(req, "content-type"),
        body,
        public_base: &public_base,
    };
    let call = service.graph(&tenant, call, now);
    if method == HttpMethod::Post {
        service
            .idempotent(&tenant, idempotency_key, &fingerprint, call)
            .await
    } else {
        call.await
    }
}
