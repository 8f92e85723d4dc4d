//! Meta's webhook configuration: the app's subscription (`/{app-id}/subscriptions`, app access
//! token `{app-id}|{app-secret}`), verified against the callback URL before it is accepted, and
//! the WABAs' subscribed apps (`/{waba-id}/subscribed_apps`, the system user token).

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use gateway_core::signature::constant_time_eq;

use super::{APP_ID, State, json_response, meta_error, no_such_object};

/// `/{app-id}/subscriptions`: GET lists, POST subscribes after Meta's verification request.
pub(super) async fn app_subscriptions(
    state: &State,
    method: &str,
    app_id: &str,
    token: &str,
    body: &[u8],
) -> Response<Body> {
    if app_id != APP_ID {
        return no_such_object(&method.to_lowercase(), app_id);
    }
    let expected = format!("{app_id}|{}", state.app_secret.expose());
    if !constant_time_eq(token, &expected) {
        return meta_error(
            400,
            190,
            "Invalid OAuth access token signature (an app access token is required).",
            None,
        );
    }
    match method {
        "GET" => {
            let data: Vec<Value> = state
                .app_subscription
                .lock()
                .unwrap()
                .iter()
                .cloned()
                .collect();
            json_response(200, json!({"data": data}))
        }
        "POST" => {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(body).into_owned().collect();
            let field = |k: &str| form.get(k).cloned().unwrap_or_default();
            if field("object") != "whatsapp_business_account" {
                return meta_error(
                    400,
                    100,
                    "(#100) Param object must be one of {whatsapp_business_account, page, user, ...}",
                    None,
                );
            }
            let callback = field("callback_url");
            if let Err(why) = verify_callback(state, &callback, &field("verify_token")).await {
                return meta_error(
                    400,
                    2200,
                    &format!(
                        "(#2200) Callback verification failed with the following errors: {why}"
                    ),
                    None,
                );
            }
            let fields: Vec<Value> = field("fields")
                .split(',')
                .filter(|f| !f.is_empty())
                .map(|f| json!({"name": f.trim(), "version": "v23.0"}))
                .collect();
            *state.app_subscription.lock().unwrap() = Some(json!({
                "object": "whatsapp_business_account",
                "callback_url": callback,
                "active": true,
                "fields": fields,
            }));
            // As at Meta, the app's webhooks (status updates included) now go to the callback.
            *state.webhook_url.lock().unwrap() = Some(callback);
            json_response(200, json!({"success": true}))
        }
        _ => meta_error(400, 100, "Unsupported request", None),
    }
}

/// Meta's verification request: GET with hub.mode, hub.challenge and hub.verify_token; the
/// callback must answer 200 with the challenge as its body.
async fn verify_callback(state: &State, callback: &str, verify_token: &str) -> Result<(), String> {
    let challenge = "1158201444";
    let url = url::Url::parse_with_params(
        callback,
        &[
            ("hub.mode", "subscribe"),
            ("hub.challenge", challenge),
            ("hub.verify_token", verify_token),
        ],
    )
    .map_err(|_| "Invalid callback URL".to_owned())?;
    let answer = state
        .http
        .get(url)
        .send()
        .await
        .map_err(|_| "Couldn't connect to server".to_owned())?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.as_u16() != 200 {
        return Err(format!(
            "HTTP Status Code = {}; HTTP Message = {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
    }
    if body != challenge {
        return Err(format!(
            "The URL couldn't be validated. Response does not match challenge, expected value=\"{challenge}\", received=\"{body}\""
        ));
    }
    Ok(())
}

/// `/{waba-id}/subscribed_apps`: GET lists the apps, POST subscribes the token's app.
pub(super) fn subscribed_apps(state: &State, method: &str, waba: &str) -> Response<Body> {
    if !state.templates.lock().unwrap().contains_key(waba) {
        return no_such_object(&method.to_lowercase(), waba);
    }
    match method {
        "POST" => {
            state
                .subscribed_wabas
                .lock()
                .unwrap()
                .insert(waba.to_owned());
            json_response(200, json!({"success": true}))
        }
        "GET" => {
            let subscribed = state.subscribed_wabas.lock().unwrap().contains(waba);
            let data: Vec<Value> = subscribed
                .then(|| json!({"whatsapp_business_api_data": {"link": format!("https://www.facebook.com/games/?app_id={APP_ID}"), "name": "Gateway Test App", "id": APP_ID}}))
                .into_iter()
                .collect();
            json_response(200, json!({"data": data}))
        }
        _ => meta_error(400, 100, "Unsupported request", None),
    }
}
