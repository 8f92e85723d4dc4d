//! What an event costs, counted: `EVENTS` signed webhooks through a stack `sam deploy` created,
//! once per `WebhookEndpoint` option, with every AWS request the functions make counted on its
//! way to the emulator (scripts/count-proxy.py). The webhook function runs once per POST; the
//! forwarder's invocations (one per batch of up to 10) happen inside the emulator's event source
//! mapping, which the counter cannot see, and the emulator's CloudWatch answers JSON where the
//! SDK reads CBOR, so docs/PERFORMANCE.md prices them at both bounds. The counts per event go
//! into docs/PERFORMANCE.md.
//!
//! Runs in `make deploy-local` (EMULATOR_COUNT_REQUESTS=1); elsewhere it says SKIPPED.

use std::collections::BTreeMap;
use std::time::Duration;

use gateway_core::format::DeliveryFormat;
use gateway_tests::{
    PHONE_NUMBER_ID, Receiver, WABA_ID, http, post_webhook, skip, spawn_stack, stack_options,
    tenant_for_fixtures,
};

const EVENTS: usize = 100;

fn message(n: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Kunde"}},"wa_id":"491511111111"}}],"messages":[{{"from":"491511111111","id":"wamid.cost{n:06}","timestamp":"1700000000","type":"text","text":{{"body":"Gr\u00fc\u00dfe {n}"}}}}]}},"field":"messages"}}]}}]}}"#
    )
    .into_bytes()
}

async fn counts(counter: &str) -> BTreeMap<String, u64> {
    let answer = http().get(counter).send().await.unwrap();
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn requests_per_event_for_both_webhook_endpoints_are_counted_at_the_emulator() {
    let Ok(counter) = std::env::var("GATEWAY_REQUEST_COUNTER") else {
        skip(
            "cost::requests_per_event_for_both_webhook_endpoints_are_counted_at_the_emulator",
            "counting needs a stack sam deployed and the request counter; `make deploy-local` runs this test",
        );
        return;
    };
    for endpoint in ["HttpApi", "FunctionUrl"] {
        let mut options = stack_options(&format!("cost-{endpoint}"));
        options.template_parameters = vec![("WebhookEndpoint".into(), endpoint.into())];
        // The production cache: a warm function reads a tenant once a minute, not per event.
        options.tenant_cache = Duration::from_secs(60);
        let stack = spawn_stack(options).await;
        let name = stack.stack_name().expect("a stack sam deployed");
        let receiver = Receiver::start(vec![200]).await;
        let tenant = tenant_for_fixtures(
            &stack,
            &format!("{}/hook", receiver.url),
            DeliveryFormat::Meta,
        )
        .await;
        receiver.set_secret(&tenant.webhook_secret);
        if endpoint == "FunctionUrl" {
            assert!(
                stack.webhook_url().contains("/_aws/lambda-url/"),
                "{}",
                stack.webhook_url()
            );
        }
        // Warm both functions (their cold starts read SSM), then count from zero.
        assert_eq!(post_webhook(&stack, &message(999_999)).await.status(), 200);
        receiver.wait_for(1, Duration::from_secs(60)).await;
        receiver.clear();
        http()
            .post(format!("{counter}/reset"))
            .send()
            .await
            .unwrap();
        for n in 0..EVENTS {
            assert_eq!(post_webhook(&stack, &message(n)).await.status(), 200);
        }
        let got = receiver.wait_for(EVENTS, Duration::from_secs(120)).await;
        assert_eq!(got.len(), EVENTS, "every event delivered once");
        // The last completions and kept payloads land after the receiver's 200: wait until
        // every payload is counted and two reads a quarter second apart agree. Only this
        // stack's resources: other tests run beside this one.
        let scope = format!("{counter}?prefix={name}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut requests = counts(&scope).await;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = counts(&scope).await;
            let puts = now.get("dynamodb:PutItem").copied().unwrap_or(0) as usize;
            if now == requests && puts >= EVENTS {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the counts never settled: {now:?}"
            );
            requests = now;
        }
        let per_event = |n: f64| n / EVENTS as f64;
        let mut line = format!("cost: WebhookEndpoint={endpoint} events={EVENTS}");
        for (action, n) in &requests {
            line += &format!(" {action}={:.2}", per_event(*n as f64));
        }
        println!("{line}");
        // What the design promises per event: one queue write, no SSM read once warm, one
        // claim and one completion in the idempotency table at most, one kept payload
        // (EventRetentionDays), no tenant read while the cache holds it and an endpoint
        // health read at most once a second per function, and one Query of the tenant's live
        // WebSocket connections.
        let sqs_sends = requests.get("sqs:SendMessageBatch").copied().unwrap_or(0)
            + requests.get("sqs:SendMessage").copied().unwrap_or(0);
        assert_eq!(sqs_sends as usize, EVENTS, "{requests:?}");
        assert_eq!(requests.get("ssm:GetParameter"), None, "{requests:?}");
        let count = |action: &str| requests.get(action).copied().unwrap_or(0) as usize;
        assert!(count("dynamodb:UpdateItem") <= 2 * EVENTS, "{requests:?}");
        assert_eq!(count("dynamodb:PutItem"), EVENTS, "{requests:?}");
        // Health is read at most once a second per warm forwarder (0.30 per event in the run
        // docs/PERFORMANCE.md quotes: the emulator's mapping keeps several warm).
        assert!(count("dynamodb:GetItem") <= EVENTS / 2, "{requests:?}");
        // Every delivery succeeded: no retry was scheduled (the forwarder schedules retries
        // with the batch form; the single form is named too, in case a change brings it).
        assert_eq!(count("sqs:ChangeMessageVisibilityBatch"), 0, "{requests:?}");
        assert_eq!(count("sqs:ChangeMessageVisibility"), 0, "{requests:?}");
        // The real-time side: one listing of the tenant's live connections per event.
        assert_eq!(count("dynamodb:Query"), EVENTS, "{requests:?}");
    }
}
