//! The rows of the bad-input table, and the rows the emulator answers differently.

pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) content_type: &'static str,
    pub(super) body: Vec<u8>,
    /// Sign the body as Meta would (webhook) / send the tenant's API key (other routes).
    pub(super) credentials: bool,
    pub(super) status: u16,
    /// What the error body must say (empty: anything).
    pub(super) needle: &'static str,
}

pub(super) fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        content_type: "application/json",
        body: body.into(),
        credentials: true,
        status,
        needle: "",
    }
}

/// A case whose error body must name `needle`.
pub(super) fn saying(needle: &'static str, case: Case) -> Case {
    Case { needle, ..case }
}

/// Rows the emulator's function URLs answer differently from API Gateway, and why. The request
/// is still refused (nothing queued, stored or sent: checked below); only the status differs.
pub(super) const EMULATOR_FUNCTION_URL_DIFFERENCES: [(&str, (u16, &str)); 4] = [
    (
        "webhook invalid UTF-8",
        (
            403,
            "the body reaches the function re-encoded, so the signature no longer matches",
        ),
    ),
    (
        "graph path traversal",
        (
            404,
            "the path reaches the function percent-decoded, so it is another route",
        ),
    ),
    (
        "status with traversal",
        (404, "the path reaches the function percent-decoded"),
    ),
    (
        "media with traversal",
        (404, "the path reaches the function percent-decoded"),
    ),
];
