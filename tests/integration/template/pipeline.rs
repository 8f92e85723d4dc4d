//! The event pipeline's resources: the forwarder's queue and its redrive, the tables' keys and
//! TTL, the events bucket, and the TLS the bucket and every queue insist on.

use gateway_aws::dynamo::{PK, TTL_ATTRIBUTE, WAMID};
use gateway_core::retry::RetrySchedule;
use gateway_local::provision::{get_att_target, resources_of_type};

use super::policies::listed;
use super::*;

/// Whether `statement` denies `action` (`s3:*`) to everyone on a request not made over TLS.
fn denies_plain_http(statement: &Value, action: &str) -> bool {
    let insecure = &statement["Condition"]["Bool"]["aws:SecureTransport"];
    statement["Effect"] == "Deny"
        && statement["Principal"] == "*"
        && listed(&statement["Action"]) == [action]
        && (*insecure == "false" || *insecure == false)
}

#[test]
fn the_forwarder_reports_batch_item_failures_from_batches_of_ten() {
    let t = template();
    let event = &resource(&t, "ForwardFunction")["Properties"]["Events"]["Events"];
    assert_eq!(event["Type"], "SQS");
    assert_eq!(
        event["Properties"]["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(number(&event["Properties"]["BatchSize"]), 10);
    assert_eq!(
        get_att_target(&event["Properties"]["Queue"]).as_deref(),
        Some("EventsQueue")
    );
}

#[test]
fn queue_visibility_is_at_least_six_forward_timeouts_and_timeouts_nest() {
    let t = template();
    let forward = &resource(&t, "ForwardFunction")["Properties"];
    let timeout = number(&forward["Timeout"]);
    let parameter = ref_target(&forward["Environment"]["Variables"]["WEBHOOK_TIMEOUT_SECS"]);
    let http_timeout = &t["Parameters"][parameter.as_str()];
    assert_eq!(number(&http_timeout["Default"]), 10);
    let longest = number(&http_timeout["MaxValue"]);
    let visibility = number(&resource(&t, "EventsQueue")["Properties"]["VisibilityTimeout"]);
    // Large events are delivered five at a time, so a batch of ten takes at most two waves.
    assert!(
        2 * longest < timeout,
        "two waves of the longest HTTP timeout ({longest} s) must end before the function's {timeout} s"
    );
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} < 6 x {timeout}"
    );
}

#[test]
fn max_receive_count_is_a_backstop_above_the_delivery_attempts() {
    let t = template();
    let queue = &resource(&t, "EventsQueue")["Properties"];
    let redrive = &queue["RedrivePolicy"];
    let schedule = RetrySchedule::default();
    assert_eq!(
        number(&redrive["maxReceiveCount"]),
        u64::from(schedule.receive_backstop())
    );
    assert!(schedule.receive_backstop() > schedule.attempts());
    assert_eq!(
        get_att_target(&redrive["deadLetterTargetArn"]).as_deref(),
        Some("EventsDeadLetterQueue")
    );
    assert_eq!(number(&queue["MessageRetentionPeriod"]), 14 * 86_400);
    assert_eq!(
        number(&resource(&t, "EventsDeadLetterQueue")["Properties"]["MessageRetentionPeriod"]),
        14 * 86_400
    );
}

#[test]
fn tables_use_the_key_and_ttl_attributes_the_code_uses() {
    let t = template();
    for (id, key) in [
        ("TenantsTable", PK),
        ("MessagesTable", WAMID),
        ("IdempotencyTable", PK),
    ] {
        let props = &resource(&t, id)["Properties"];
        assert_eq!(props["KeySchema"][0]["AttributeName"], key, "{id}");
        assert_eq!(
            props["TimeToLiveSpecification"]["AttributeName"], TTL_ATTRIBUTE,
            "{id}"
        );
        assert_eq!(props["TimeToLiveSpecification"]["Enabled"], true, "{id}");
        assert_eq!(props["BillingMode"], "PAY_PER_REQUEST", "{id}");
        assert_eq!(
            props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{id}"
        );
        assert_eq!(props["SSESpecification"]["SSEEnabled"], true, "{id}");
    }
}

#[test]
fn the_events_bucket_is_encrypted_private_and_expires_what_it_keeps() {
    let t = template();
    let bucket = &resource(&t, "EventsBucket")["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key].as_bool(), Some(true), "{key}");
    }
    assert!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str()
            .is_some()
    );
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("lifecycle rules");
    let days = |prefix: &str| {
        rules
            .iter()
            .find(|r| r["Prefix"].as_str() == Some(prefix))
            .map(|r| number(&r["ExpirationInDays"]))
    };
    // Claim checks outlive the DLQ's 14 days; parked events are kept 14 days.
    assert!(days("events/").is_some_and(|d| d > 14));
    assert_eq!(
        days(gateway_aws::events_bucket::UNROUTABLE_PREFIX),
        Some(14)
    );
}

#[test]
fn the_bucket_and_every_queue_refuse_requests_not_made_over_tls() {
    let t = template();
    let bucket_policies = resources_of_type(&t, "AWS::S3::BucketPolicy");
    assert_eq!(bucket_policies.len(), 1);
    let (_, policy) = bucket_policies[0];
    assert_eq!(ref_target(&policy["Bucket"]), "EventsBucket");
    let statement = policy["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("bucket policy statements")
        .iter()
        .find(|s| denies_plain_http(s, "s3:*"))
        .expect("a Deny of s3:* without TLS");
    let mut resources = listed(&statement["Resource"]);
    resources.sort();
    assert_eq!(resources, ["${EventsBucket.Arn}/*", "EventsBucket.Arn"]);

    let queues = resources_of_type(&t, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 2);
    let queue_policies = resources_of_type(&t, "AWS::SQS::QueuePolicy");
    for (queue, _) in queues {
        // A queue has one policy: a second would replace the first.
        let covering: Vec<&Value> = queue_policies
            .iter()
            .filter(|(_, p)| {
                p["Queues"].as_sequence().is_some_and(|names| {
                    names.iter().any(|n| {
                        matches!(n, Value::Tagged(tagged) if tagged.tag == "Ref" && tagged.value == queue)
                    })
                })
            })
            .map(|(_, p)| *p)
            .collect();
        assert_eq!(covering.len(), 1, "{queue} has {} policies", covering.len());
        let statement = covering[0]["PolicyDocument"]["Statement"]
            .as_sequence()
            .expect("queue policy statements")
            .iter()
            .find(|s| denies_plain_http(s, "sqs:*"))
            .unwrap_or_else(|| panic!("{queue}: no Deny of sqs:* without TLS"));
        assert_eq!(listed(&statement["Resource"]), [format!("{queue}.Arn")]);
    }
}
