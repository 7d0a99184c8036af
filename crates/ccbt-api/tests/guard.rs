//! Every route of the route table, the fallback and a wrong method refuse requests without the
//! token, with a wrong token and with a foreign Host; with both right, the guard lets them by.

mod support;

use axum::http::StatusCode;
use ccbt_api::{Token, Verb, ROUTES};
use support::{code, request, Api, ADDR};

/// A refused request: its name, Host, Authorization, and the status and code expected.
type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, StatusCode, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_guarded() {
    let api = Api::new().await;
    let good = format!("Bearer {}", api.token.as_str());
    let wrong = format!("Bearer {}", Token::generate().as_str());
    let truncated = format!("Bearer {}", &api.token.as_str()[..63]);
    let cases: &[Case] = &[
        ("no token", Some(ADDR), None, StatusCode::UNAUTHORIZED, "missing_token"),
        ("wrong token", Some(ADDR), Some(&wrong), StatusCode::UNAUTHORIZED, "invalid_token"),
        ("token cut short", Some(ADDR), Some(&truncated), StatusCode::UNAUTHORIZED, "invalid_token"),
        ("basic auth", Some(ADDR), Some("Basic dXNlcjpwYXNz"), StatusCode::UNAUTHORIZED, "missing_token"),
        (
            "foreign host",
            Some("evil.example:6890"),
            Some(&good),
            StatusCode::MISDIRECTED_REQUEST,
            "foreign_host",
        ),
        (
            "foreign host, no token",
            Some("evil.example"),
            None,
            StatusCode::MISDIRECTED_REQUEST,
            "foreign_host",
        ),
        ("other port", Some("127.0.0.1:6891"), Some(&good), StatusCode::MISDIRECTED_REQUEST, "foreign_host"),
        ("no host", None, Some(&good), StatusCode::MISDIRECTED_REQUEST, "foreign_host"),
    ];
    // Every route of the table, plus what no table entry covers: an unknown path and a known
    // path with a method it does not take.
    let mut targets: Vec<(Verb, String)> =
        ROUTES.iter().map(|r| (r.verb, r.path.replace("{info_hash}", &"ab".repeat(20)))).collect();
    targets.push((Verb::Get, "/api/v1/nothing".into()));
    targets.push((Verb::Get, "/".into()));
    targets.push((Verb::Delete, "/api/v1/session".into()));
    assert!(targets.len() > 7, "the route table is empty");
    for (verb, path) in &targets {
        for (case, host, auth, status, expected) in cases {
            let body = (*verb == Verb::Post).then(|| "{}".to_owned());
            let (got, json) = api.send(request(*verb, path, *host, *auth, body)).await;
            assert_eq!(got, *status, "{} {path} with {case}: {json}", verb.as_str());
            assert_eq!(code(&json), *expected, "{} {path} with {case}", verb.as_str());
        }
        // The right token on the right host (or localhost) gets past the guard. Only the
        // status is read: the event stream's body never ends.
        for host in [ADDR, "localhost:6890"] {
            let got = api.open(request(*verb, path, Some(host), Some(&good), None)).await.status();
            assert!(
                got != StatusCode::UNAUTHORIZED && got != StatusCode::MISDIRECTED_REQUEST,
                "{} {path} via {host} refused with the right token: {got}",
                verb.as_str()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json_behind_the_guard() {
    let api = Api::new().await;
    let (status, json) = api.call(Verb::Get, "/api/v1/nothing", None).await;
    assert_eq!((status, code(&json)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, json) = api.call(Verb::Delete, "/api/v1/session", None).await;
    assert_eq!((status, code(&json)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}
