//! The bounds of real time: uses per token, connections per tenant, the client frame rate,
//! and revocation.

use super::*;

fn service_over(tenants: &MemoryTenants, store: &MemoryConnections, limits: Limits) -> TestService {
    RealtimeService::new(
        tenants.clone(),
        store.clone(),
        MemoryTokenKey::default(),
        "wss://rt.example/prod",
    )
    .with_limits(limits)
}

/// Acme (P, W) and Globex (Q, X), and acme's record.
async fn two_tenants() -> (MemoryTenants, Tenant, Tenant) {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    tenants.add(tenant("globex", "Q"), &["Q"], &["X"]);
    let acme = tenants
        .tenant(&TenantId::new("acme"))
        .await
        .unwrap()
        .unwrap();
    let globex = tenants
        .tenant(&TenantId::new("globex"))
        .await
        .unwrap()
        .unwrap();
    (tenants, acme, globex)
}

/// A token of `tenant` minted at `now` (it connects for 300 s).
async fn minted(rt: &TestService, tenant: &Tenant, now: i64, nonce: &str) -> String {
    let request = TokenRequest::parse(b"").unwrap();
    token_of(&rt.token(tenant, &request, now, nonce).await.unwrap())
}

fn id(name: &str) -> ConnectionId {
    ConnectionId::new(name)
}

#[tokio::test]
async fn the_eleventh_connection_of_one_token_is_refused() {
    let (tenants, acme, _) = two_tenants().await;
    let store = MemoryConnections::default();
    let rt = service_over(&tenants, &store, Limits::default());
    let token = minted(&rt, &acme, 1_000, "n1").await;
    for n in 0..MAX_USES_PER_TOKEN {
        rt.connect(Some(&token), &id(&format!("c{n}")), 1_001)
            .await
            .unwrap_or_else(|e| panic!("connection {n}: {e}"));
    }
    assert_eq!(store.uses("acme", "n1"), 10);
    let eleventh = rt.connect(Some(&token), &id("c10"), 1_002).await;
    assert!(matches!(eleventh, Err(Refusal::TokenSpent)), "{eleventh:?}");
    assert_eq!(eleventh.unwrap_err().status(), 403);
    assert_eq!(store.ids("acme").len(), 10);
    // Closing one gives the token no use back; another token connects.
    rt.disconnect(&id("c0")).await.unwrap();
    assert!(matches!(
        rt.connect(Some(&token), &id("c11"), 1_003).await,
        Err(Refusal::TokenSpent)
    ));
    let other = minted(&rt, &acme, 1_003, "n2").await;
    rt.connect(Some(&other), &id("c12"), 1_004).await.unwrap();
    assert_eq!(store.uses("acme", "n2"), 1);
    // A token whose uses cannot be counted does not connect.
    store.fail(true);
    assert!(matches!(
        rt.connect(Some(&other), &id("c13"), 1_005).await,
        Err(Refusal::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_tenant_at_its_cap_is_refused_until_a_connection_closes() {
    let (tenants, acme, globex) = two_tenants().await;
    let store = MemoryConnections::default();
    let limits = Limits {
        connections_per_tenant: 3,
        ..Limits::default()
    };
    let rt = service_over(&tenants, &store, limits);
    let token = minted(&rt, &acme, 1_000, "n1").await;
    for n in 0..3 {
        rt.connect(Some(&token), &id(&format!("c{n}")), 1_001)
            .await
            .unwrap();
    }
    let fresh = minted(&rt, &acme, 1_001, "n2").await;
    let full = rt.connect(Some(&fresh), &id("c3"), 1_002).await;
    assert!(matches!(full, Err(Refusal::TenantFull)), "{full:?}");
    assert_eq!(full.unwrap_err().status(), 429);
    assert_eq!(
        store.uses("acme", "n2"),
        0,
        "a refused connect uses nothing"
    );
    // Another tenant has its own room.
    let theirs = minted(&rt, &globex, 1_002, "g1").await;
    rt.connect(Some(&theirs), &id("g0"), 1_002).await.unwrap();
    // A connection closing makes room.
    rt.disconnect(&id("c1")).await.unwrap();
    rt.connect(Some(&fresh), &id("c3"), 1_003).await.unwrap();
    assert_eq!(store.ids("acme"), ["c0", "c2", "c3"]);
    // Records past their expiry are no live connections.
    let stale = Connection {
        id: id("stale"),
        scope: Scope::default(),
    };
    store
        .add(&TenantId::new("globex"), &stale, 0, 1_000)
        .await
        .unwrap();
    let more = minted(&rt, &globex, 1_003, "g2").await;
    rt.connect(Some(&more), &id("g1"), 1_004).await.unwrap();
    rt.connect(Some(&more), &id("g2"), 1_004).await.unwrap();
    assert!(matches!(
        rt.connect(Some(&more), &id("g3"), 1_004).await,
        Err(Refusal::TenantFull)
    ));
}

#[tokio::test]
async fn a_client_sending_frames_too_fast_is_closed_and_forgotten() {
    let (tenants, acme, _) = two_tenants().await;
    let store = MemoryConnections::default();
    let closer = MemoryPoster::default();
    let rt = service_over(&tenants, &store, Limits::default());
    let token = minted(&rt, &acme, 1_000, "n1").await;
    rt.connect(Some(&token), &id("c1"), 1_000).await.unwrap();
    rt.connect(Some(&token), &id("c2"), 1_000).await.unwrap();
    // Three at once, then one a minute.
    for _ in 0..FRAME_BURST {
        assert_eq!(
            rt.client_frame(&id("c1"), Some(1_000), 1_010, &closer)
                .await
                .unwrap(),
            ClientFrame::Answer
        );
    }
    assert_eq!(
        rt.client_frame(&id("c1"), Some(1_000), 1_070, &closer)
            .await
            .unwrap(),
        ClientFrame::Answer
    );
    assert!(closer.closed_ids().is_empty());
    assert_eq!(
        rt.client_frame(&id("c1"), Some(1_000), 1_071, &closer)
            .await
            .unwrap(),
        ClientFrame::Closed
    );
    assert_eq!(closer.closed_ids(), ["c1"]);
    assert_eq!(store.ids("acme"), ["c2"], "its record is removed");
    // The other connection has its own allowance.
    assert_eq!(
        rt.client_frame(&id("c2"), Some(1_000), 1_071, &closer)
            .await
            .unwrap(),
        ClientFrame::Answer
    );
    // A connection with no record: left alone while young (the index may lag), closed once
    // older than the grace (its record was removed).
    for (connected_at, expected) in [
        (None, ClientFrame::Answer),
        (Some(1_071 - UNKNOWN_GRACE_SECS), ClientFrame::Answer),
        (Some(1_070 - UNKNOWN_GRACE_SECS), ClientFrame::Closed),
    ] {
        assert_eq!(
            rt.client_frame(&id("ghost"), connected_at, 1_071, &closer)
                .await
                .unwrap(),
            expected,
            "{connected_at:?}"
        );
    }
    assert_eq!(closer.closed_ids(), ["c1", "ghost"]);
    // A management API that fails: the connection is still forgotten (no more events).
    *closer.failing.lock().unwrap() = true;
    for _ in 0..FRAME_BURST {
        rt.client_frame(&id("c2"), Some(1_000), 1_071, &closer)
            .await
            .unwrap();
    }
    assert!(store.ids("acme").is_empty());
    // A table that fails is an error: the handler answers the frame anyway.
    store.fail(true);
    assert!(
        rt.client_frame(&id("c2"), Some(1_000), 1_071, &closer)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn revoke_refuses_older_tokens_and_closes_live_connections() {
    let (tenants, acme, globex) = two_tenants().await;
    let store = MemoryConnections::default();
    let closer = MemoryPoster::default();
    let rt = service_over(&tenants, &store, Limits::default());
    let old = minted(&rt, &acme, 1_000, "n1").await;
    let same_second = minted(&rt, &acme, 1_100, "n2").await;
    rt.connect(Some(&old), &id("c1"), 1_000).await.unwrap();
    rt.connect(Some(&old), &id("c2"), 1_001).await.unwrap();
    let theirs = minted(&rt, &globex, 1_000, "g1").await;
    rt.connect(Some(&theirs), &id("g1"), 1_000).await.unwrap();

    let acme_id = TenantId::new("acme");
    let done = revoke(&store, &closer, &acme_id, 1_100).await.unwrap();
    assert_eq!(
        done,
        Revoked {
            revoked_at: 1_100,
            closed: 2,
            failed: 0
        }
    );
    let mut closed = closer.closed_ids();
    closed.sort();
    assert_eq!(closed, ["c1", "c2"]);
    assert!(store.ids("acme").is_empty());
    assert_eq!(store.ids("globex"), ["g1"], "another tenant's stay");
    // Tokens minted until the revocation's second are refused; later ones connect.
    for (why, token) in [
        ("minted before", &old),
        ("minted the same second", &same_second),
    ] {
        let refused = rt.connect(Some(token), &id("c3"), 1_101).await;
        assert!(
            matches!(refused, Err(Refusal::Revoked)),
            "{why}: {refused:?}"
        );
        assert_eq!(refused.unwrap_err().status(), 403);
    }
    // A token minted before tokens carried their issue time counts as minted before.
    let legacy = mint(
        &Secret::new("memory-token-key"),
        &Claims {
            issued_at: 0,
            ..unverified_claims("acme", 1_300)
        },
    );
    assert!(matches!(
        rt.connect(Some(&legacy), &id("c3"), 1_101).await,
        Err(Refusal::Revoked)
    ));
    let new = minted(&rt, &acme, 1_101, "n3").await;
    rt.connect(Some(&new), &id("c4"), 1_102).await.unwrap();
    rt.connect(Some(&theirs), &id("g2"), 1_102).await.unwrap();
    // An earlier revocation never replaces a later one.
    revoke(&store, &closer, &acme_id, 1_050).await.unwrap();
    assert!(matches!(
        rt.connect(Some(&same_second), &id("c5"), 1_103).await,
        Err(Refusal::Revoked)
    ));
    // A management API that fails: the connections are forgotten all the same (no more
    // events) and counted as failed.
    rt.connect(Some(&new), &id("c6"), 1_104).await.unwrap();
    *closer.failing.lock().unwrap() = true;
    let done = revoke(&store, &closer, &acme_id, 1_200).await.unwrap();
    assert_eq!((done.closed, done.failed), (0, 1));
    assert!(store.ids("acme").is_empty());
}
