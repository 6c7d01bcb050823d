//! Extractors that turn bad input into the common JSON error: bodies that are too large,
//! not JSON, or of the wrong shape; missing or wrong bearer tokens; bad query strings.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use std::collections::HashMap;

/// A JSON body, parsed into a `serde_json::Value` (shape checks are the handler's).
pub struct JsonValue(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        status,
                        "too_large",
                        "the request body is larger than this endpoint accepts",
                    )
                } else {
                    ApiError::new(
                        status,
                        "bad_body",
                        format!("cannot read the request body: {rejection}"),
                    )
                }
            })?;
        parse_json(&bytes).map(JsonValue)
    }
}

/// Parses JSON, naming line and column of a syntax error.
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send JSON",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Proof that the request carries the admin bearer token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <admin token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <admin token>`")
            })?;
        if state.admin_token.matches(token) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized("the bearer token is not valid"))
        }
    }
}

/// Query-string parameters, with unknown names refused.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter `{key}` is given twice"
                )));
            }
        }
        Ok(Params(map))
    }
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode(&s.replace('+', " ")).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter `{s}` is not valid percent-encoded UTF-8"
                ))
            })
        };
        out.push((decode(key)?, decode(value)?));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Params {
    /// Refuses parameters outside `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for key in self.0.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{key}`; this endpoint takes {}",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        self.text(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "query parameter `{name}` must be an integer from {min} to {max}, not `{v}`"
                        ))
                    })
            })
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<Option<onboard_core::Timestamp>, ApiError> {
        self.text(name)
            .map(|v| {
                onboard_core::Timestamp::parse_rfc3339(v)
                    .map_err(|e| ApiError::bad_request(format!("query parameter `{name}`: {e}")))
            })
            .transpose()
    }
}
