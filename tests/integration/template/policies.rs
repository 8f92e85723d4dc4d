//! Reading a function's IAM policies in the template: its inline statements as resource and
//! action grants, its SAM policy templates, and the key conditions of a DynamoDB statement.

use super::*;

/// One resource and one action an inline statement of a function's policies allows, with the
/// statement's Condition.
pub(super) struct Grant<'a> {
    pub(super) resource: String,
    pub(super) action: String,
    condition: Option<&'a Value>,
}

/// The statements of a function's inline policies (`- Statement: [...]`); SAM policy templates
/// (`SQSPollerPolicy: ...`) are left out.
fn statements<'a>(t: &'a Value, function: &str) -> Vec<&'a Value> {
    resource(t, function)
        .get("Properties")
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .unwrap_or_else(|| panic!("{function} has no Policies"))
        .iter()
        .filter_map(|p| p.get("Statement"))
        .flat_map(|s| {
            s.as_sequence()
                .unwrap_or_else(|| panic!("{function}: a Statement that is not a list"))
        })
        .collect()
}

/// The SAM policy templates of a function (`SQSPollerPolicy`...), in order.
pub(super) fn policy_templates(t: &Value, function: &str) -> Vec<String> {
    resource(t, function)["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{function} has no Policies"))
        .iter()
        .filter_map(Value::as_mapping)
        .flat_map(|m| m.keys())
        .filter_map(Value::as_str)
        .filter(|k| *k != "Statement")
        .map(str::to_owned)
        .collect()
}

/// What a policy value names: the string, `X.Arn` for `!GetAtt X.Arn`, the text of a `!Sub`.
fn named(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) if tagged.tag == "GetAtt" || tagged.tag == "Sub" => tagged
            .value
            .as_str()
            .unwrap_or_else(|| panic!("not a one-string intrinsic: {tagged:?}"))
            .to_owned(),
        other => panic!("unexpected policy value {other:?}"),
    }
}

/// A policy value given as one item or as a list of them.
pub(super) fn listed(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(named).collect(),
        one => vec![named(one)],
    }
}

/// Everything a function's inline statements allow: each resource with each action.
pub(super) fn grants<'a>(t: &'a Value, function: &str) -> Vec<Grant<'a>> {
    let mut out = Vec::new();
    for statement in statements(t, function) {
        assert_eq!(statement["Effect"], "Allow", "{function}: {statement:?}");
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "{function}: {statement:?}"
        );
        for resource in listed(&statement["Resource"]) {
            for action in listed(&statement["Action"]) {
                out.push(Grant {
                    resource: resource.clone(),
                    action,
                    condition: statement.get("Condition"),
                });
            }
        }
    }
    out
}

/// The actions `grants` allow on `resource`, sorted.
pub(super) fn actions_on(grants: &[Grant<'_>], resource: &str) -> Vec<String> {
    let mut actions: Vec<String> = grants
        .iter()
        .filter(|g| g.resource == resource)
        .map(|g| g.action.clone())
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

/// The `dynamodb:LeadingKeys` patterns (`ForAllValues:StringLike`) of the one statement that
/// allows `action` on `resource`, sorted; `None` when that statement has no condition.
pub(super) fn keys_of(grants: &[Grant<'_>], resource: &str, action: &str) -> Option<Vec<String>> {
    let found: Vec<&Grant<'_>> = grants
        .iter()
        .filter(|g| g.resource == resource && g.action == action)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{action} on {resource}: {} statements",
        found.len()
    );
    let condition = found[0].condition?;
    assert_eq!(
        condition.as_mapping().map(|m| m.len()),
        Some(1),
        "{action} on {resource}: {condition:?}"
    );
    let mut keys = listed(&condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
    keys.sort();
    Some(keys)
}

/// Whether `key` matches a `StringLike` pattern of the template (a trailing `*` at most).
pub(super) fn like(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => !prefix.contains('*') && key.starts_with(prefix),
        None => pattern == key,
    }
}
