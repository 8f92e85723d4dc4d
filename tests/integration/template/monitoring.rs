//! Alarms and the dashboard: every alarm notifies the topic, each watches what the code
//! publishes, and the dashboard and the delivery index name what the code writes.

use gateway_core::retry::RetrySchedule;
use gateway_local::provision::{get_att_target, resources_of_type};

use super::*;

/// The template's alarms on `metric` of `namespace`, by logical id.
fn alarms_on<'a>(t: &'a Value, namespace: &str, metric: &str) -> Vec<(&'a str, &'a Value)> {
    resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Namespace"] == namespace && a["MetricName"] == metric)
        .collect()
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 5, "DLQ depth, API 5xx and one per function");
    for (id, props) in alarms {
        let actions = props["AlarmActions"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has no AlarmActions"));
        assert!(
            actions.iter().any(
                |a| matches!(a, Value::Tagged(t) if t.tag == "Ref" && t.value == "AlarmTopic")
            ),
            "{id} does not notify AlarmTopic"
        );
    }
}

#[test]
fn the_unroutable_alarm_watches_the_metric_the_forwarder_publishes() {
    let t = template();
    let alarm = &resource(&t, "UnroutableEventsAlarm")["Properties"];
    assert_eq!(
        alarm["Namespace"].as_str(),
        Some(gateway_core::metrics::NAMESPACE)
    );
    assert_eq!(
        alarm["MetricName"].as_str(),
        Some(gateway_core::metrics::Metric::Unroutable.name())
    );
    assert_eq!(alarm["Dimensions"][0]["Name"].as_str(), Some("Service"));
    assert_eq!(alarm["Dimensions"][0]["Value"].as_str(), Some("forward"));
}

#[test]
fn the_delivery_index_and_the_dashboard_name_what_the_code_writes() {
    use gateway_aws::dynamo::{BY_TENANT_STATE, STATE_AT_MS, TENANT_STATE};
    let t = template();
    let table = &resource(&t, "IdempotencyTable")["Properties"];
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], BY_TENANT_STATE);
    assert_eq!(index["KeySchema"][0]["AttributeName"], TENANT_STATE);
    assert_eq!(index["KeySchema"][1]["AttributeName"], STATE_AT_MS);
    let types: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| {
            let name = d["AttributeName"].as_str().unwrap().to_owned();
            (name, d["AttributeType"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(types.contains(&(STATE_AT_MS.to_owned(), "N".to_owned())));
    assert!(types.contains(&(TENANT_STATE.to_owned(), "S".to_owned())));

    // The settings the functions read, from the parameters an operator sets.
    let variables = &t["Globals"]["Function"]["Environment"]["Variables"];
    for (variable, parameter) in [
        ("EVENT_RETENTION_DAYS", "EventRetentionDays"),
        ("BREAKER_THRESHOLD", "BreakerThreshold"),
        ("BREAKER_PROBE_SECONDS", "BreakerProbeSeconds"),
    ] {
        assert_eq!(ref_target(&variables[variable]), parameter);
        assert!(
            t["Parameters"][parameter]["Default"].is_number(),
            "{parameter}"
        );
    }

    // The dashboard is valid JSON once substituted, and shows the metrics the code emits.
    let body = match &resource(&t, "Dashboard")["Properties"]["DashboardBody"] {
        Value::Tagged(tagged) if tagged.tag == "Sub" => {
            tagged.value[0].as_str().unwrap().to_owned()
        }
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    let mut substituted = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        substituted.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        substituted.push('X');
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    let dashboard: serde_json::Value = serde_json::from_str(&substituted).expect("dashboard JSON");
    let text = dashboard.to_string();
    for delivered in [true, false] {
        let line = gateway_core::metrics::delivery_line("t", delivered, 1, 0);
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = metric["Name"].as_str().unwrap();
            assert!(
                text.contains(&format!("\"{name}\"")),
                "{name} is not on the dashboard"
            );
        }
    }
    for metric in [
        gateway_core::metrics::Metric::Unroutable,
        gateway_core::metrics::Metric::DeadLettered,
        gateway_core::metrics::Metric::MalformedPart,
    ] {
        assert!(
            text.contains(&format!("\"{}\"", metric.name())),
            "{metric:?}"
        );
    }
    assert!(text.contains(gateway_core::metrics::NAMESPACE));
    assert!(text.contains("ApproximateNumberOfMessagesVisible"));
}

#[test]
fn every_function_has_a_throttles_alarm_and_the_queue_an_age_alarm() {
    use gateway_core::retry::FailureKind;
    let t = template();
    let throttles = alarms_on(&t, "AWS/Lambda", "Throttles");
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    assert_eq!(throttles.len(), functions.len());
    for (function, _) in functions {
        let watching: Vec<(&str, &Value)> = throttles
            .iter()
            .copied()
            .filter(|(_, a)| {
                a["Dimensions"].as_sequence().is_some_and(|d| d.len() == 1)
                    && a["Dimensions"][0]["Name"] == "FunctionName"
                    && ref_target(&a["Dimensions"][0]["Value"]) == function
            })
            .collect();
        assert_eq!(watching.len(), 1, "{function}: {watching:?}");
        let (_, alarm) = watching[0];
        assert_eq!(alarm["Statistic"], "Sum", "{function}");
        assert_eq!(number(&alarm["Threshold"]), 0, "{function}");
        assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
    }

    let ages = alarms_on(&t, "AWS/SQS", "ApproximateAgeOfOldestMessage");
    assert_eq!(ages.len(), 1);
    let (_, age) = ages[0];
    assert_eq!(age["Dimensions"][0]["Name"], "QueueName");
    let queue = &age["Dimensions"][0]["Value"];
    assert_eq!(get_att_target(queue).as_deref(), Some("EventsQueue"));
    assert!(
        format!("{queue:?}").contains("EventsQueue.QueueName"),
        "{queue:?}"
    );
    assert_eq!(age["Statistic"], "Maximum");
    assert_eq!(age["ComparisonOperator"], "GreaterThanThreshold");
    let parameter = ref_target(&age["Threshold"]);
    let threshold = number(&t["Parameters"][parameter.as_str()]["Default"]);
    assert_eq!(threshold, 900);
    // SQS leaves messages received three times or more out of this age: an event's own
    // retries count until its third receive, which alone must never fire the alarm.
    let schedule = RetrySchedule::default();
    let longest_wait = |attempt: u32| {
        [FailureKind::Failed, FailureKind::Throttled]
            .into_iter()
            .filter_map(|kind| schedule.retry_delay(attempt, kind, None, 0.999_999))
            .map(|d| d.as_secs())
            .max()
            .unwrap()
    };
    let timeout = number(&resource(&t, "ForwardFunction")["Properties"]["Timeout"]);
    let until_third_receive = 2 * timeout + longest_wait(1) + longest_wait(2);
    assert!(
        threshold > until_third_receive,
        "{threshold} s <= {until_third_receive} s"
    );
}
