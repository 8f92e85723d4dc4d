//! What each function's IAM policies allow (the emulator does not enforce IAM, so only these
//! tests check it): the tables it writes, by key where it may, and its prefixes of the events
//! bucket.

use super::policies::{actions_on, grants, keys_of, like, policy_templates};
use super::*;

/// The prefix (`events/`) an S3 resource of a policy is limited to: `None` for the bucket, all
/// of its objects, or anything else.
fn bucket_prefix(resource: &str) -> Option<&str> {
    let prefix = resource
        .strip_prefix("${EventsBucket.Arn}/")?
        .strip_suffix('*')?;
    (prefix.len() > 1 && prefix.ends_with('/') && !prefix.contains('*')).then_some(prefix)
}

/// Where claim checks are kept, from the code that names them (`events/`).
fn claim_check_prefix() -> String {
    use gateway_core::meta::ClaimCheck;
    use gateway_core::meta::split::split_events;
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W/1","changes":[{"value":{"metadata":{"phone_number_id":"P 2"}},"field":"user_preferences"}]}]}"#;
    let event = split_events(body).unwrap().remove(0);
    let check = ClaimCheck::for_body(&event, "{}");
    let (prefix, _) = check.claim_check.split_once('/').unwrap();
    let prefix = format!("{prefix}/");
    // The copy a DLQ move or a replay makes stays under it.
    assert!(check.renewed(1).claim_check.starts_with(&prefix));
    prefix
}

/// The prefixes the events bucket's lifecycle rules expire.
fn expiring_prefixes(t: &Value) -> Vec<String> {
    resource(t, "EventsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("lifecycle rules")
        .iter()
        .filter(|r| r["ExpirationInDays"].is_number())
        .filter_map(|r| r["Prefix"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_send_function_writes_tenants_only_where_it_learns_owners_and_makes_the_token_key() {
    use gateway_aws::dynamo::{BY_TENANT_STATE, TOKEN_KEY_PK};
    use gateway_core::ports::OwnerKind;
    let t = template();
    let allowed = grants(&t, "SendFunction");
    // No SAM template widens what the statements allow.
    assert_eq!(
        policy_templates(&t, "SendFunction"),
        ["SSMParameterReadPolicy", "SQSSendMessagePolicy"]
    );
    assert_eq!(
        actions_on(&allowed, "TenantsTable.Arn"),
        [
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem"
        ]
    );
    assert_eq!(
        keys_of(&allowed, "TenantsTable.Arn", "dynamodb:GetItem"),
        None
    );
    assert_eq!(
        keys_of(&allowed, "TenantsTable.Arn", "dynamodb:BatchGetItem"),
        None
    );
    // Its one write there: the ownership it learns from Meta's answers, and the token key.
    let mut learnt: Vec<String> = [OwnerKind::Template, OwnerKind::Flow, OwnerKind::Media]
        .into_iter()
        .map(|kind| format!("{}#*", kind.prefix()))
        .chain([TOKEN_KEY_PK.to_owned()])
        .collect();
    learnt.sort();
    let puts = keys_of(&allowed, "TenantsTable.Arn", "dynamodb:PutItem")
        .expect("the send function's puts are limited by key");
    assert_eq!(puts, learnt);
    for kind in [OwnerKind::ApiKey, OwnerKind::Phone, OwnerKind::Waba] {
        let key = format!("{}#1", kind.prefix());
        assert!(!puts.iter().any(|p| like(p, &key)), "{key}: {puts:?}");
    }
    assert!(!puts.iter().any(|p| like(p, "TENANT#t")), "{puts:?}");

    assert_eq!(
        actions_on(&allowed, "MessagesTable.Arn"),
        ["dynamodb:GetItem", "dynamodb:PutItem"]
    );
    assert_eq!(
        actions_on(&allowed, "IdempotencyTable.Arn"),
        ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    );
    assert_eq!(
        actions_on(
            &allowed,
            &format!("${{IdempotencyTable.Arn}}/index/{BY_TENANT_STATE}")
        ),
        ["dynamodb:Query"]
    );
    for g in &allowed {
        assert!(
            !g.resource.contains("ConnectionsTable"),
            "the send function has no use for {}",
            g.resource
        );
        assert!(
            ![
                "dynamodb:DeleteItem",
                "dynamodb:Scan",
                "dynamodb:BatchWriteItem"
            ]
            .contains(&g.action.as_str())
                && !g.action.ends_with(":*"),
            "the send function may {} on {}",
            g.action,
            g.resource
        );
    }
}

#[test]
fn the_forwarder_writes_tenants_only_for_media_owners_and_endpoint_health() {
    use gateway_core::ports::OwnerKind;
    use gateway_core::tenant::TenantId;
    let t = template();
    let allowed = grants(&t, "ForwardFunction");
    assert_eq!(
        policy_templates(&t, "ForwardFunction"),
        ["SQSPollerPolicy", "SQSSendMessagePolicy"]
    );
    assert_eq!(
        actions_on(&allowed, "TenantsTable.Arn"),
        [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem"
        ]
    );
    assert_eq!(
        keys_of(&allowed, "TenantsTable.Arn", "dynamodb:GetItem"),
        None
    );
    let media = keys_of(&allowed, "TenantsTable.Arn", "dynamodb:PutItem")
        .expect("the forwarder's puts are limited by key");
    assert_eq!(media, [format!("{}#*", OwnerKind::Media.prefix())]);
    let health = keys_of(&allowed, "TenantsTable.Arn", "dynamodb:UpdateItem")
        .expect("the forwarder's updates are limited by key");
    let key =
        gateway_core::endpoint_health::destination_key(&TenantId::new("t"), "https://example.com/");
    assert!(health.iter().any(|p| like(p, &key)), "{key}: {health:?}");
    for kind in [OwnerKind::ApiKey, OwnerKind::Phone, OwnerKind::Waba] {
        let key = format!("{}#1", kind.prefix());
        assert!(!media.iter().chain(&health).any(|p| like(p, &key)), "{key}");
    }
    assert!(!media.iter().chain(&health).any(|p| like(p, "TENANT#t")));

    assert_eq!(
        actions_on(&allowed, "MessagesTable.Arn"),
        ["dynamodb:UpdateItem"]
    );
    assert_eq!(
        actions_on(&allowed, "IdempotencyTable.Arn"),
        [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem"
        ]
    );
    assert_eq!(
        actions_on(&allowed, "ConnectionsTable.Arn"),
        ["dynamodb:DeleteItem", "dynamodb:Query"]
    );
    for g in &allowed {
        assert!(
            g.action != "dynamodb:Scan" && !g.action.ends_with(":*"),
            "the forwarder may {} on {}",
            g.action,
            g.resource
        );
        assert!(
            g.action != "dynamodb:DeleteItem" || g.resource == "ConnectionsTable.Arn",
            "the forwarder may delete from {}",
            g.resource
        );
    }
}

#[test]
fn each_function_reaches_only_its_own_prefixes_of_the_events_bucket() {
    use gateway_aws::events_bucket::UNROUTABLE_PREFIX;
    let t = template();
    let claims = claim_check_prefix();
    let claims = claims.as_str();
    let expiring = expiring_prefixes(&t);
    for (function, expected) in [
        // Claim checks of events too large for SQS.
        ("WebhookFunction", vec![(claims, "s3:PutObject")]),
        // Media staged in parts and fetched through a presigned GET; a replayed claim check
        // copied to a fresh key.
        (
            "SendFunction",
            vec![
                (claims, "s3:GetObject"),
                (claims, "s3:PutObject"),
                ("media/", "s3:AbortMultipartUpload"),
                ("media/", "s3:GetObject"),
                ("media/", "s3:PutObject"),
            ],
        ),
        // Claim checks read, and copied on their way to the DLQ; unroutable events parked.
        (
            "ForwardFunction",
            vec![
                (claims, "s3:GetObject"),
                (claims, "s3:PutObject"),
                (UNROUTABLE_PREFIX, "s3:PutObject"),
            ],
        ),
        ("RealtimeFunction", vec![]),
    ] {
        assert!(
            policy_templates(&t, function)
                .iter()
                .all(|p| !p.starts_with("S3")),
            "{function} uses a SAM S3 policy"
        );
        let mut found: Vec<(String, String)> = grants(&t, function)
            .iter()
            .filter(|g| g.action.starts_with("s3:"))
            .map(|g| {
                let prefix = bucket_prefix(&g.resource).unwrap_or_else(|| {
                    panic!("{function}: {} is not one prefix of the bucket", g.resource)
                });
                (prefix.to_owned(), g.action.clone())
            })
            .collect();
        found.sort();
        found.dedup();
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(prefix, action)| (prefix.to_string(), action.to_string()))
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{function}");
        for (prefix, _) in &found {
            assert!(
                expiring.contains(prefix),
                "{function} writes {prefix}, which no lifecycle rule expires"
            );
        }
    }
    // The prefix the send function stages media under is the one its lifecycle rule expires.
    assert_eq!(
        resource(&t, "EventsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["Id"] == "ExpireStagedMedia")
            .map(|r| r["Prefix"].clone()),
        Some(Value::String("media/".to_owned()))
    );
}

#[test]
fn the_realtime_function_writes_only_connections_and_reads_tenants_item_by_item() {
    let t = template();
    let allowed = grants(&t, "RealtimeFunction");
    assert_eq!(
        actions_on(&allowed, "TenantsTable.Arn"),
        ["dynamodb:GetItem"]
    );
    assert_eq!(
        keys_of(&allowed, "TenantsTable.Arn", "dynamodb:GetItem"),
        None
    );
    // No policy template: every grant is a statement read here.
    assert!(policy_templates(&t, "RealtimeFunction").is_empty());
    assert_eq!(
        actions_on(&allowed, "ConnectionsTable.Arn"),
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem"
        ]
    );
    assert_eq!(
        actions_on(&allowed, "${ConnectionsTable.Arn}/index/ByConnection"),
        ["dynamodb:Query"]
    );
    // Nothing else of DynamoDB, anywhere.
    assert!(
        allowed.iter().all(|g| !g.action.starts_with("dynamodb:")
            || g.resource.starts_with("TenantsTable")
            || g.resource.contains("ConnectionsTable")),
        "a DynamoDB grant beyond the two tables"
    );
}
