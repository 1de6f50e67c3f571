//! Reading request bodies: only the documented media types (else 415), JSON parsed with precise
//! error locations and no key given twice in one object.

use super::input::pointer;
use crate::error::{ApiError, FieldError};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// Parses the JSON body of a `POST` or `PUT`: sent as `application/json`.
pub fn parse_json(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    parse_body(headers, body, &["application/json"], None)
}

/// Parses the JSON Merge Patch body of a `PATCH`: sent as `application/merge-patch+json`
/// (RFC 7396) or `application/json`.
pub fn parse_patch(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    parse_body(
        headers,
        body,
        &["application/json", "application/merge-patch+json"],
        Some(HeaderName::from_static("accept-patch")),
    )
}

/// Parses a JSON body sent as one of `media_types`. The error says where the text broke,
/// quoting the line, because the seed documents themselves contain bodies with a trailing comma
/// and a missing quote; a key given twice in one object is refused with its JSON Pointer,
/// because "the last one wins" would let two readers of one body see two different webhooks.
/// A 415 names the accepted types, also in `advertise` (`Accept-Patch`, RFC 5789) if given.
fn parse_body(
    headers: &HeaderMap,
    body: &Bytes,
    media_types: &[&str],
    advertise: Option<HeaderName>,
) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "the request body is empty: send a JSON object",
            vec![FieldError {
                path: String::new(),
                message: "a JSON object is required".into(),
            }],
        ));
    }
    check_media_type(headers, media_types, advertise)?;
    let duplicate = RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let parsed = Strict {
        at: At::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut reader)
    .and_then(|value| reader.end().map(|()| value));
    parsed.map_err(|e| {
        if let Some(path) = duplicate.take() {
            let message = format!(
                "this key is given twice in its object (at line {}, column {}): give each key once",
                e.line(),
                e.column()
            );
            return ApiError::invalid(
                format!("the request body gives the key {path} twice"),
                vec![FieldError { path, message }],
            );
        }
        let text = String::from_utf8_lossy(body);
        let line = text
            .lines()
            .nth(e.line().saturating_sub(1))
            .unwrap_or("")
            .trim();
        let excerpt: String = line.chars().take(80).collect();
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what);
        let message = format!(
            "invalid JSON at line {}, column {}: {what} (the line reads: {excerpt})",
            e.line(),
            e.column()
        );
        ApiError::invalid(
            format!("the request body is not valid JSON: {message}"),
            vec![FieldError {
                path: String::new(),
                message,
            }],
        )
    })
}

/// 415 unless the body is declared as one of `accepted`. A missing `Content-Type` is refused
/// too, and `+json` types are accepted only where documented: a body is never guessed to be
/// JSON, so what a proxy or log classifies it as is what the service read.
fn check_media_type(
    headers: &HeaderMap,
    accepted: &[&str],
    advertise: Option<HeaderName>,
) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mime = given.as_deref().map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if let Some(mime) = &mime
        && accepted.contains(&mime.as_str())
    {
        return Ok(());
    }
    let sent = match &mime {
        Some(m) => format!("as '{m}'"),
        None => "without a Content-Type".to_owned(),
    };
    let error = ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        format!(
            "the body is sent {sent}: send JSON with Content-Type: {}",
            accepted.join(" or ")
        ),
    );
    Err(match advertise {
        Some(name) => error.with_header(name, &accepted.join(", ")),
        None => error,
    })
}

/// Where a value is in the body, kept on the stack while parsing and written out as a JSON
/// Pointer only when a duplicate key is found.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn pointer(&self) -> String {
        match self {
            At::Root => String::new(),
            At::Key(parent, key) => pointer(&parent.pointer(), key),
            At::Index(parent, i) => format!("{}/{i}", parent.pointer()),
        }
    }
}

/// Builds a [`Value`] like serde_json's own visitor, but fails on a key given twice in one
/// object (serde_json keeps the last), leaving the key's JSON Pointer in `duplicate`.
#[derive(Clone, Copy)]
struct Strict<'a> {
    at: At<'a>,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let at = At::Index(&self.at, items.len());
            let item = Strict {
                at,
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(item)? {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = At::Key(&self.at, &key);
            if members.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(at.pointer());
                return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
            }
            let value = map.next_value_seed(Strict {
                at,
                duplicate: self.duplicate,
            })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_pointer() {
        let headers = json_headers("application/json");
        let body = Bytes::from(
            r#"{"filters": [{"eventType": "a"}, {"eventType": "b", "condition": "x", "eventType": "c"}]}"#,
        );
        let err = parse_json(&headers, &body).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.field_errors()[0].path, "/filters/1/eventType");
        let body = Bytes::from(r#"{"a/b": {"~": 1, "~": 2}}"#);
        let err = parse_json(&headers, &body).unwrap_err();
        assert_eq!(err.field_errors()[0].path, "/a~1b/~0");
        // The same key in different objects is not a duplicate; values are kept as they were.
        let body = Bytes::from(r#"{"a": {"k": 1.5}, "b": {"k": [true, null, -2, "s"]}}"#);
        assert_eq!(
            parse_json(&headers, &body).unwrap(),
            serde_json::json!({"a": {"k": 1.5}, "b": {"k": [true, null, -2, "s"]}})
        );
    }

    #[test]
    fn only_the_documented_media_types_are_read() {
        let body = Bytes::from("{}");
        for (ct, json, patch) in [
            ("application/json", true, true),
            ("Application/JSON; charset=utf-8", true, true),
            ("application/merge-patch+json", false, true),
            ("application/evil+json", false, false),
            ("text/plain", false, false),
        ] {
            let headers = json_headers(ct);
            assert_eq!(parse_json(&headers, &body).is_ok(), json, "{ct}");
            assert_eq!(parse_patch(&headers, &body).is_ok(), patch, "{ct}");
        }
        let err = parse_json(&HeaderMap::new(), &body).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn json_errors_say_where() {
        let headers = json_headers("application/json");
        let body = Bytes::from(
            "{\n\"url\": \"http://x\",\n\"filters\": [\n{\n\"eventType\": \"crjob:created\",\n}\n]\n}",
        );
        let err = parse_json(&headers, &body).unwrap_err();
        let text = format!("{err:?}");
        assert!(
            text.contains("line 6, column 1") && text.contains("trailing comma"),
            "{text}"
        );
    }
}
