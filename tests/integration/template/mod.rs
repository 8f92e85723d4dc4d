//! What cfn-lint cannot see in template.yaml: the settings the code relies on. This module
//! reads the template; the checks are grouped by what they cover.

mod functions;
mod iam;
mod monitoring;
mod pipeline;
mod policies;
mod websocket;

use gateway_local::provision::load_template;
use gateway_local::stack::default_template;
use serde_norway::Value;

fn template() -> Value {
    load_template(&default_template()).unwrap()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t.get("Resources")
        .and_then(|r| r.get(id))
        .unwrap_or_else(|| panic!("no resource {id}"))
}

/// The name a `!Ref` points at.
fn ref_target(v: &Value) -> String {
    match v {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().unwrap().to_owned(),
        other => panic!("not a !Ref: {other:?}"),
    }
}

fn number(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}
