//! Real WhatsApp SDKs, installed from their registries by `make test` (pywa for Python,
//! whatsapp-api-js for Node), pointed at the local stack by base URL and token only. Each runs
//! the calls a tenant makes (tests/sdk/*) and must end with no failed step; the fake Graph API
//! then shows what reached Meta.

use std::path::PathBuf;
use std::time::Duration;

use sha2::Digest;

const LARGE_MEDIA_BYTES: usize = 50 * 1_000_000;
use gateway_tests::*;

struct Sdk {
    name: &'static str,
    program: PathBuf,
    script: &'static str,
    env: Vec<(&'static str, String)>,
}

/// The SDKs `make test` installed, or `None` (said loudly) when run without it.
fn sdk(name: &'static str) -> Option<Sdk> {
    let (var, script) = match name {
        "pywa" => ("GATEWAY_SDK_PYWA", "sdk/pywa_smoke.py"),
        _ => (
            "GATEWAY_SDK_WHATSAPP_API_JS",
            "sdk/whatsapp_api_js_smoke.mjs",
        ),
    };
    let Ok(dir) = std::env::var(var) else {
        eprintln!(
            "SKIPPED: {name} is not installed ({var} unset): run `make test`, which installs it"
        );
        return None;
    };
    let (program, env) = match name {
        "pywa" => (PathBuf::from(&dir).join("bin/python"), vec![]),
        _ => (PathBuf::from("node"), vec![("WHATSAPP_API_JS_DIR", dir)]),
    };
    Some(Sdk {
        name,
        program,
        script,
        env,
    })
}

async fn run_sdk(name: &'static str) {
    let Some(sdk) = sdk(name) else { return };
    let world = World::start(&format!("sdk-{name}")).await;
    let World {
        stack,
        graph,
        tenant,
        ..
    } = &world;
    // 50 MB: more than a function's response holds, so it is staged and redirected to.
    let large: Vec<u8> = (0..LARGE_MEDIA_BYTES).map(|i| (i % 253) as u8).collect();
    let large_sha256 = hex::encode(sha2::Sha256::digest(&large));
    let large_id = graph.add_media(large, "video/mp4", PHONE_NUMBER_ID);
    world.give_media_to_a(&large_id).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(sdk.script);
    let mut command = tokio::process::Command::new(&sdk.program);
    command
        .arg(&script)
        .env("GATEWAY_URL", stack.url())
        .env("GATEWAY_TOKEN", &tenant.api_key)
        .env("PHONE_ID", PHONE_NUMBER_ID)
        .env("WABA_ID", WABA_ID)
        .env("TO", "4915112345678")
        .env("LARGE_MEDIA_ID", &large_id)
        .env("LARGE_MEDIA_BYTES", LARGE_MEDIA_BYTES.to_string())
        .env("LARGE_MEDIA_SHA256", &large_sha256)
        .envs(sdk.env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish in 120 s", sdk.name))
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", sdk.program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        sdk.name,
        output.status
    );
    // What reached Meta, seen by the fake: with the platform token, always with a version.
    let seen = graph.seen();
    let reached = |method: &str, suffix: &str| {
        seen.iter().any(|r| {
            r.method == method && r.path.starts_with("/v23.0/") && r.path.ends_with(suffix)
        })
    };
    for (method, suffix) in [
        ("POST", "/messages"),
        ("POST", "/media"),
        ("GET", "/whatsapp_business_profile"),
        ("POST", "/whatsapp_business_profile"),
        ("GET", "/message_templates"),
        ("POST", "/message_templates"),
        ("DELETE", "/message_templates"),
        ("GET", "/phone_numbers"),
        ("POST", "/message_qrdls"),
        ("POST", "/block_users"),
        ("GET", "/flows"),
    ] {
        assert!(
            reached(method, suffix),
            "{}: {method} …{suffix} never reached Meta:\n{stdout}",
            sdk.name
        );
    }
    let media_fetches = seen
        .iter()
        .filter(|r| r.path.starts_with("/_media/"))
        .count();
    assert_eq!(
        media_fetches, 2,
        "{}: both downloads go through the gateway",
        sdk.name
    );
    assert!(
        stdout.contains("download_large_media"),
        "{}: the large download ran",
        sdk.name
    );
    let sends = seen
        .iter()
        .filter(|r| r.path.ends_with("/messages"))
        .count();
    assert_eq!(sends, 4, "{}: text, template, read, typing", sdk.name);
}

#[tokio::test]
async fn pywa_sends_reads_uploads_downloads_and_manages_the_account_through_the_gateway() {
    run_sdk("pywa").await;
}

#[tokio::test]
async fn whatsapp_api_js_does_the_same_including_its_versionless_paths() {
    run_sdk("whatsapp-api-js").await;
}
