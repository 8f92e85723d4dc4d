//! The splitter's output, unchanged: every Meta fixture, and twelve odd variants of each (pretty
//! printed, fields that are numbers, lists that are not, items without ids, entries that are
//! not objects, escaped keys...), split and written as queue bodies, must hash as they did with
//! commit 70637ba, the version before the splitter was rewritten to read in fewer passes.
//! `tests/fixtures/queue/split-digests.txt` holds those digests, one per body.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gateway_core::meta::split::split;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const COLLECTIONS: [&str; 5] = [
    "messages",
    "statuses",
    "calls",
    "message_echoes",
    "contacts",
];

fn fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fixtures(&path, out)
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path)
        }
    }
}

/// Every change of every entry, where there are such.
fn changes(body: &mut Value, f: &dyn Fn(&mut Value)) {
    for entry in body["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            f(change)
        }
    }
}

/// Every item of the value's lists, where there are such.
fn items(body: &mut Value, f: &dyn Fn(&mut serde_json::Map<String, Value>)) {
    changes(body, &|change| {
        for name in COLLECTIONS {
            let list = change["value"].get_mut(name).and_then(Value::as_array_mut);
            for item in list.into_iter().flatten() {
                if let Some(item) = item.as_object_mut() {
                    f(item)
                }
            }
        }
    })
}

type Mutation = fn(&mut Value);

const MUTATIONS: [Mutation; 10] = [
    |b| changes(b, &|c| c["field"] = json!(7)),
    |b| {
        changes(b, &|c| {
            for (name, odd) in [("messages", json!("x")), ("statuses", json!(3))] {
                if c["value"].get(name).is_some() {
                    c["value"][name] = odd.clone();
                }
            }
        })
    },
    |b| {
        items(b, &|item| {
            item.remove("id");
            item.remove("wa_id");
        })
    },
    |b| {
        items(b, &|item| {
            for key in ["id", "from", "status", "timestamp", "wa_id", "event"] {
                if let Some(s) = item.get(key).and_then(Value::as_str).map(str::to_owned) {
                    let odd = s.parse::<u64>().map_or_else(|_| json!([s]), Value::from);
                    item.insert(key.into(), odd);
                }
            }
        })
    },
    |b| {
        for entry in b["entry"].as_array_mut().into_iter().flatten() {
            entry["changes"] = json!({"a": 1});
        }
    },
    |b| b["entry"] = json!({"id": "W"}),
    |b| {
        if let Some(entries) = b["entry"].as_array_mut() {
            entries.push(json!(17));
            entries.push(json!({"id": 5, "time": "t", "changes": [17, {"value": {"x": 1}},
                {"field": "messages"},
                {"field": "messages", "value": {"metadata": {"phone_number_id": 99}, "errors": [1]}}]}));
        }
    },
    |b| {
        changes(b, &|c| {
            if let Some(m) = c["value"].get_mut("metadata") {
                m["phone_number_id"] = json!(12345678901234567u64);
            }
        })
    },
    |b| b["object"] = json!(5),
    |b| {
        b.as_object_mut().unwrap().remove("entry");
    },
];

fn variants(body: &str) -> Vec<String> {
    let mut out = vec![body.to_owned()];
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return out;
    };
    out.push(serde_json::to_string_pretty(&value).unwrap());
    if !value.is_object() {
        return out;
    }
    for mutate in MUTATIONS {
        let mut odd = value.clone();
        mutate(&mut odd);
        out.push(odd.to_string());
    }
    out.push(body.replace("\"field\"", "\"fi\\u0065ld\""));
    out.push(body.replace("\"id\"", "\"\\u0069d\""));
    out.push(body.replace("\"messages\":[", "\"messages\":[1,null,\"s\","));
    out
}

/// What a body splits into, as the digests were taken: the malformed count and every queue
/// body, or the refusal.
fn written(body: &str) -> String {
    match split(body.as_bytes()) {
        Ok(split) => {
            let mut out = format!("malformed={}\n", split.malformed);
            for event in split.events {
                out.push_str(&event.to_queue_body());
                out.push('\n');
            }
            out
        }
        Err(e) => format!("ERR {e}\n"),
    }
}

#[test]
fn every_fixture_and_its_odd_variants_split_as_before() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let expected: BTreeMap<String, String> =
        std::fs::read_to_string(root.join("queue/split-digests.txt"))
            .unwrap()
            .lines()
            .map(|line| {
                let (name, digest) = line.rsplit_once(' ').unwrap();
                (name.to_owned(), digest.to_owned())
            })
            .collect();
    let mut files = Vec::new();
    fixtures(&root.join("meta"), &mut files);
    files.sort();
    let mut seen = 0;
    let mut changed = Vec::new();
    for file in files {
        let body = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root.join("meta")).unwrap().display();
        for (i, variant) in variants(&body).iter().enumerate() {
            let key = format!("{name} #{i}");
            let digest = hex::encode(Sha256::digest(written(variant).as_bytes()));
            match expected.get(&key) {
                Some(want) if digest.starts_with(want.as_str()) => seen += 1,
                Some(_) => changed.push(key),
                None => panic!("{key}: no digest recorded (a new fixture needs its line)"),
            }
        }
    }
    assert!(
        changed.is_empty(),
        "split differently than before: {changed:?}"
    );
    assert_eq!(seen, expected.len(), "every recorded body was split");
    assert!(seen > 1000, "the fixtures and their variants are all read");
}
