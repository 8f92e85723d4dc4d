use super::*;
use crate::http::graph_route::Action;

fn tenant(method: &str, path: &str) -> Result<TenantRoute, Error> {
    match Route::parse(method, path)? {
        Route::Tenant(p) => p.resolve(),
        Route::Webhook(call) => panic!("{path} read as the webhook ({call:?})"),
    }
}

#[test]
fn the_webhook_path_takes_any_method_and_says_which() {
    assert_eq!(
        Route::parse("GET", "/webhook").unwrap(),
        Route::Webhook(WebhookCall::Verify)
    );
    assert_eq!(
        Route::parse("POST", "/webhook").unwrap(),
        Route::Webhook(WebhookCall::Ingest)
    );
    for method in ["PUT", "DELETE", "PATCH", "HEAD", "get"] {
        assert_eq!(
            Route::parse(method, "/webhook").unwrap(),
            Route::Webhook(WebhookCall::OtherMethod),
            "{method}"
        );
    }
    // Only the exact path: anything else is a tenant's path.
    for path in ["/webhook/", "/webhooks", "/Webhook", "/v1/webhook"] {
        assert!(matches!(
            Route::parse("GET", path).unwrap(),
            Route::Tenant(_)
        ));
    }
}

#[test]
fn a_method_no_route_takes_is_refused_before_any_id_is_read() {
    for method in ["PUT", "PATCH", "HEAD", "OPTIONS", "get", ""] {
        let err = Route::parse(method, "/v1/messages/%FF").unwrap_err();
        assert_eq!(err.status(), 404, "{method}");
    }
    // An id is read only on resolve: parse alone never refuses one.
    assert!(Route::parse("GET", "/v1/messages/%FF").is_ok());
}

#[test]
fn every_v1_route_resolves_and_reads_its_id() {
    use TenantRoute::*;
    assert_eq!(tenant("POST", "/v1/messages").unwrap(), SendSimple);
    assert_eq!(
        tenant("GET", "/v1/messages/wamid.HBg%3D").unwrap(),
        MessageStatus(Wamid::from_meta("wamid.HBg="))
    );
    assert_eq!(tenant("GET", "/v1/events").unwrap(), Events);
    assert_eq!(tenant("POST", "/v1/events/recover").unwrap(), Recover);
    assert_eq!(
        tenant("GET", "/v1/events/ev%2D1").unwrap(),
        Event("ev-1".into())
    );
    assert_eq!(
        tenant("POST", "/v1/events/ev1/replay").unwrap(),
        Replay("ev1".into())
    );
    assert_eq!(tenant("GET", "/v1/endpoint").unwrap(), Endpoint);
    assert_eq!(
        tenant("POST", "/v1/realtime/tokens").unwrap(),
        RealtimeToken
    );
    assert_eq!(tenant("GET", "/v1/media/123").unwrap(), Media("123".into()));
}

#[test]
fn a_v1_path_with_the_wrong_method_or_shape_is_unknown() {
    for (method, path) in [
        ("GET", "/v1/messages"),
        ("POST", "/v1/messages/wamid.A"),
        ("DELETE", "/v1/events"),
        ("GET", "/v1/events/recover/x"),
        ("GET", "/v1/events/ev1/replay"),
        ("POST", "/v1/endpoint"),
        ("GET", "/v1/realtime/tokens"),
        ("GET", "/v1/media"),
        ("GET", "/v1/"),
    ] {
        let err = tenant(method, path).unwrap_err();
        assert_eq!(err.status(), 404, "{method} {path}");
    }
}

#[test]
fn ids_a_tenant_sends_are_refused_naming_the_field() {
    let bad_wamid = tenant("GET", "/v1/messages/wamid.%3Cb%3E").unwrap_err();
    assert_eq!(bad_wamid.status(), 400);
    assert_eq!(bad_wamid.code(), "invalid_id");
    assert!(bad_wamid.to_string().contains("`wamid`"), "{bad_wamid}");
    // An empty wamid is a wamid refused, as before the router.
    assert_eq!(tenant("GET", "/v1/messages/").unwrap_err().status(), 400);
    let long = format!("/v1/messages/{}", "A".repeat(257));
    assert_eq!(tenant("GET", &long).unwrap_err().status(), 400);
    assert!(tenant("GET", &format!("/v1/messages/{}", "A".repeat(256))).is_ok());
    for path in [
        "/v1/events/%FF",
        "/v1/media/%C3%28",
        "/v1/events/%FF/replay",
    ] {
        let method = if path.ends_with("replay") {
            "POST"
        } else {
            "GET"
        };
        let err = tenant(method, path).unwrap_err();
        assert_eq!((err.status(), err.code()), (400, "invalid_id"), "{path}");
    }
}

#[test]
fn other_paths_are_graph_routes_answered_in_metas_shape() {
    let Route::Tenant(path) = Route::parse("POST", "/v23.0/123/messages").unwrap() else {
        panic!("not a tenant path");
    };
    assert!(path.graph_shaped());
    let TenantRoute::Graph(graph) = path.resolve().unwrap() else {
        panic!("not a Graph route");
    };
    assert_eq!(
        (graph.id.as_str(), graph.rule.action),
        ("123", Action::Send)
    );
    let Route::Tenant(v1) = Route::parse("GET", "/v1/events").unwrap() else {
        panic!("not a tenant path");
    };
    assert!(!v1.graph_shaped());
    // `/v1` without its slash is a Graph path whose id is not numeric, as before.
    assert_eq!(tenant("GET", "/v1").unwrap_err().code(), "invalid_id");
    assert_eq!(
        tenant("POST", "/v23.0/0123/messages").unwrap_err().status(),
        400
    );
}
