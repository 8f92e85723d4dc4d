//! The HTTP edge of the core: the answer a handler gives ([`ApiResponse`]) and the one place an
//! [`Error`](crate::Error) becomes an answer ([`render`]). Handlers convert an `ApiResponse` to
//! their transport's type and build no error bodies of their own.

mod render;
mod response;

pub use render::{Shape, gateway_body, meta_inside_gateway, render};
pub use response::{ApiResponse, header_safe_content_type};
