//! The Graph-compatible routes: which path shapes the gateway serves and the id each acts on.

use crate::Error;
use crate::ports::HttpMethod;

/// Digits only: Meta's ids are numeric, and nothing else may reach a path or a table key.
pub(crate) fn numeric_id(id: &str, what: &str) -> Result<String, Error> {
    if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(Error::invalid(
            "invalid_id",
            what,
            format!("`{what}` must be a numeric id"),
        ))
    }
}

/// The Graph-compatible routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphRoute {
    Messages { phone_number_id: String },
    Templates { waba_id: String },
    TemplateEdit { template_id: String },
    MediaUpload { phone_number_id: String },
    Media { media_id: String },
}

impl GraphRoute {
    /// `method` and the path (`/v23.0/<id>/messages`) to a route, with the version.
    pub fn parse(method: HttpMethod, path: &str) -> Result<(String, GraphRoute), Error> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let not_found = || Error::NotFound("unknown route");
        let version = *segments.first().ok_or_else(not_found)?;
        let valid_version = version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
            });
        if !valid_version {
            return Err(not_found());
        }
        use HttpMethod::*;
        let route = match (method, &segments[1..]) {
            (Post, [id, "messages"]) => GraphRoute::Messages {
                phone_number_id: numeric_id(id, "phone_number_id")?,
            },
            (Get | Post | Delete, [id, "message_templates"]) => GraphRoute::Templates {
                waba_id: numeric_id(id, "waba_id")?,
            },
            (Post, [id, "media"]) => GraphRoute::MediaUpload {
                phone_number_id: numeric_id(id, "phone_number_id")?,
            },
            (Post, [id]) => GraphRoute::TemplateEdit {
                template_id: numeric_id(id, "template_id")?,
            },
            (Get | Delete, [id]) => GraphRoute::Media {
                media_id: numeric_id(id, "media_id")?,
            },
            _ => return Err(not_found()),
        };
        Ok((version.to_owned(), route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_routes_parse_and_ids_must_be_numeric() {
        use HttpMethod::*;
        assert_eq!(
            GraphRoute::parse(Post, "/v23.0/123/messages").unwrap(),
            (
                "v23.0".into(),
                GraphRoute::Messages {
                    phone_number_id: "123".into()
                }
            )
        );
        assert_eq!(
            GraphRoute::parse(Delete, "/v21.0/9/message_templates")
                .unwrap()
                .1,
            GraphRoute::Templates {
                waba_id: "9".into()
            }
        );
        assert_eq!(
            GraphRoute::parse(Post, "/v21.0/9").unwrap().1,
            GraphRoute::TemplateEdit {
                template_id: "9".into()
            }
        );
        assert_eq!(
            GraphRoute::parse(Get, "/v21.0/9").unwrap().1,
            GraphRoute::Media {
                media_id: "9".into()
            }
        );
        assert_eq!(
            GraphRoute::parse(Post, "/v21.0/9/media").unwrap().1,
            GraphRoute::MediaUpload {
                phone_number_id: "9".into()
            }
        );
        for (method, path, status) in [
            (Get, "/v21.0/..%2F..%2Fme/messages", 404),
            (Post, "/v21.0/abc/messages", 400),
            (Get, "/v21.0/9/messages", 404),
            (Post, "/latest/9/messages", 404),
            (Post, "/v.0/9/messages", 404),
            (Post, "/v23./9/messages", 404),
            (Post, "/vab.c/9/messages", 404),
            (Post, "/v1/messages", 404),
        ] {
            assert_eq!(
                GraphRoute::parse(method, path).unwrap_err().status(),
                status,
                "{path}"
            );
        }
    }
}
