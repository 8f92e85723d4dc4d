//! The one error type of the gateway. Each variant says what the caller must do, so one place
//! (per transport) can map it to an HTTP status or to an SQS batch failure.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: 400 with a message that names the field.
    #[error("{message}")]
    InvalidInput {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// The body is larger than the route accepts: 413.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// No or unknown credentials: 401.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Credentials are valid but do not grant this: 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// The path exists, the method does not: 405 (the webhook path takes GET and POST only).
    #[error("{0}")]
    MethodNotAllowed(&'static str),
    /// The same request is already being processed: 409.
    #[error("{0}")]
    Conflict(&'static str),
    /// The request contradicts an earlier one (idempotency key reuse): 422.
    #[error("{0}")]
    Unprocessable(&'static str),
    /// Too many calls of one kind from this caller: 429, with `Retry-After` (whole seconds,
    /// at least 1) saying when the next one is taken.
    #[error("{message}")]
    RateLimited {
        message: &'static str,
        retry_after: Duration,
    },
    /// A dependency (SQS, DynamoDB, Meta) failed; `retry_after` when trying later may help.
    #[error("upstream unavailable: {context}")]
    Unavailable {
        context: String,
        retry_after: Option<Duration>,
    },
    /// The request never reached Meta (the connection was refused, DNS or TLS failed): 502.
    /// Sending it again cannot send twice.
    #[error("Meta could not be reached")]
    Unreachable,
    /// Meta was sent the request but gave no usable answer: 502, or 504 for a timeout. Meta may
    /// have acted on it.
    #[error("{message}")]
    Upstream { status: u16, message: String },
    /// An earlier request with this Idempotency-Key may have reached Meta and its outcome is
    /// unknown: 409. It is not sent again; the client looks the message up.
    #[error(
        "an earlier request with this Idempotency-Key may have reached Meta ({0}); it is not sent again: look the message up (status webhook, GET /v1/messages/{{id}}) before sending it with a new key"
    )]
    OutcomeUnknown(String),
    /// A bug or an unexpected state: logged with context, answered with a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn invalid_body(code: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            code,
            field: None,
            message: message.into(),
        }
    }

    /// The `Retry-After` a refusal carries: only a rate limit's.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => {
                Some((*retry_after).max(Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    pub fn unavailable(context: impl Into<String>) -> Self {
        Error::Unavailable {
            context: context.into(),
            retry_after: None,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidInput { .. } => 400,
            Error::PayloadTooLarge { .. } => 413,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) | Error::OutcomeUnknown(_) => 409,
            Error::Unprocessable(_) => 422,
            Error::RateLimited { .. } => 429,
            Error::Unavailable { .. } => 503,
            Error::Unreachable => 502,
            Error::Upstream { status, .. } => *status,
            Error::Internal(_) => 500,
        }
    }

    /// A stable snake_case code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { code, .. } => code,
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Conflict(_) => "conflict",
            Error::OutcomeUnknown(_) => "idempotency_outcome_unknown",
            Error::Unprocessable(_) => "idempotency_key_reused",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable { .. } => "unavailable",
            Error::Upstream { status: 504, .. } => "upstream_timeout",
            Error::Unreachable | Error::Upstream { .. } => "upstream_unreachable",
            Error::Internal(_) => "internal_error",
        }
    }

    /// The message safe to show a caller: internals never leak.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".to_owned(),
            Error::Unavailable { .. } => "a dependency is unavailable, try again".to_owned(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_never_leak_into_a_public_message() {
        let err = Error::Internal(anyhow::anyhow!("table tenants-prod: access denied"));
        assert_eq!(err.public_message(), "internal error");
        assert_eq!(
            Error::unavailable("table tenants-prod").public_message(),
            "a dependency is unavailable, try again"
        );
        assert_eq!(Error::Forbidden("no way").public_message(), "no way");
    }

    #[test]
    fn a_rate_limit_is_a_429_with_retry_after() {
        let err = Error::RateLimited {
            message: "too many replays",
            retry_after: Duration::from_secs(40),
        };
        assert_eq!(err.status(), 429);
        assert_eq!(err.code(), "rate_limited");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(40)));
        assert_eq!(Error::Conflict("x").retry_after(), None);
    }
}
