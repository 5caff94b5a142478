//! Header abuse and slow clients against `sluice serve` on loopback, sent
//! over raw TCP. The cases are huge and repeated headers, a huge request
//! line, a client that trickles its head or its body, one that sends nothing,
//! and more connections than the server allows. The server must respond with
//! 431 or 408, close the connection or make it wait, and keep serving.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use common::server::{KEY, PROJECT, Server};

/// Settings of the server under test: small limits, so the tests send
/// little, and short read timeouts, so they wait little. Every oversized
/// head below stays under hyper's first read of 8 KiB (`INIT_BUFFER_SIZE`
/// in hyper 1.13), so the server reads all of it before it responds with
/// 431 and closes. Unread bytes would turn the close into a reset, which
/// can drop the response before the test reads it.
const SETTINGS: [(&str, &str); 4] = [
    ("SLUICE_MAX_HEADERS", "20"),
    ("SLUICE_MAX_HEADER_BYTES", "4096"),
    ("SLUICE_HEADER_READ_TIMEOUT_MS", "500"),
    ("SLUICE_BODY_READ_TIMEOUT_MS", "500"),
];

/// Upper bound on any wait for the server, so a server that never responds
/// fails the test instead of hanging it. Not a measure of speed.
const GIVE_UP: Duration = Duration::from_secs(60);

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .expect("connect to the server")
}

/// Sends `head` (and nothing else) and returns what the server sends back
/// before it closes the connection.
async fn exchange(server: &Server, head: &str) -> String {
    let mut stream = connect(server).await;
    // The server may respond and close before it has read everything, so a
    // failed write is not an error here.
    let _ = stream.write_all(head.as_bytes()).await;
    read_until_close(&mut stream).await
}

async fn read_until_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(GIVE_UP, async {
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => received.extend_from_slice(&buffer[..count]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open; received so far: {}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

fn request_head(extra_headers: &str) -> String {
    format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Connection: close\r\n\r\n")
}

/// Returns the status code of a raw HTTP response.
fn status(response: &str) -> u16 {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// Returns the JSON body of a raw HTTP response.
fn json_body(response: &str) -> Value {
    let (_, body) = response
        .split_once("\r\n\r\n")
        .expect("response has a body");
    serde_json::from_str(body).unwrap_or_else(|err| panic!("body is not JSON ({err}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_431() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(dir.path(), &SETTINGS);

    let within = request_head(&"X-Filler: abc\r\n".repeat(10));
    assert_eq!(
        status(&exchange(&server, &within).await),
        200,
        "a head within the limits is served"
    );

    let huge_value = request_head(&format!("X-Huge: {}\r\n", "v".repeat(6 * 1024)));
    assert_eq!(
        status(&exchange(&server, &huge_value).await),
        431,
        "a header value over the head size"
    );

    let repeated = request_head(&"X-Repeat: a\r\n".repeat(40));
    assert_eq!(
        status(&exchange(&server, &repeated).await),
        431,
        "more header fields than allowed"
    );

    let huge_line = format!(
        "GET /healthz?{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "q".repeat(6 * 1024)
    );
    assert_eq!(
        status(&exchange(&server, &huge_line).await),
        431,
        "a request line over the head size"
    );

    let endless = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Endless: {}",
        "e".repeat(6 * 1024)
    );
    assert_eq!(
        status(&exchange(&server, &endless).await),
        431,
        "a head that never ends"
    );

    assert_eq!(
        server.call("GET", "/healthz", None, None).0,
        200,
        "the server still serves"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_silent_clients_are_cut_off() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(dir.path(), &SETTINGS);

    // A client that connects and sends nothing.
    let mut silent = connect(&server).await;
    assert_eq!(
        read_until_close(&mut silent).await,
        "",
        "the server closes a silent connection"
    );

    // A client that sends its head one byte at a time, every 100 ms: the
    // head deadline closes the connection before the head is complete.
    let mut trickle = connect(&server).await;
    let head = request_head(&"X-Slow: slowly\r\n".repeat(10));
    let mut cut_off = false;
    for byte in head.as_bytes() {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut probe = [0_u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), trickle.read(&mut probe)).await
        {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off,
        "a head sent over {} ms was still accepted",
        head.len() * 100
    );

    // A client that sends its head and part of its body, then stalls.
    let body = r#"{"flowId": "offboard-user", "input": {}}"#;
    let mut stalled = connect(&server).await;
    let partial = format!(
        "POST /v1/mgmt/flow/run HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {PROJECT}:{KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    );
    stalled
        .write_all(partial.as_bytes())
        .await
        .expect("send part of the request");
    let response = read_until_close(&mut stalled).await;
    assert_eq!(status(&response), 408, "response: {response}");
    let error = json_body(&response);
    assert_eq!(error["errorCode"], "S040800");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("body_read_timeout_ms")),
        "{error}"
    );

    // The public client registration endpoint reads its own body, under the
    // same deadline.
    let credentials = format!("{PROJECT}:{KEY}");
    let (created, reply) = server.call(
        "POST",
        "/v1/mgmt/mcp/server/create",
        Some(json!({"id": "slow", "name": "Slow", "registration": {"dynamicClientRegistration": true}})),
        Some(&credentials),
    );
    assert_eq!(created, 200, "{reply}");
    let registration = r#"{"redirect_uris": ["http://127.0.0.1:9000/callback"]}"#;
    let mut stalled = connect(&server).await;
    let partial = format!(
        "POST /oauth/{PROJECT}/slow/register HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        registration.len(),
        &registration[..10]
    );
    stalled
        .write_all(partial.as_bytes())
        .await
        .expect("send part of the registration");
    let response = read_until_close(&mut stalled).await;
    assert_eq!(status(&response), 408, "response: {response}");
    let error = json_body(&response);
    assert_eq!(error["error"], "invalid_request", "{error}");
    assert!(
        error["error_description"]
            .as_str()
            .is_some_and(|m| m.contains("body_read_timeout_ms")),
        "{error}"
    );

    // A client that sends its body one byte every 100 ms: each byte is in
    // time, but the whole body is not.
    let mut dripping = connect(&server).await;
    let head = format!(
        "POST /v1/mgmt/flow/run HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {PROJECT}:{KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    dripping
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    let (mut reader, mut writer) = dripping.into_split();
    let drip = tokio::spawn(async move {
        for byte in body.as_bytes() {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut received = Vec::new();
    let _ = tokio::time::timeout(GIVE_UP, reader.read_to_end(&mut received)).await;
    drip.abort();
    let response = String::from_utf8_lossy(&received);
    assert_eq!(status(&response), 408, "response: {response}");

    assert_eq!(
        server.call("GET", "/healthz", None, None).0,
        200,
        "the server still serves"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_makes_new_ones_wait() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let settings = [("SLUICE_MAX_CONNECTIONS", "2"), ("SLUICE_HEADER_READ_TIMEOUT_MS", "30000")];
    let server = Server::start_with_env(dir.path(), &settings);

    // Two idle connections take both places. The listener accepts in the
    // order the connections arrived, so they are accepted before the third.
    let first = connect(&server).await;
    let _second = connect(&server).await;
    let mut third = connect(&server).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send a request on the third connection");

    let mut byte = [0_u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(early.is_err(), "the third connection was served while two were open: {early:?}");

    drop(first);
    let response = read_until_close(&mut third).await;
    assert_eq!(status(&response), 200, "response after a place was freed: {response}");
    server.stop();
}
