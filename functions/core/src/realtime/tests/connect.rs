//! Tokens and connect: a token connects its own tenant until it expires, and a token request
//! names the field it gets wrong.

use super::*;

fn service(tenants: &MemoryTenants) -> TestService {
    RealtimeService::new(
        tenants.clone(),
        MemoryConnections::default(),
        MemoryTokenKey::default(),
        "wss://rt.example/prod",
    )
}

#[tokio::test]
async fn a_token_connects_its_own_tenant_until_it_expires() {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    tenants.add(tenant("globex", "Q"), &["Q"], &["X"]);
    let rt = service(&tenants);
    let acme = tenants
        .tenant(&TenantId::new("acme"))
        .await
        .unwrap()
        .unwrap();
    let request = TokenRequest::parse(br#"{"phone_numbers":["P"],"fields":["messages"]}"#).unwrap();
    // No key before the first token: nothing connects.
    let unsigned = mint(
        &Secret::new("memory-token-key"),
        &unverified_claims("acme", 2_000),
    );
    assert!(matches!(
        rt.connect(Some(&unsigned), &ConnectionId::new("c0"), 1_000)
            .await,
        Err(Refusal::Token(TokenError::BadSignature))
    ));
    let response = rt.token(&acme, &request, 1_000, "n").await.unwrap();
    assert_eq!(response.status, 201);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["expires_at"], "1970-01-01T00:21:40Z");
    assert_eq!(body["phone_numbers"], json!(["P"]));
    let token = token_of(&response);

    let id = ConnectionId::new("c1");
    let claims = rt.connect(Some(&token), &id, 1_299).await.unwrap();
    assert_eq!(claims.tenant.as_str(), "acme");
    assert_eq!(claims.scope.phones, ["P"]);
    assert!(matches!(
        rt.connect(Some(&token), &id, 1_300).await,
        Err(Refusal::Token(TokenError::Expired))
    ));
    assert!(matches!(
        rt.connect(None, &id, 1_000).await,
        Err(Refusal::NoToken)
    ));
    assert!(matches!(
        rt.connect(Some(""), &id, 1_000).await,
        Err(Refusal::NoToken)
    ));

    // Globex's claims under acme's webhook secret (a secret the tenant's systems know).
    let forged = mint(
        &Secret::new("whsec_acme"),
        &Claims {
            tenant: TenantId::new("globex"),
            ..claims.clone()
        },
    );
    assert!(matches!(
        rt.connect(Some(&forged), &id, 1_000).await,
        Err(Refusal::Token(TokenError::BadSignature))
    ));
    let unknown = mint(
        &Secret::new("memory-token-key"),
        &Claims {
            tenant: TenantId::new("nobody"),
            ..claims
        },
    );
    assert!(matches!(
        rt.connect(Some(&unknown), &id, 1_000).await,
        Err(Refusal::UnknownTenant)
    ));
    // A tenant id the gateway never makes, or a lifetime no token has: no lookup at all.
    let odd = mint(
        &Secret::new("memory-token-key"),
        &unverified_claims(&"x".repeat(3000), 2_000),
    );
    assert!(matches!(
        rt.connect(Some(&odd), &id, 1_000).await,
        Err(Refusal::Token(TokenError::Malformed))
    ));
    rt.disconnect(&id).await.unwrap();
}

#[tokio::test]
async fn token_requests_name_the_bad_field() {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    let rt = service(&tenants);
    let acme = tenants
        .tenant(&TenantId::new("acme"))
        .await
        .unwrap()
        .unwrap();
    let long: Vec<String> = (0..50).map(|n| format!("{n:0>120}")).collect();
    let too_long = json!({ "fields": long }).to_string();
    for (body, field) in [
        (br#"{"expires_in":0}"#.as_slice(), "expires_in"),
        (br#"{"expires_in":3601}"#, "expires_in"),
        (br#"{"expires_in":"60"}"#, "expires_in"),
        (br#"{"fields":"messages"}"#, "fields"),
        (br#"{"fields":[""]}"#, "fields"),
        (br#"{"phone_numbers":["Q"]}"#, "phone_numbers"),
        (br#"{"tenant":"globex"}"#, "tenant"),
        (too_long.as_bytes(), "fields"),
    ] {
        let error = match TokenRequest::parse(body) {
            Ok(request) => rt.token(&acme, &request, 0, "n").await.unwrap_err(),
            Err(e) => e,
        };
        match error {
            crate::Error::InvalidInput { field: Some(f), .. } => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(TokenRequest::parse(b"[1]").is_err());
    assert!(TokenRequest::parse(b"").is_ok());
}

#[tokio::test]
async fn a_function_holding_an_old_key_reads_the_new_one_for_a_token_that_names_it() {
    let tenants = MemoryTenants::default();
    tenants.add(tenant("acme", "P"), &["P"], &["W"]);
    let acme = tenants
        .tenant(&TenantId::new("acme"))
        .await
        .unwrap()
        .unwrap();
    let key = MemoryTokenKey::default();
    let minting = |key: MemoryTokenKey| {
        RealtimeService::new(
            tenants.clone(),
            MemoryConnections::default(),
            key,
            "wss://rt.example/prod",
        )
    };
    let sends = minting(key.clone());
    let connects = minting(key.another_function());
    let request = TokenRequest::parse(b"{}").unwrap();
    let old = token_of(&sends.token(&acme, &request, 1_000, "n1").await.unwrap());
    connects
        .connect(Some(&old), &ConnectionId::new("c1"), 1_000)
        .await
        .expect("the key it read");
    // An operator replaces the key; a function started since mints with the new one.
    key.rotate();
    let fresh_function = minting(key.another_function());
    let new = token_of(
        &fresh_function
            .token(&acme, &request, 1_000, "n2")
            .await
            .unwrap(),
    );
    // The connecting function still holds the old key: the token names another, so it
    // reads the key again instead of refusing a good token.
    connects
        .connect(Some(&new), &ConnectionId::new("c2"), 1_000)
        .await
        .expect("read again for a token naming another key");
    // A token signed with the replaced key is refused once the new one is read.
    assert!(
        connects
            .connect(Some(&old), &ConnectionId::new("c3"), 1_000)
            .await
            .is_err()
    );
}
