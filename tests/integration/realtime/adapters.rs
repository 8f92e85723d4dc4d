//! The real-time adapters against the emulator's DynamoDB: the token key is made once and
//! shared, read again when asked for fresh; a connection found gone just after it was made is
//! kept; expired records are no live connections; token uses, frames and revocations are
//! counted with conditional writes beside the connections, never listed or counted as one; a
//! post to a connection that is gone is read as gone from the emulator's own management API.

use std::time::Duration;

use futures::StreamExt;

use gateway_aws::dynamo::{DynamoTokenKey, TOKEN_KEY_PK};
use gateway_core::realtime::{
    Connection, ConnectionId, ConnectionStore, FrameRate, Framed, Scope, TokenKey,
};
use gateway_core::tenant::TenantId;
use gateway_tests::*;

use super::connections;

#[tokio::test]
async fn the_token_key_is_made_once_shared_and_read_again_when_replaced() {
    let stack = spawn_stack(stack_options("rt-key")).await;
    let table = &stack.resources.tenants_table;
    let (one, two) = (
        DynamoTokenKey::new(stack.clients.dynamodb.clone(), table),
        DynamoTokenKey::new(stack.clients.dynamodb.clone(), table),
    );
    assert!(
        one.key(false, false).await.unwrap().is_none(),
        "no key before the first token"
    );
    let made = two.key(true, false).await.unwrap().expect("made");
    assert_eq!(made.expose().len(), 64);
    // `one` kept "no key" for a moment; asked to create, it finds the one `two` made.
    let found = one.key(true, false).await.unwrap().unwrap();
    assert_eq!(found, made);
    // Replaced by an operator: a kept key is used until a fresh read is allowed.
    stack
        .clients
        .dynamodb
        .delete_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(TOKEN_KEY_PK.into()),
        )
        .send()
        .await
        .unwrap();
    let new = two.key(true, true).await.unwrap().unwrap();
    assert_eq!(new, made, "read again at most every 5 s");
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    let new = two.key(true, true).await.unwrap().unwrap();
    assert_ne!(
        new, made,
        "a fresh read after 5 s finds the item gone and makes another"
    );
    assert_eq!(
        one.key(false, false).await.unwrap().unwrap(),
        made,
        "kept for 5 minutes"
    );
    assert_eq!(one.key(false, true).await.unwrap().unwrap(), new);
}

#[tokio::test]
async fn a_connection_found_gone_while_young_is_kept_and_expired_ones_are_not_live() {
    let stack = spawn_stack(stack_options("rt-store")).await;
    let store = connections(&stack);
    let tenant = TenantId::new(format!("t{}", rand::random::<u32>()));
    let connection = |id: &str| Connection {
        id: ConnectionId::new(id),
        scope: Scope {
            fields: vec!["messages".into()],
            phones: vec![],
        },
    };
    let now = gateway_aws::now();
    store
        .add(&tenant, &connection("young"), now, now + 600)
        .await
        .unwrap();
    store
        .add(&tenant, &connection("old"), now - 60, now + 600)
        .await
        .unwrap();
    store
        .add(&tenant, &connection("expired"), now - 9_000, now - 1)
        .await
        .unwrap();
    let ids = |live: Vec<Connection>| {
        let mut ids: Vec<_> = live.into_iter().map(|c| c.id.into_string()).collect();
        ids.sort();
        ids
    };
    let live = store.live(&tenant).await.unwrap();
    assert!(
        live.iter().all(|c| c.scope.fields == ["messages"]),
        "{live:?}"
    );
    assert_eq!(ids(live), ["old", "young"]);
    for id in ["young", "old"] {
        store.forget(&tenant, &ConnectionId::new(id)).await.unwrap();
    }
    assert_eq!(ids(store.live(&tenant).await.unwrap()), ["young"]);
    // `$disconnect` knows only the id, and removes even a young one.
    store.remove(&ConnectionId::new("young")).await.unwrap();
    assert!(store.live(&tenant).await.unwrap().is_empty());
}

#[tokio::test]
async fn token_uses_frames_and_revocations_are_counted_beside_the_connections() {
    let stack = spawn_stack(stack_options("rt-bounds-store")).await;
    let store = connections(&stack);
    let tenant = TenantId::new(format!("t{}", rand::random::<u32>()));
    let now = gateway_aws::now();
    // A token opens ten connections; another token has its own count.
    for n in 0..10 {
        assert!(
            store
                .use_token(&tenant, "nonce1", 10, now + 300)
                .await
                .unwrap(),
            "use {n}"
        );
    }
    assert!(
        !store
            .use_token(&tenant, "nonce1", 10, now + 300)
            .await
            .unwrap()
    );
    assert!(
        store
            .use_token(&tenant, "nonce2", 10, now + 300)
            .await
            .unwrap()
    );
    // The latest revocation stands.
    assert_eq!(store.revoked_at(&tenant).await.unwrap(), None);
    store.revoke(&tenant, now, now + 3_660).await.unwrap();
    store.revoke(&tenant, now - 100, now + 3_560).await.unwrap();
    assert_eq!(store.revoked_at(&tenant).await.unwrap(), Some(now));
    store.revoke(&tenant, now + 1, now + 3_661).await.unwrap();
    assert_eq!(store.revoked_at(&tenant).await.unwrap(), Some(now + 1));
    // Neither token uses nor revocations are connections.
    assert_eq!(store.count(&tenant, now, 200).await.unwrap(), 0);
    assert!(store.live(&tenant).await.unwrap().is_empty());

    let connection = |id: &str| Connection {
        id: ConnectionId::new(id),
        scope: Scope::default(),
    };
    for (id, at, until) in [
        ("c1", now, now + 600),
        ("c2", now, now + 600),
        ("expired", now - 9_000, now - 1),
    ] {
        store
            .add(&tenant, &connection(id), at, until)
            .await
            .unwrap();
    }
    assert_eq!(
        store.count(&tenant, now, 200).await.unwrap(),
        2,
        "unexpired only"
    );

    // Three frames at once, the fourth too fast; a minute later, one more.
    let rate = FrameRate::default();
    let c1 = ConnectionId::new("c1");
    for n in 0..3 {
        assert_eq!(
            store.frame(&c1, now, rate).await.unwrap(),
            Framed::Allowed,
            "frame {n}"
        );
    }
    assert_eq!(
        store.frame(&c1, now, rate).await.unwrap(),
        Framed::TooFast(tenant.clone())
    );
    assert_eq!(
        store.frame(&c1, now + 60, rate).await.unwrap(),
        Framed::Allowed
    );
    assert_eq!(
        store
            .frame(&ConnectionId::new("c2"), now, rate)
            .await
            .unwrap(),
        Framed::Allowed,
        "each connection has its own allowance"
    );
    // No record, or a token's item under that id: unknown.
    for id in ["never-connected", "nonce1", "#revoked"] {
        assert_eq!(
            store
                .frame(&ConnectionId::new(id), now, rate)
                .await
                .unwrap(),
            Framed::Unknown,
            "{id}"
        );
    }
    // The allowance lives on the record: the record still lists with its scope.
    assert_eq!(store.live(&tenant).await.unwrap().len(), 2);
    // A connection the gateway closed is forgotten however young.
    store.delete(&tenant, &c1).await.unwrap();
    assert_eq!(store.count(&tenant, now, 200).await.unwrap(), 1);
    assert_eq!(
        store.frame(&c1, now + 120, rate).await.unwrap(),
        Framed::Unknown
    );
}

#[tokio::test]
async fn at_most_two_thousand_connections_of_a_tenant_are_listed_for_an_event() {
    let stack = spawn_stack(stack_options("rt-cap")).await;
    let store = connections(&stack);
    let tenant = TenantId::new(format!("t{}", rand::random::<u32>()));
    let now = gateway_aws::now();
    // 2,100 records, written by the adapter, 16 at a time.
    let writes: Vec<_> = (0..2_100)
        .map(|n| Connection {
            id: ConnectionId::new(format!("c{n:05}")),
            scope: Scope {
                fields: vec![],
                phones: vec![],
            },
        })
        .collect();
    futures::stream::iter(writes.iter())
        .for_each_concurrent(16, |c| {
            let store = &store;
            let tenant = &tenant;
            async move { store.add(tenant, c, now, now + 600).await.unwrap() }
        })
        .await;
    let live = store.live(&tenant).await.unwrap();
    assert_eq!(live.len(), 2_000, "the fan-out cap, not a page's worth");
}

/// API Gateway answers a post to a connection that is no longer there with 410
/// `GoneException`: the adapter must read it as `Gone` (the connection is then forgotten),
/// not as a failure. Checked against the emulator's own management API, with a WebSocket API
/// made for the test and a connection id nobody holds.
#[tokio::test]
async fn a_post_to_a_connection_that_is_gone_is_read_as_gone() {
    use gateway_aws::realtime::ApiGatewayPoster;
    use gateway_core::realtime::{Posted, Poster};

    let endpoint = emulator_endpoint();
    let sdk = gateway_local::emulator::sdk_config(&endpoint).await;
    let apigw = aws_sdk_apigatewayv2::Client::new(&sdk);
    let api = apigw
        .create_api()
        .name(format!("gone-{}", rand::random::<u32>()))
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Websocket)
        .route_selection_expression("$request.body.action")
        .send()
        .await
        .unwrap()
        .api_id
        .unwrap();
    apigw
        .create_stage()
        .api_id(&api)
        .stage_name("realtime")
        .auto_deploy(true)
        .send()
        .await
        .unwrap();
    let poster = ApiGatewayPoster::new(
        &sdk,
        &format!(
            "{}/_aws/execute-api/{api}/realtime",
            endpoint.trim_end_matches('/')
        ),
    );
    let posted = poster
        .post(&ConnectionId::new("nobody-holds-this"), b"{}")
        .await;
    assert!(matches!(posted, Posted::Gone), "{posted:?}");
    apigw.delete_api().api_id(&api).send().await.unwrap();
}
