//! The Academy's sign-in page refuses what is not a sign-in, the same way every time: the
//! link-not-valid page, and nothing spent or written.

use crate::harness::for_each_backend;
use axum::body::Body;
use axum::http::{Request, StatusCode};

fn is_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

#[tokio::test]
async fn a_sign_in_post_that_is_not_the_form_gets_the_link_not_valid_page() {
    for_each_backend(|app| async move {
        let bodies: [(&str, Vec<u8>); 4] = [
            ("application/json", br#"{"token":"x"}"#.to_vec()),
            (
                "application/x-www-form-urlencoded",
                b"token=%ZZ&token=2".to_vec(),
            ),
            ("application/x-www-form-urlencoded", vec![b'a'; 100_000]),
            (
                "application/x-www-form-urlencoded",
                b"token=unknown-token".to_vec(),
            ),
        ];
        for (content_type, body) in bodies {
            let request = Request::post("/academy/sign-in")
                .header("content-type", content_type)
                .body(Body::from(body))
                .unwrap();
            let (status, headers, _) = app.send(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type}");
            assert!(is_html(&headers), "{content_type}: {headers:?}");
            assert!(headers.get("set-cookie").is_none());
        }
        let (_, events) = app.get("/api/events").await;
        assert_eq!(events["events"].as_array().map(Vec::len), Some(0));
        app
    })
    .await;
}

#[tokio::test]
async fn the_sign_in_page_without_a_readable_token_is_the_link_not_valid_page() {
    for_each_backend(|app| async move {
        for uri in [
            "/academy/sign-in",
            "/academy/sign-in?token=",
            "/academy/sign-in?token=a&token=b",
        ] {
            let request = Request::get(uri).body(Body::empty()).unwrap();
            let (status, headers, _) = app.send(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(is_html(&headers), "{uri}");
        }
        app
    })
    .await;
}

#[tokio::test]
async fn a_new_link_request_that_is_not_the_form_asks_again_and_logs_nothing() {
    for_each_backend(|app| async move {
        let bodies: [(&str, Vec<u8>); 5] = [
            ("application/json", br#"{"email":"ann@acme.test"}"#.to_vec()),
            ("application/x-www-form-urlencoded", b"email=%ZZ".to_vec()),
            (
                "application/x-www-form-urlencoded",
                b"mail=ann@acme.test".to_vec(),
            ),
            ("application/x-www-form-urlencoded", b"email=ann".to_vec()),
            ("application/x-www-form-urlencoded", vec![b'a'; 100_000]),
        ];
        for (content_type, body) in bodies {
            let request = Request::post("/academy/sign-in/new")
                .header("content-type", content_type)
                .body(Body::from(body))
                .unwrap();
            let (status, headers, _) = app.send(request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type}");
            assert!(is_html(&headers), "{content_type}: {headers:?}");
        }
        let (_, events) = app.get("/api/events").await;
        assert_eq!(events["events"].as_array().map(Vec::len), Some(0));
        app
    })
    .await;
}
