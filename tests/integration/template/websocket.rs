//! Real time in the template: the WebSocket API, its stage and table, and the realtime
//! function's concurrency and connection cap.

use gateway_aws::dynamo::{BY_CONNECTION, CONNECTION_ID, TENANT, TTL_ATTRIBUTE};
use gateway_local::provision::resources_of_type;

use super::policies::{actions_on, grants, keys_of, like};
use super::*;

#[test]
fn the_websocket_api_reaches_the_realtime_function_on_the_stage_the_urls_name() {
    let t = template();
    let table = &resource(&t, "ConnectionsTable")["Properties"];
    assert_eq!(table["KeySchema"][0]["AttributeName"], TENANT);
    assert_eq!(table["KeySchema"][1]["AttributeName"], CONNECTION_ID);
    let index = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexName"], BY_CONNECTION);
    assert_eq!(index["KeySchema"][0]["AttributeName"], CONNECTION_ID);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        TTL_ATTRIBUTE
    );

    assert_eq!(
        resource(&t, "RealtimeApi")["Properties"]["ProtocolType"],
        "WEBSOCKET"
    );
    let mut keys: Vec<_> = resources_of_type(&t, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(_, r)| r["RouteKey"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["$connect", "$default", "$disconnect"]);
    let integration = format!(
        "{:?}",
        resource(&t, "RealtimeIntegration")["Properties"]["IntegrationUri"]
    );
    assert!(
        integration.contains("${RealtimeFunction.Arn}"),
        "{integration}"
    );
    // No AWS::ApiGatewayV2::Deployment: the stage deploys itself.
    let stage = &resource(&t, "RealtimeStage")["Properties"];
    assert_eq!(stage["AutoDeploy"], true);
    let stage_name = stage["StageName"].as_str().unwrap();
    for (function, variable) in [
        ("SendFunction", "REALTIME_URL"),
        ("ForwardFunction", "REALTIME_ENDPOINT"),
        ("RealtimeFunction", "REALTIME_ENDPOINT"),
    ] {
        let value = format!(
            "{:?}",
            resource(&t, function)["Properties"]["Environment"]["Variables"][variable]
        );
        assert!(
            value.contains("${RealtimeApi}"),
            "{function}.{variable}: {value}"
        );
        assert!(
            value.contains(&format!("/{stage_name}\"")),
            "{function}.{variable}: {value}"
        );
    }
    // What each function does to the WebSocket side, its policies allow (the emulator does
    // not enforce IAM, so only this test checks it).
    // Read by statement: the action, then the resource it is allowed on.
    for function in ["ForwardFunction", "RealtimeFunction"] {
        let allowed = grants(&t, function);
        let manage: Vec<&str> = allowed
            .iter()
            .filter(|g| g.action == "execute-api:ManageConnections")
            .map(|g| g.resource.as_str())
            .collect();
        assert!(
            !manage.is_empty() && manage.iter().all(|r| r.ends_with(":${RealtimeApi}/*")),
            "{function}: {manage:?}"
        );
        let connections = actions_on(&allowed, "ConnectionsTable.Arn");
        for needed in ["dynamodb:Query", "dynamodb:DeleteItem"] {
            assert!(
                connections.iter().any(|a| a == needed),
                "{function}: {connections:?}"
            );
        }
        assert!(
            actions_on(&allowed, "TenantsTable.Arn")
                .iter()
                .any(|a| a == "dynamodb:GetItem"),
            "{function} reads tenants"
        );
    }
    // The send function makes the token key in the Tenants table (its one write there).
    let send = grants(&t, "SendFunction");
    let puts = keys_of(&send, "TenantsTable.Arn", "dynamodb:PutItem").unwrap_or_default();
    assert!(
        puts.iter()
            .any(|p| like(p, gateway_aws::dynamo::TOKEN_KEY_PK)),
        "{puts:?}"
    );
    let permission = &resource(&t, "RealtimeInvokePermission")["Properties"];
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert_eq!(ref_target(&permission["FunctionName"]), "RealtimeFunction");
}

#[test]
fn the_realtime_function_takes_its_concurrency_and_connection_cap_from_parameters() {
    let t = template();
    let realtime = &resource(&t, "RealtimeFunction")["Properties"];
    // Reserved unless the parameter is 0, like the webhook's.
    let reserved = match &realtime["ReservedConcurrentExecutions"] {
        Value::Tagged(tagged) if tagged.tag == "If" => tagged
            .value
            .as_sequence()
            .expect("!If takes a list")
            .clone(),
        other => panic!("not an !If: {other:?}"),
    };
    assert_eq!(reserved[0], "ReserveRealtimeConcurrency");
    assert_eq!(ref_target(&reserved[1]), "RealtimeReservedConcurrency");
    assert_eq!(ref_target(&reserved[2]), "AWS::NoValue");
    let condition = format!("{:?}", t["Conditions"]["ReserveRealtimeConcurrency"]);
    assert!(
        condition.contains("RealtimeReservedConcurrency"),
        "{condition}"
    );
    let concurrency = &t["Parameters"]["RealtimeReservedConcurrency"];
    assert_eq!(concurrency["Type"], "Number");
    assert_eq!(number(&concurrency["Default"]), 10);
    assert_eq!(number(&concurrency["MinValue"]), 0);

    let variable = &realtime["Environment"]["Variables"]["REALTIME_MAX_CONNECTIONS_PER_TENANT"];
    assert_eq!(ref_target(variable), "RealtimeMaxConnectionsPerTenant");
    let cap = &t["Parameters"]["RealtimeMaxConnectionsPerTenant"];
    assert_eq!(cap["Type"], "Number");
    assert_eq!(number(&cap["Default"]), 200);
    assert!(number(&cap["MinValue"]) >= 1);
    // The realtime function alone reads it.
    assert!(
        t["Globals"]["Function"]["Environment"]["Variables"]
            .get("REALTIME_MAX_CONNECTIONS_PER_TENANT")
            .is_none()
    );
}
