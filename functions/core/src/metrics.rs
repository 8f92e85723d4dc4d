//! Counts published as CloudWatch metrics in the embedded metric format: one JSON line on
//! standard output, which Lambda's log pipeline turns into a metric (no API call, no extra
//! permission). template.yaml's alarms name the same namespace, metric and dimension.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Off until a Lambda entry point turns it on: in tests and the local stack the lines would
/// only interleave with other output (the same counts are in the WARN log lines).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Publishes metrics from now on (the Lambda functions' `main`).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

pub const NAMESPACE: &str = "WhatsAppGateway";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// An event no tenant owns: parked for `gatewayctl unroutable replay`.
    Unroutable,
    /// A part of a signed POST that could not be split as Meta documents it, queued whole.
    MalformedPart,
    /// An event whose delivery attempts are spent, moved to the dead-letter queue.
    DeadLettered,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Unroutable => "Unroutable",
            Metric::MalformedPart => "MalformedPart",
            Metric::DeadLettered => "DeadLettered",
        }
    }
}

/// The EMF line for `value` of `metric`, from the function `service`, at `timestamp_ms`.
pub fn emf_line(metric: Metric, value: u64, service: &str, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        },
        "Service": service,
        metric.name(): value,
    })
    .to_string()
}

/// The EMF line for one delivery attempt of `tenant`'s: `Delivered` or `DeliveryFailed` (a
/// count of one) and `DeliveryLatency` (milliseconds), both over all tenants (`Service`) and
/// per tenant (`Service`, `TenantId`).
pub fn delivery_line(tenant: &str, delivered: bool, latency_ms: u64, timestamp_ms: i64) -> String {
    let counted = if delivered {
        "Delivered"
    } else {
        "DeliveryFailed"
    };
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"], ["Service", "TenantId"]],
                "Metrics": [
                    {"Name": counted, "Unit": "Count"},
                    {"Name": "DeliveryLatency", "Unit": "Milliseconds"},
                ],
            }],
        },
        "Service": "forward",
        "TenantId": tenant,
        counted: 1,
        "DeliveryLatency": latency_ms,
    })
    .to_string()
}

/// Publishes one delivery attempt's result and latency.
pub fn delivery(tenant: &str, delivered: bool, latency_ms: u64) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let line = delivery_line(tenant, delivered, latency_ms, now_ms());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The line `count` would print now: none while metrics are off, or for a zero.
fn line_now(metric: Metric, value: u64, service: &str) -> Option<String> {
    if value == 0 || !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    Some(emf_line(metric, value, service, now_ms()))
}

/// Publishes `value` of `metric` (nothing when it is zero).
pub fn count(metric: Metric, value: u64, service: &str) {
    if let Some(line) = line_now(metric, value, service) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_enabled_a_count_is_a_line_and_a_zero_is_none() {
        enable();
        let line = line_now(Metric::DeadLettered, 2, "forward").expect("a line once enabled");
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["DeadLettered"], 2);
        assert!(line_now(Metric::DeadLettered, 0, "forward").is_none());
    }

    #[test]
    fn an_emf_line_names_the_metric_its_dimension_and_its_value() {
        let line: serde_json::Value =
            serde_json::from_str(&emf_line(Metric::Unroutable, 3, "forward", 1_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_000);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"][0][0], "Service");
        assert_eq!(directive["Metrics"][0]["Name"], "Unroutable");
        assert_eq!(line["Service"], "forward");
        assert_eq!(line["Unroutable"], 3);
    }

    #[test]
    fn a_delivery_line_counts_it_per_tenant_and_overall_with_its_latency() {
        let line: serde_json::Value =
            serde_json::from_str(&delivery_line("acme", false, 42, 1_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"][1][1], "TenantId");
        assert_eq!(directive["Metrics"][0]["Name"], "DeliveryFailed");
        assert_eq!(directive["Metrics"][1]["Unit"], "Milliseconds");
        assert_eq!(line["TenantId"], "acme");
        assert_eq!(line["DeliveryFailed"], 1);
        assert_eq!(line["DeliveryLatency"], 42);
        let ok: serde_json::Value =
            serde_json::from_str(&delivery_line("acme", true, 7, 1_000)).unwrap();
        assert_eq!(ok["Delivered"], 1);
        assert!(ok.get("DeliveryFailed").is_none());
    }
}
