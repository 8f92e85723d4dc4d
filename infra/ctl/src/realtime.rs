//! `gatewayctl realtime revoke --tenant T`: ends a tenant's real time at once. Its tokens minted
//! until now no longer connect (a revocation in the Connections table, which `$connect` reads),
//! and each of its live connections is closed through the WebSocket API's management API
//! (`DeleteConnection`) and forgotten.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use aws_config::SdkConfig;
use gateway_aws::Clients;
use gateway_aws::admin::Admin;
use gateway_aws::dynamo::DynamoConnections;
use gateway_aws::realtime::ApiGatewayPoster;
use serde_json::json;

use crate::names::{Names, is_loopback};
use crate::owned::Flags;

/// The local stack's Connections table (`make run` names it with the prefix `local`).
const LOCAL_CONNECTIONS_TABLE: &str = "local-ConnectionsTable";
/// The local stack's WebSocket port, when `REALTIME_PORT` does not say otherwise.
const LOCAL_REALTIME_PORT: &str = "3003";

#[derive(clap::Subcommand)]
pub enum RealtimeCommand {
    /// Ends the tenant's real-time tokens minted until now (they no longer connect) and closes
    /// its live WebSocket connections. Tokens minted afterwards connect as usual.
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The Connections table (the stack's ConnectionsTableName output; without a stack,
        /// CONNECTIONS_TABLE).
        #[arg(long)]
        connections_table: Option<String>,
        /// The WebSocket API's management endpoint,
        /// `https://<api>.execute-api.<region>.amazonaws.com/realtime` (the stack's RealtimeUrl
        /// output with `https://`; without a stack, REALTIME_ENDPOINT).
        #[arg(long)]
        realtime_endpoint: Option<String>,
    },
}

/// The management endpoint of a connect URL: `wss://…/realtime` is managed at
/// `https://…/realtime` (`ws://` at `http://`), without the query.
pub fn management_endpoint(connect_url: &str) -> String {
    let base = connect_url.split('?').next().unwrap_or_default();
    if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        base.to_owned()
    }
}

/// The stack's outputs (`Names` keeps only the ones the other commands use).
async fn outputs(sdk: &SdkConfig, stack: &str) -> anyhow::Result<HashMap<String, String>> {
    let described = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .with_context(|| format!("reading the stack {stack}"))?;
    let found = described
        .stacks()
        .first()
        .ok_or_else(|| anyhow!("there is no stack {stack}"))?;
    Ok(found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

/// The Connections table and the management endpoint: a flag, else the stack's outputs, else
/// (without a stack) a variable, else, against the local emulator, what `make run` uses.
async fn resolve(
    sdk: &SdkConfig,
    names: &Names,
    table: Option<String>,
    endpoint: Option<String>,
) -> anyhow::Result<(String, String)> {
    let outputs = match &names.stack {
        Some(stack) if table.is_none() || endpoint.is_none() => outputs(sdk, stack).await?,
        _ => HashMap::new(),
    };
    let from_env = |name: &str| {
        names
            .stack
            .is_none()
            .then(|| std::env::var(name).ok())
            .flatten()
    };
    let local = names.local && names.stack.is_none();
    let table = table
        .or_else(|| outputs.get("ConnectionsTableName").cloned())
        .or_else(|| from_env("CONNECTIONS_TABLE"))
        .or_else(|| local.then(|| LOCAL_CONNECTIONS_TABLE.to_owned()))
        .context("the Connections table is not known: pass --stack NAME (or set GATEWAY_STACK), or set CONNECTIONS_TABLE")?;
    let endpoint = endpoint
        .or_else(|| outputs.get("RealtimeUrl").map(|url| management_endpoint(url.as_str())))
        .or_else(|| from_env("REALTIME_ENDPOINT"))
        .or_else(|| {
            local.then(|| {
                let port = std::env::var("REALTIME_PORT")
                    .unwrap_or_else(|_| LOCAL_REALTIME_PORT.to_owned());
                format!("http://127.0.0.1:{port}/ws")
            })
        })
        .context("the WebSocket API's management endpoint is not known: pass --stack NAME (or set GATEWAY_STACK), --realtime-endpoint, or set REALTIME_ENDPOINT")?;
    let parsed = url::Url::parse(&endpoint)
        .with_context(|| format!("the management endpoint `{endpoint}` is not a URL"))?;
    anyhow::ensure!(
        parsed.scheme() == "https" || (names.local && is_loopback(&endpoint)),
        "the management endpoint `{endpoint}` must be https (requests to it are signed with your credentials)"
    );
    Ok((table, endpoint.trim_end_matches('/').to_owned()))
}

pub async fn run(
    sdk: &SdkConfig,
    clients: &Clients,
    names: &Names,
    admin: &Admin,
    command: RealtimeCommand,
) -> anyhow::Result<()> {
    match command {
        RealtimeCommand::Revoke {
            tenant,
            connections_table,
            realtime_endpoint,
        } => {
            let tenant = admin.existing(&tenant).await.flags()?;
            let (table, endpoint) =
                resolve(sdk, names, connections_table, realtime_endpoint).await?;
            let store = DynamoConnections::new(clients.dynamodb.clone(), table);
            let closer = ApiGatewayPoster::new(sdk, &endpoint);
            let done =
                gateway_core::realtime::revoke(&store, &closer, &tenant.id, gateway_aws::now())
                    .await?;
            println!(
                "{}",
                json!({
                    "tenant_id": tenant.id.as_str(),
                    "revoked_at": done.revoked_at,
                    "closed": done.closed,
                    "failed": done.failed,
                    "note": "tokens minted up to revoked_at (unix seconds) no longer connect; new tokens do",
                })
            );
            anyhow::ensure!(
                done.failed == 0,
                "{} connection(s) could not be closed through {endpoint}: they get no more events, and are closed at their next frame (API Gateway closes them after 10 idle minutes)",
                done.failed
            );
        }
    }
    Ok(())
}
