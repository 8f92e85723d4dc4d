//! Frames and the fan-out: what a frame carries, which connections get it, and the
//! forwarder posting each event once beside its webhook, whatever the posts do.

use super::*;

fn parse(frame: &[u8]) -> Value {
    assert!(frame.is_ascii(), "frames are ASCII like Meta's bodies");
    serde_json::from_slice(frame).unwrap()
}

#[test]
fn frames_name_messages_statuses_and_fields_and_carry_one_value_object() {
    let message = split_events(MESSAGE).unwrap().remove(0);
    let frame = parse(&super::frame(&message));
    assert_eq!(frame["type"], "message:new");
    assert_eq!(frame["event_id"], "wamid.M1");
    assert_eq!(frame["phone_number_id"], "P");
    assert_eq!(
        frame["payload"]["messages"][0]["text"]["body"],
        "Grüße / hi"
    );
    assert_eq!(frame["payload"]["contacts"][0]["profile"]["name"], "Jürgen");
    assert_eq!(frame["payload"]["metadata"]["phone_number_id"], "P");

    let status = split_events(STATUS).unwrap().remove(0);
    let frame = parse(&super::frame(&status));
    assert_eq!(frame["type"], "message:status");
    assert_eq!(frame["event_id"], "wamid.1:read");
    assert_eq!(frame["payload"]["statuses"][0]["status"], "read");

    let template = split_events(TEMPLATE).unwrap().remove(0);
    let raw = super::frame(&template);
    let frame = parse(&raw);
    assert_eq!(frame["type"], "message_template_status_update");
    assert_eq!(frame["phone_number_id"], Value::Null);
    // Long numbers stay exactly as Meta wrote them.
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .contains("12345678901234567")
    );
}

fn connection(id: &str, scope: Scope) -> Connection {
    Connection {
        id: ConnectionId::new(id),
        scope,
    }
}

#[tokio::test]
async fn fan_out_posts_to_connections_in_scope_and_forgets_gone_ones() {
    let store = MemoryConnections::default();
    let poster = MemoryPoster::default();
    let acme = TenantId::new("acme");
    let calls_only = Scope {
        fields: vec!["calls".into()],
        phones: vec![],
    };
    for c in [
        connection("c1", Scope::default()),
        connection("c2", calls_only),
        connection("gone", Scope::default()),
    ] {
        store.add(&acme, &c, 0, 10).await.unwrap();
    }
    store
        .add(
            &TenantId::new("globex"),
            &connection("g1", Scope::default()),
            0,
            10,
        )
        .await
        .unwrap();
    poster.gone.lock().unwrap().insert("gone".into());
    let fanout = Fanout::new(store.clone(), poster.clone());
    let event = split_events(MESSAGE).unwrap().remove(0);
    assert_eq!(fanout.fan_out(&acme, &event).await, 1);
    assert_eq!(poster.frames_to("c1").len(), 1);
    assert!(poster.frames_to("c2").is_empty(), "out of its scope");
    assert!(poster.frames_to("g1").is_empty(), "another tenant's");
    assert_eq!(store.ids("acme"), ["c1", "c2"], "the gone one is forgotten");
    // An event API Gateway would refuse as a frame is not posted at all.
    let big = String::from_utf8(MESSAGE.to_vec())
        .unwrap()
        .replace("Gr\\u00fc\\u00dfe", &"x".repeat(MAX_FRAME_BYTES));
    let big = split_events(big.as_bytes()).unwrap().remove(0);
    assert!(big.item.get().len() > MAX_FRAME_BYTES);
    assert_eq!(fanout.fan_out(&acme, &big).await, 0);
    assert_eq!(poster.frames_to("c1").len(), 1);
    // Under the limit as Meta sent it (raw UTF-8), over it once escaped to ASCII: not posted
    // either; the frame is measured as it would go out.
    let raw = String::from_utf8(MESSAGE.to_vec())
        .unwrap()
        .replace("Gr\\u00fc\\u00dfe", &"\u{fc}".repeat(50_000));
    let raw = split_events(raw.as_bytes()).unwrap().remove(0);
    assert!(raw.item.get().len() < MAX_FRAME_BYTES);
    assert_eq!(fanout.fan_out(&acme, &raw).await, 0);
    assert_eq!(poster.frames_to("c1").len(), 1);
    // A store or poster down is logged, not raised.
    poster.failing.lock().unwrap().clone_from(&true);
    assert_eq!(fanout.fan_out(&acme, &event).await, 0);
    store.fail(true);
    assert_eq!(fanout.fan_out(&acme, &event).await, 0);
}

type TestForwarder = crate::bundle::PortsForwarder<crate::memory::MemoryPorts>;

fn forwarder(
    poster: &MemoryPoster,
    store: &MemoryConnections,
    script: Vec<DeliveryResult>,
) -> (TestForwarder, ScriptedSender) {
    forwarder_for(poster, store, script, true)
}

/// The forwarder over tenant acme, active or suspended.
fn forwarder_for(
    poster: &MemoryPoster,
    store: &MemoryConnections,
    script: Vec<DeliveryResult>,
    active: bool,
) -> (TestForwarder, ScriptedSender) {
    let tenants = MemoryTenants::default();
    tenants.add(
        Tenant {
            active,
            ..tenant("acme", "P")
        },
        &["P"],
        &["W"],
    );
    let sender = ScriptedSender::new(script);
    let ports = ForwardPorts {
        idempotency: MemoryIdempotency::default(),
        tenants,
        messages: MemoryMessages::default(),
        sender: sender.clone(),
        parking: MemoryParking::default(),
        health: MemoryHealth::default(),
    };
    let fanout = Arc::new(Fanout::new(store.clone(), poster.clone()));
    (
        Forwarder::new(ports, ForwardConfig::default()).with_realtime(fanout),
        sender,
    )
}

#[tokio::test]
async fn the_forwarder_posts_each_event_once_beside_its_webhook() {
    let (poster, store) = (MemoryPoster::default(), MemoryConnections::default());
    let acme = TenantId::new("acme");
    store
        .add(&acme, &connection("c1", Scope::default()), 0, 10)
        .await
        .unwrap();
    let failing = DeliveryResult::Failed {
        kind: FailureKind::Failed,
        status: Some(500),
        retry_after: None,
        reason: "500".into(),
    };
    let ok = DeliveryResult::Delivered { status: 200 };
    let (f, sender) = forwarder(&poster, &store, vec![failing, ok]);
    let event = split_events(MESSAGE).unwrap().remove(0);
    assert!(matches!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Retry { .. }
    ));
    // The retry delivers the webhook; the frame went out with the first attempt only.
    assert_eq!(
        f.forward(&event, None, 200, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(
        f.forward(&event, None, 300, 0.5).await.unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
    let frames = poster.frames_to("c1");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["event_id"], "wamid.M1");
}

#[tokio::test]
async fn webhook_delivery_is_unaffected_when_every_post_fails() {
    let (poster, store) = (MemoryPoster::default(), MemoryConnections::default());
    store
        .add(
            &TenantId::new("acme"),
            &connection("c1", Scope::default()),
            0,
            10,
        )
        .await
        .unwrap();
    *poster.failing.lock().unwrap() = true;
    let (f, sender) = forwarder(
        &poster,
        &store,
        vec![DeliveryResult::Delivered { status: 200 }],
    );
    let event = split_events(STATUS).unwrap().remove(0);
    assert_eq!(
        f.forward(&event, None, 100, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    store.fail(true);
    let other = split_events(MESSAGE).unwrap().remove(0);
    assert_eq!(
        f.forward(&other, None, 100, 0.5).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_suspended_tenant_gets_no_frames_and_cannot_connect() {
    let (poster, store) = (MemoryPoster::default(), MemoryConnections::default());
    let acme = TenantId::new("acme");
    store
        .add(&acme, &connection("c1", Scope::default()), 0, 10)
        .await
        .unwrap();
    let ok = DeliveryResult::Delivered { status: 200 };
    // The control: active, the connection gets the event.
    let (f, _) = forwarder_for(&poster, &store, vec![ok.clone()], true);
    let event = split_events(MESSAGE).unwrap().remove(0);
    f.forward(&event, None, 100, 0.5).await.unwrap();
    assert_eq!(poster.frames_to("c1").len(), 1);
    // Suspended: the event waits (as its webhook does), and no frame goes out.
    let (f, sender) = forwarder_for(&poster, &store, vec![ok], false);
    let other = split_events(STATUS).unwrap().remove(0);
    assert!(matches!(
        f.forward(&other, None, 100, 0.5).await.unwrap(),
        Outcome::Retry { .. }
    ));
    assert_eq!(sender.sent.lock().unwrap().len(), 0);
    assert_eq!(poster.frames_to("c1").len(), 1, "no frame while suspended");

    // And a suspended tenant's token does not connect.
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    let key = MemoryTokenKey::default();
    let rt = RealtimeService::new(
        tenants.clone(),
        MemoryConnections::default(),
        key,
        "wss://rt.example/prod",
    );
    let active = tenants.tenant(&acme).await.unwrap().unwrap();
    let request = TokenRequest::parse(b"{}").unwrap();
    let token = token_of(&rt.token(&active, &request, 1_000, "n").await.unwrap());
    rt.connect(Some(&token), &ConnectionId::new("c2"), 1_000)
        .await
        .expect("the control: active, it connects");
    tenants.add(
        Tenant {
            active: false,
            ..tenant("acme", "P")
        },
        &["P"],
        &["W"],
    );
    assert!(matches!(
        rt.connect(Some(&token), &ConnectionId::new("c3"), 1_000)
            .await,
        Err(Refusal::UnknownTenant)
    ));
}
