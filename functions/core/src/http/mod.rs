//! The HTTP edge of the core: the one router ([`Route`]), the answer a handler gives
//! ([`ApiResponse`]) and the one place an [`Error`](crate::Error) becomes an answer ([`render`]). Handlers convert an `ApiResponse` to
//! their transport's type and build no error bodies of their own.

pub(crate) mod graph_route;
mod render;
mod response;
mod route;

pub use render::{Shape, gateway_body, meta_inside_gateway, render};
pub use response::{ApiResponse, header_safe_content_type};
pub use route::{
    Route, TenantPath, TenantRoute, WEBHOOK_METHODS, WEBHOOK_PATH, WebhookCall, graph_shaped,
};
