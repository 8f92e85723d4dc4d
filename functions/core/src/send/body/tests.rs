//! The body reader: what it reads, and every spelling it refuses.

use super::*;

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn text(params: &BodyParams, key: &str) -> Option<String> {
    match params.get(key) {
        Some(Param::Value(Value::String(s))) => Some(s.clone()),
        Some(Param::Value(v)) => Some(v.to_string()),
        _ => None,
    }
}

fn refused(content_type: Option<&str>, body: &[u8]) -> String {
    match BodyParams::read(content_type, body) {
        Ok(p) => panic!(
            "{content_type:?} {:?} was read: {p:?}",
            String::from_utf8_lossy(body)
        ),
        Err(e) => {
            assert_eq!(e.status(), 400, "{e}");
            e.to_string()
        }
    }
}

#[test]
fn json_forms_and_multipart_are_read_as_the_same_parameters() {
    let json =
        BodyParams::read(JSON, br#"{"name":"copy","clone_flow_id":"8002","n":8003}"#).unwrap();
    assert_eq!(text(&json, "clone_flow_id").as_deref(), Some("8002"));
    assert_eq!(text(&json, "n").as_deref(), Some("8003"));
    // Escapes are decoded before anything is compared.
    let escaped = BodyParams::read(JSON, br#"{"webhook\u005fconfiguration":{}}"#).unwrap();
    assert!(escaped.get("webhook_configuration").is_some());
    let form = BodyParams::read(
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        b"name=a+b&webhook%5Fconfiguration=%7B%7D",
    )
    .unwrap();
    assert_eq!(text(&form, "name").as_deref(), Some("a b"));
    assert!(form.get("webhook_configuration").is_some());
    let multipart = BodyParams::read(
        Some("multipart/form-data; boundary=\"xyz\""),
        b"--xyz\r\nContent-Disposition: form-data; name=\"hsm_id\"\r\n\r\n8001\r\n--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\xff\r\n--xyz--\r\n",
    )
    .unwrap();
    assert_eq!(text(&multipart, "hsm_id").as_deref(), Some("8001"));
    assert_eq!(multipart.get("file"), Some(&Param::File));
    // Keys compare without case.
    assert!(multipart.get("HSM_ID").is_some());
    // Quoted filenames may hold `;` and escapes, as SDKs write them; the part is a file.
    let upload = BodyParams::read(
        Some("multipart/form-data; boundary=----formdata-undici-0123"),
        b"------formdata-undici-0123\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report; Q3 \\\\ final.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n------formdata-undici-0123\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n------formdata-undici-0123--",
    )
    .unwrap();
    assert_eq!(upload.get("file"), Some(&Param::File));
    assert_eq!(
        text(&upload, "messaging_product").as_deref(),
        Some("whatsapp")
    );
    // A boundary that holds the word is still one boundary.
    let named = BodyParams::read(
        Some("multipart/form-data; boundary=gatewayboundary"),
        b"--gatewayboundary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--gatewayboundary--",
    )
    .unwrap();
    assert_eq!(text(&named, "a").as_deref(), Some("1"));
    assert_eq!(BodyParams::read(None, b"").unwrap(), BodyParams::default());
    assert_eq!(
        BodyParams::read(Some("text/plain"), b"").unwrap(),
        BodyParams::default()
    );
}

#[test]
fn a_body_the_gateway_cannot_read_with_certainty_is_refused() {
    let mp = Some("multipart/form-data; boundary=b");
    let cases: Vec<(Option<&str>, &[u8])> = vec![
        // JSON: a byte-order mark, a key twice (also spelt differently, or nested), not an
        // object, trailing bytes, a key Meta may read as another.
        (JSON, b"\xEF\xBB\xBF{\"hsm_id\":\"1\"}"),
        (JSON, br#"{"hsm_id":"1","hsm_id":"2"}"#),
        (JSON, br#"{"hsm_id":"1","hsm\u005fid":"2"}"#),
        (JSON, br#"{"hsm_id":"1","HSM_ID":"2"}"#),
        (JSON, br#"{"a":{"b":1,"b":2}}"#),
        (JSON, br#"[{"hsm_id":"1"}]"#),
        (JSON, br#""hsm_id""#),
        (JSON, br#"{"hsm_id":"1"} {"hsm_id":"2"}"#),
        (JSON, br#"{"hsm_id[]":"1"}"#),
        (JSON, br#"{"a.b":"1"}"#),
        (JSON, b"hsm_id=1"),
        (Some("application/json; charset=utf-16"), br#"{"a":1}"#),
        // No or another content type, for bytes that have a meaning.
        (None, br#"{"hsm_id":"1"}"#),
        (Some("text/plain"), br#"{"hsm_id":"1"}"#),
        (Some("application/x-json"), br#"{"hsm_id":"1"}"#),
        // Forms: JSON bytes, a key twice (however encoded), nested keys, bad escapes, raw
        // non-ASCII, a BOM.
        (FORM, br#"{"hsm_id":"1"}"#),
        (FORM, b"hsm_id=1&hsm_id=2"),
        (FORM, b"hsm_id=1&hsm%5Fid=2"),
        (FORM, b"hsm_id=1&HSM_ID=2"),
        (FORM, b"webhook_configuration[override_callback_uri]=x"),
        (FORM, b"hsm_id=%zz"),
        (FORM, b"hsm_id=%"),
        (FORM, "name=\u{e4}".as_bytes()),
        (FORM, b"\xEF\xBB\xBFhsm_id=1"),
        (FORM, b"hsm_id=%FF"),
        // Multipart: no boundary, a preamble, an unclosed body, a part named twice, RFC 2231
        // names, folded headers, an unread header, text after the end.
        (Some("multipart/form-data"), b"--b\r\n"),
        (mp, b"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name*=utf-8''hsm%5Fid\r\n\r\n1\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data;\r\n name=\"hsm_id\"\r\n\r\n1\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"hsm_id\"\r\nContent-Transfer-Encoding: base64\r\n\r\nODAwMQ==\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n--b\r\nContent-Disposition: form-data; name=\"hsm_id\"\r\n\r\n1"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n1\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"a\"; name=\"hsm_id\"\r\n\r\n1\r\n--b--"),
        (Some("multipart/form-data; boundary=b; boundary=c"), b"--c\r\n"),
        // Readers that end a part at a bare LF before the boundary, split headers on a bare
        // LF, or pick the first `boundary` substring or stop it at `,` would read these
        // differently from this reader.
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nf\n--b\r\nContent-Disposition: form-data; name=\"hsm_id\"\r\n\r\n1\r\n--b--\r\n"),
        (mp, b"--b\r\nContent-Type: x\nContent-Disposition: form-data; name=\"hsm_id\"\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n1\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx--b\r\n--b--"),
        (mp, b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n\n--b\r\n\r\n--b--"),
        (Some("multipart/form-data; x=\"boundary=a\"; boundary=b"), b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--"),
        (Some("multipart/form-data; boundary=a,b"), b"--a,b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--a,b--"),
        (Some("multipart/form-data; boundary=b, multipart/form-data; boundary=c"), b"--b\r\n"),
        (Some("multipart/form-data; boundary=b; x=1"), b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--"),
        (Some("application/json; x=1"), br#"{"a":1}"#),
        (FORM, b"name=x;hsm_id=1"),
        // A boundary a case-sensitive reader finds elsewhere, spaces around `=`, escapes.
        (Some("multipart/form-data; Boundary=xboundary; charset=utf-8"), b"--xboundary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xboundary--"),
        (Some("multipart/form-data; boundary= zz"), b"--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zz--"),
        (Some("multipart/form-data; boundary =zz"), b"--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zz--"),
        (Some("multipart/form-data; boundary=\"zz\\q\""), b"--zzq\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zzq--"),
    ];
    for (content_type, body) in cases {
        refused(content_type, body);
    }
}
