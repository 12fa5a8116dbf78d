//! In-process end-to-end tests: a real simulator on loopback driven by a real HTTP client and a
//! real WebSocket client, the way the gateway talks to a switch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::*;

/// Upper bound for anything the tests wait on; it only matters when something is broken.
const DEADLINE: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn start(tls: SimTls) -> (DmeSim, CancellationToken) {
    let shutdown = CancellationToken::new();
    let config = DmeSimConfig {
        tls,
        ports: 4,
        vlans: 2,
        devices: 2,
        ..DmeSimConfig::default()
    };
    (
        DmeSim::start(config, shutdown.clone()).await.unwrap(),
        shutdown,
    )
}

async fn login(client: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    let body = format!(r#"{{"aaaUser":{{"attributes":{{"name":"admin","pwd":"{password}"}}}}}}"#);
    client
        .post(format!("{base}/api/aaaLogin.json"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn token_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let token = body["imdata"][0]["aaaLogin"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with(&format!("APIC-cookie={token}; path=/; HttpOnly")),
        "{cookie}"
    );
    token
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let response = client
        .get(url)
        .header("Cookie", format!("other=1; APIC-cookie={token}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn next_text(socket: &mut Socket) -> Option<String> {
    loop {
        match tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("a frame before the deadline")
        {
            Some(Ok(Message::Text(text))) => return Some(text.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn login_socket_subscribe_change_push_over_plain_http() {
    let (sim, shutdown) = start(SimTls::Plain).await;
    let device = sim.devices()[1].clone();
    let base = device.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    let client = reqwest::Client::new();
    assert_eq!(login(&client, &base, "wrong").await.status(), 401);
    let token = token_of(login(&client, &base, "admin").await).await;
    assert!(token.contains('/') && token.contains('+'));

    let subscribe_url =
        format!("{base}/api/mo/sys/intf/phys-[eth1/1].json?query-target=children&subscription=yes");
    let (status, body) = get(&client, &subscribe_url, &token).await;
    assert_eq!(
        (
            status,
            body["imdata"][0]["error"]["attributes"]["code"].as_str()
        ),
        (405, Some("405"))
    );

    let ws_url = format!("ws://{}/socket{token}", device.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let (status, body) = get(&client, &subscribe_url, &token).await;
    assert_eq!(status, 200, "{body}");
    let id = body["subscriptionId"].as_str().unwrap().to_owned();
    assert!(id.parse::<u64>().unwrap() > i64::MAX as u64);
    assert_eq!(body["totalCount"], "1");
    assert_eq!(body["imdata"][0]["ethpmPhysIf"]["attributes"]["status"], "");

    let attrs = BTreeMap::from([("operSt".to_owned(), "down".to_owned())]);
    device
        .apply(Change::Set {
            dn: "sys/intf/phys-[eth1/1]/phys".into(),
            attrs,
        })
        .unwrap();
    let push: Value = serde_json::from_str(&next_text(&mut socket).await.unwrap()).unwrap();
    assert_eq!(push["subscriptionId"], serde_json::json!([id]));
    let attributes = &push["imdata"][0]["ethpmPhysIf"]["attributes"];
    assert_eq!(attributes["operSt"], "down");
    assert_eq!(attributes["status"], "modified");
    assert!(push.get("totalCount").is_none());

    let (status, body) = get(
        &client,
        &format!("{base}/api/subscriptionRefresh.json?id={id}"),
        &token,
    )
    .await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"totalCount":"0","imdata":[]}))
    );
    let (status, body) = get(
        &client,
        &format!("{base}/api/subscriptionRefresh.json?id=42"),
        &token,
    )
    .await;
    assert_eq!(
        (
            status,
            body["imdata"][0]["error"]["attributes"]["code"].as_str()
        ),
        (400, Some("400"))
    );

    let stats = device.stats();
    assert_eq!(
        (stats.logins_ok, stats.logins_failed, stats.sockets_open),
        (1, 1, 1)
    );
    assert_eq!(stats.pushes_sent_total, 1);
    assert_eq!(
        sim.devices()[0].stats().logins_ok,
        0,
        "devices are independent"
    );
    shutdown.cancel();
    assert!(
        next_text(&mut socket).await.is_none(),
        "shutdown closes the socket"
    );
    tokio::time::timeout(DEADLINE, sim.stopped())
        .await
        .expect("every task ends");
}

#[tokio::test]
async fn refresh_rotates_the_token_and_session_end_closes_the_socket() {
    let (sim, shutdown) = start(SimTls::Plain).await;
    let device = sim.devices()[0].clone();
    let base = device.base_url();
    let client = reqwest::Client::new();
    let token = token_of(login(&client, &base, "admin").await).await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/socket{token}", device.addr()))
            .await
            .unwrap();

    let response = client
        .get(format!("{base}/api/aaaRefresh.json"))
        .header("Cookie", format!("APIC-cookie={token}"));
    let new_token = token_of(response.send().await.unwrap()).await;
    assert_ne!(new_token, token);
    assert_eq!(
        get(&client, &format!("{base}/api/mo/sys.json"), &token)
            .await
            .0,
        403
    );
    let (status, body) = get(
        &client,
        &format!("{base}/api/class/l2BD.json?subscription=yes"),
        &new_token,
    )
    .await;
    assert_eq!(
        status, 200,
        "the socket stayed bound to the session: {body}"
    );
    assert_eq!(body["totalCount"], "2");

    let bad = format!("ws://{}/socketnot-a-token", device.addr());
    assert!(
        tokio_tungstenite::connect_async(bad.as_str())
            .await
            .is_err(),
        "unknown token: 403, no upgrade"
    );

    device.fault(Fault::ExpireSessions);
    assert!(
        next_text(&mut socket).await.is_none(),
        "the socket closes with the session"
    );
    let (status, body) = get(&client, &format!("{base}/api/mo/sys.json"), &new_token).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["imdata"][0]["error"]["attributes"]["text"],
        "Token was invalid (Error: Token timeout)"
    );
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn control_api_and_restart_fault() {
    let (sim, shutdown) = start(SimTls::Plain).await;
    let base = sim.devices()[0].base_url();
    let client = reqwest::Client::new();
    let change = r#"{"op":"create","class":"l2BD","dn":"sys/bd/bd-[vlan-300]","attrs":{"fabEncap":"vlan-300"}}"#;
    let response = post_control(&client, &base, "change", change).await;
    assert_eq!(response.status(), 200);
    let response = post_control(&client, &base, "change", r#"{"op":"delete","dn":"nope"}"#).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("nope"));
    let response = post_control(&client, &base, "fault", "{}").await;
    assert_eq!(response.status(), 400);
    let dump: Vec<DumpedMo> = get_control(&client, &base, "dump").await;
    assert!(
        dump.iter()
            .any(|mo| mo.attributes["dn"] == "sys/bd/bd-[vlan-300]")
    );

    let fault = r#"{"fault":"restart","down_for_ms":60000}"#;
    assert_eq!(
        post_control(&client, &base, "fault", fault).await.status(),
        200
    );
    let response = login(&client, &base, "admin").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["imdata"][0]["error"]["attributes"]["code"], "503");
    let stats: SimStats = get_control(&client, &base, "stats").await;
    assert_eq!(stats.changes_applied_total, 1);
    shutdown.cancel();
    sim.stopped().await;
}

#[tokio::test]
async fn tls_with_the_generated_certificate() {
    let (sim, shutdown) = start(SimTls::Generate).await;
    let device = sim.devices()[0].clone();
    assert!(device.base_url().starts_with("https://127.0.0.1:"));
    let pem = sim.ca_pem().unwrap();
    assert_eq!(sim.fingerprint_sha256().unwrap().len(), 95);
    let certificate = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(certificate)
        .build()
        .unwrap();
    let response = login(&client, &device.base_url(), "admin").await;
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    let token = token_of(response).await;

    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!("wss://localhost:{}/socket{token}", device.addr().port());
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(tls));
    let connected = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        false,
        Some(connector),
    )
    .await;
    assert!(connected.is_ok(), "{:?}", connected.err());
    assert_eq!(device.stats().sockets_open, 1);
    shutdown.cancel();
    sim.stopped().await;
}

/// Sends one raw HTTP/1.1 request (so nothing re-encodes the target) and returns status and body.
async fn raw_get(addr: std::net::SocketAddr, target: &str, token: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: sim\r\nCookie: APIC-cookie={token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(DEADLINE, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn unencoded_brackets_quotes_and_commas_are_accepted() {
    let (sim, shutdown) = start(SimTls::Plain).await;
    let device = sim.devices()[0].clone();
    let client = reqwest::Client::new();
    let token = token_of(login(&client, &device.base_url(), "admin").await).await;
    let target = r#"/api/node/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf,ethpmPhysIf&query-target-filter=and(eq(l1PhysIf.id,"eth1/2"),ne(l1PhysIf.mtu,"9216"))"#;
    let (status, body) = raw_get(device.addr(), target, &token).await;
    assert_eq!(status, 200, "{body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["totalCount"], "1", "{body}");
    assert_eq!(
        value["imdata"][0]["l1PhysIf"]["attributes"]["dn"],
        "sys/intf/phys-[eth1/2]"
    );
    let (status, body) = raw_get(
        device.addr(),
        "/api/mo/sys/intf/phys-[eth1/2].json?rsp-subtree=full",
        &token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = raw_get(
        device.addr(),
        r#"/api/class/l2BD.json?query-target-filter=eq(l2BD.id,"101""#,
        &token,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("query-target-filter"), "{body}");
    shutdown.cancel();
    sim.stopped().await;
}

/// POSTs a body to one of the `/_sim/` control routes.
async fn post_control(
    client: &reqwest::Client,
    base: &str,
    route: &str,
    body: &'static str,
) -> reqwest::Response {
    client
        .post(format!("{base}/_sim/{route}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// GETs one of the `/_sim/` control routes and decodes its JSON.
async fn get_control<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    route: &str,
) -> T {
    client
        .get(format!("{base}/_sim/{route}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
