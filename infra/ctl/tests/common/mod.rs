//! The gatewayctl binary against tables and queues provisioned in the emulator.

use std::process::Command;

use gateway_aws::Clients;
use gateway_local::emulator;
use gateway_local::provision::{Resources, provision};
use gateway_local::stack::default_template;
use gateway_tests::{emulator_endpoint, unique_prefix};
use serde_json::Value;

pub struct Ctl {
    pub endpoint: String,
    pub resources: Resources,
    pub clients: Clients,
}

pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ctl {
    pub async fn new(name: &str) -> Ctl {
        let endpoint = emulator_endpoint();
        let clients = Clients::new(&emulator::sdk_config(&endpoint).await);
        let resources = provision(&clients, &default_template(), &unique_prefix(name))
            .await
            .unwrap();
        Ctl {
            endpoint,
            resources,
            clients,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("TENANTS_TABLE", &self.resources.tenants_table)
            .env("MESSAGES_TABLE", &self.resources.messages_table)
            .env("EVENTS_QUEUE_URL", &self.resources.events_queue_url)
            .env(
                "DEAD_LETTER_QUEUE_URL",
                &self.resources.dead_letter_queue_url,
            )
            .env("EVENTS_BUCKET", &self.resources.events_bucket)
            .output()
            .unwrap();
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.ok, "gatewayctl {args:?} failed: {}", out.stderr);
        serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", out.stdout))
    }

    pub fn fails(&self, args: &[&str], needle: &str) {
        let out = self.run(args);
        assert!(!out.ok, "gatewayctl {args:?} should fail");
        assert!(
            out.stderr.contains(needle),
            "{args:?}: `{}` should mention `{needle}`",
            out.stderr
        );
    }
}
