//! The Graph-compatible routes: which path shapes the gateway serves and the id each acts on
//! (the table the pass-through and the isolation tests walk).

use crate::Error;
use crate::ports::{HttpMethod, OwnerKind};

/// A Graph object's id as a tenant names it (`ids::numeric`: digits, no leading zero).
pub(crate) fn numeric_id(id: &str, what: &'static str) -> Result<String, Error> {
    Ok(crate::ids::numeric(id, what)?)
}

/// What a rule does once the tenant's ownership of the path's object is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A message send: the gateway's `callback_url` taken out, the message recorded.
    Send,
    /// A media upload: the id Meta answers with becomes the tenant's media.
    Upload,
    /// A list or a create: the ids Meta answers with (`data[].id`, `id`) become the tenant's.
    Learn(OwnerKind),
    /// `GET /{id}`: Meta's answer, with a media `url` pointed at the gateway's download route.
    Describe,
    /// Meta's answer, unchanged.
    Forward,
    /// Never forwarded: the call would take events away from the gateway or reach beyond the
    /// tenant. The reason is the error's message.
    Refuse(&'static str),
}

/// One shape of the Graph-compatible surface: `/{version}/{id}/{tail...}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub methods: &'static [HttpMethod],
    /// The segments after the id; `"{code}"` stands for one numeric id.
    pub tail: &'static [&'static str],
    /// What the id may be, in the order they are looked up; the tenant must own it.
    pub subjects: &'static [OwnerKind],
    pub action: Action,
}

use HttpMethod::{Delete as D, Get as G, Post as P};
use OwnerKind::{Flow, Media, Phone, Template, Waba};

const TAKES_WEBHOOKS: &str = "subscribing apps or overriding the callback would move this account's webhooks away from the gateway; the operator subscribes the app once (docs/OPERATIONS.md)";
const APP_LEVEL: &str = "app-level calls belong to the operator, not to a tenant";

/// The Graph-compatible surface, as data; docs/API.md lists it. The first rule whose method
/// and tail match wins.
pub const ROUTES: &[Rule] = &[
    rule(&[P], &["messages"], &[Phone], Action::Send),
    rule(&[P], &["marketing_messages"], &[Phone], Action::Send),
    rule(&[P], &["media"], &[Phone], Action::Upload),
    rule(
        &[G, P],
        &["whatsapp_business_profile"],
        &[Phone],
        Action::Forward,
    ),
    rule(&[P], &["register"], &[Phone], Action::Forward),
    rule(&[P], &["deregister"], &[Phone], Action::Forward),
    rule(&[P], &["request_code"], &[Phone], Action::Forward),
    rule(&[P], &["verify_code"], &[Phone], Action::Forward),
    rule(&[G, P], &["settings"], &[Phone], Action::Forward),
    rule(
        &[P],
        &["conversational_automation"],
        &[Phone],
        Action::Forward,
    ),
    rule(
        &[G, P],
        &["whatsapp_commerce_settings"],
        &[Phone],
        Action::Forward,
    ),
    rule(
        &[G, P],
        &["whatsapp_business_encryption"],
        &[Phone],
        Action::Forward,
    ),
    rule(&[G, P], &["message_qrdls"], &[Phone], Action::Forward),
    rule(
        &[G, P, D],
        &["message_qrdls", "{code}"],
        &[Phone],
        Action::Forward,
    ),
    rule(&[G, P, D], &["block_users"], &[Phone], Action::Forward),
    rule(&[P], &["calls"], &[Phone], Action::Forward),
    rule(&[G, P], &["call_permissions"], &[Phone], Action::Forward),
    rule(
        &[G, P, D],
        &["message_templates"],
        &[Waba],
        Action::Learn(Template),
    ),
    rule(&[G], &["phone_numbers"], &[Waba], Action::Forward),
    rule(&[G, P], &["flows"], &[Waba], Action::Learn(Flow)),
    rule(&[G], &["subscribed_apps"], &[Waba], Action::Forward),
    rule(
        &[P, D],
        &["subscribed_apps"],
        &[Waba],
        Action::Refuse(TAKES_WEBHOOKS),
    ),
    rule(
        &[G, P, D],
        &["subscriptions"],
        &[],
        Action::Refuse(APP_LEVEL),
    ),
    rule(&[G, P], &["assets"], &[Flow], Action::Forward),
    rule(&[P], &["publish"], &[Flow], Action::Forward),
    rule(&[P], &["deprecate"], &[Flow], Action::Forward),
    rule(
        &[G],
        &[],
        &[Media, Template, Flow, Phone, Waba],
        Action::Describe,
    ),
    // `POST /{phone}` with `webhook_configuration` is refused by the service (TAKES_WEBHOOKS).
    rule(&[P], &[], &[Template, Flow, Phone], Action::Forward),
    rule(&[D], &[], &[Media, Flow], Action::Forward),
];

const fn rule(
    methods: &'static [HttpMethod],
    tail: &'static [&'static str],
    subjects: &'static [OwnerKind],
    action: Action,
) -> Rule {
    Rule {
        methods,
        tail,
        subjects,
        action,
    }
}

pub(crate) const WEBHOOK_OVERRIDE_REFUSED: &str = TAKES_WEBHOOKS;

/// A request on the Graph-compatible surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRoute {
    /// The path's version segment (`v23.0`); `None` for a versionless path, which Graph
    /// accepts and the gateway sends with its own version.
    pub version: Option<String>,
    /// The object the path acts on: always numeric.
    pub id: String,
    /// The segments after the id, as sent (checked against the rule).
    pub tail: Vec<String>,
    pub rule: &'static Rule,
}

fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
}

impl GraphRoute {
    /// `method` and the path (`/v23.0/<id>/messages` or `/<id>/messages`) to a route.
    pub fn parse(method: HttpMethod, path: &str) -> Result<GraphRoute, Error> {
        let not_found = || {
            Error::NotFound("unknown route: docs/API.md lists the Graph routes the gateway serves")
        };
        let mut segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let version = match segments.first() {
            Some(first) if is_version(first) => Some(segments.remove(0).to_owned()),
            _ => None,
        };
        let (id, tail) = segments
            .split_first()
            .filter(|(id, _)| !id.is_empty())
            .ok_or_else(not_found)?;
        // A trailing slash (`/message_qrdls/`, as one SDK sends it) is the same path.
        let tail: Vec<&str> = tail.iter().copied().filter(|s| !s.is_empty()).collect();
        let shape_matches = |rule: &Rule| {
            rule.tail.len() == tail.len()
                && rule
                    .tail
                    .iter()
                    .zip(&tail)
                    .all(|(want, got)| *want == "{code}" || want == got)
        };
        let shapes: Vec<&'static Rule> = ROUTES.iter().filter(|r| shape_matches(r)).collect();
        if shapes.is_empty() {
            return Err(not_found());
        }
        let rule = shapes
            .into_iter()
            .find(|r| r.methods.contains(&method))
            .ok_or_else(not_found)?;
        let id = numeric_id(id, "id")?;
        for (want, got) in rule.tail.iter().zip(&tail) {
            if *want == "{code}" {
                code_id(got)?;
            }
        }
        Ok(GraphRoute {
            version,
            id,
            tail: tail.iter().map(|s| s.to_string()).collect(),
            rule,
        })
    }

    /// The path Meta is sent: the version given (or `default_version`), the id, the tail.
    pub fn meta_path(&self, default_version: &str) -> String {
        let version = self.version.as_deref().unwrap_or(default_version);
        let mut path = format!("/{version}/{}", self.id);
        for segment in &self.tail {
            path.push('/');
            path.push_str(segment);
        }
        path
    }
}

/// A QR code id: letters and digits (Meta's codes are short alphanumeric strings).
fn code_id(code: &str) -> Result<(), Error> {
    if !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_id",
            "code",
            "a QR code id must be letters and digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(method: HttpMethod, path: &str) -> (Option<String>, String, Action, String) {
        let r = GraphRoute::parse(method, path).unwrap();
        let meta = r.meta_path("v99.0");
        (r.version, r.id, r.rule.action, meta)
    }

    #[test]
    fn graph_routes_parse_with_or_without_a_version_and_ids_must_be_numeric() {
        use HttpMethod::*;
        assert_eq!(
            parsed(Post, "/v23.0/123/messages"),
            (
                Some("v23.0".into()),
                "123".into(),
                Action::Send,
                "/v23.0/123/messages".into()
            )
        );
        assert_eq!(
            parsed(Post, "/123/block_users"),
            (
                None,
                "123".into(),
                Action::Forward,
                "/v99.0/123/block_users".into()
            )
        );
        assert_eq!(
            parsed(Get, "/v21.0/9/message_templates").2,
            Action::Learn(OwnerKind::Template)
        );
        assert_eq!(parsed(Get, "/v21.0/9").2, Action::Describe);
        assert_eq!(parsed(Post, "/v21.0/9/media").2, Action::Upload);
        assert_eq!(
            parsed(Get, "/v21.0/9/message_qrdls/").3,
            "/v21.0/9/message_qrdls"
        );
        assert_eq!(
            parsed(Delete, "/v21.0/9/message_qrdls/ABC123").3,
            "/v21.0/9/message_qrdls/ABC123"
        );
        assert!(matches!(
            parsed(Post, "/v21.0/9/subscribed_apps").2,
            Action::Refuse(_)
        ));
        assert_eq!(parsed(Get, "/v21.0/9/subscribed_apps").2, Action::Forward);
        for (method, path, status) in [
            (Get, "/v21.0/..%2F..%2Fme/messages", 404),
            (Post, "/v21.0/abc/messages", 400),
            (Post, "/me/messages", 400),
            (Get, "/v21.0/9/messages", 404),
            (Post, "/v21.0/9/unknown_edge", 404),
            (Post, "/latest/9/messages", 404),
            (Post, "/v.0/9/messages", 404),
            (Post, "/v23./9/messages", 404),
            (Post, "/vab.c/9/messages", 404),
            (Get, "/v21.0/9/message_qrdls/../x", 404),
            (Delete, "/v21.0/9/message_qrdls/a%2Fb", 400),
            (Get, "/", 404),
        ] {
            assert_eq!(
                GraphRoute::parse(method, path).unwrap_err().status(),
                status,
                "{method:?} {path}"
            );
        }
    }

    #[test]
    fn every_rule_is_reachable_and_names_what_it_acts_on() {
        for (i, rule) in ROUTES.iter().enumerate() {
            let earlier = ROUTES[..i]
                .iter()
                .any(|r| r.tail == rule.tail && r.methods.iter().any(|m| rule.methods.contains(m)));
            assert!(!earlier, "rule {i} ({:?}) is shadowed", rule.tail);
            let refused = matches!(rule.action, Action::Refuse(_));
            assert!(
                refused || !rule.subjects.is_empty(),
                "rule {i} checks no owner"
            );
        }
    }
}
