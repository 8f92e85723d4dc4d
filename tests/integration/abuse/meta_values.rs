//! Values from Meta the gateway reads nothing of pass through untouched.

use super::*;

#[tokio::test]
async fn unknown_fields_and_huge_numbers_from_meta_pass_through_untouched() {
    let mut options = stack_options("passthrough");
    options.forward = false;
    let stack = spawn_stack(options).await;
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","future_field":{{"a":[1,2]}},"changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"{PHONE_NUMBER_ID}"}},"messages":[{{"from":"1","id":"wamid.huge","type":"order","order":{{"total":123456789012345678901234567890.123456789,"new_thing":true}}}}]}},"field":"messages"}}]}}]}}"#
    );
    assert_eq!(post_webhook(&stack, body.as_bytes()).await.status(), 200);
    let got = stack
        .clients
        .sqs
        .receive_message()
        .queue_url(&stack.resources.events_queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let event =
        gateway_core::meta::Event::from_queue_body(got.messages.unwrap()[0].body().unwrap())
            .unwrap();
    assert!(
        event
            .item
            .get()
            .contains("123456789012345678901234567890.123456789")
    );
    assert_eq!(event.original_body.as_deref(), Some(body.as_str()));
}
