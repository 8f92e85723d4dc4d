//! The real-time adapters against the emulator's DynamoDB: the token key is made once and
//! shared, read again when asked for fresh; a connection found gone just after it was made is
//! kept; expired records are no live connections.

use std::time::Duration;

use gateway_aws::dynamo::{DynamoTokenKey, TOKEN_KEY_PK};
use gateway_core::realtime::{Connection, ConnectionId, ConnectionStore, Scope, TokenKey};
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
    let tenant = TenantId(format!("t{}", rand::random::<u32>()));
    let connection = |id: &str| Connection {
        id: ConnectionId(id.into()),
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
        let mut ids: Vec<_> = live.into_iter().map(|c| c.id.0).collect();
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
        store
            .forget(&tenant, &ConnectionId(id.into()))
            .await
            .unwrap();
    }
    assert_eq!(ids(store.live(&tenant).await.unwrap()), ["young"]);
    // `$disconnect` knows only the id, and removes even a young one.
    store.remove(&ConnectionId("young".into())).await.unwrap();
    assert!(store.live(&tenant).await.unwrap().is_empty());
}
