//! Each sender posting to a recording server; the command lines.

use super::*;

#[derive(Debug, Clone)]
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A receiver on 127.0.0.1:0 that answers 200 and keeps every request.
async fn recorder() -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let router = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(Received {
                    method,
                    uri,
                    headers,
                    body: body.to_vec(),
                });
                axum::http::StatusCode::OK
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), received)
}

/// Posts `--count 4` with `config` and returns what the receiver saw.
async fn post_four(mut config: HookSimConfig) -> Vec<Received> {
    let (base, received) = recorder().await;
    config.target = format!("{base}{}", config.target);
    config.load.count = Some(4);
    config.load.concurrency = 2;
    config.load.record_accepted = true;
    let report = run(config, CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 4);
    assert_eq!(report.by_status.get(&200), Some(&4), "{report:?}");
    assert_eq!(report.accepted_ids.len(), 4);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 4);
    for request in &received {
        serde_json::from_slice::<Value>(&request.body).expect("a JSON body");
    }
    received
}

fn secret_value(secret: &str) -> SecretValue {
    SecretValue {
        secret: Some(Secret::new(secret)),
        secret_file: None,
    }
}

#[tokio::test]
async fn meraki_posts_the_secret_in_the_body_or_as_a_bearer_token() {
    let verifier = Verifier::new(Some(&WebhookAuth {
        shared_secret: Some(secret_value("s3cret")),
        ..WebhookAuth::default()
    }));
    let mut config = HookSimConfig::new(Provider::Meraki, "/hooks/meraki", Auth::None);
    config.options.meraki_shared_secret = "s3cret".to_owned();
    for request in post_four(config).await {
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.uri.path(), "/hooks/meraki");
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(request.headers.get("authorization").is_none());
        let alert: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(verifier.shared_secret_matches(&request.headers, alert["sharedSecret"].as_str()));
    }
    let config = HookSimConfig::new(
        Provider::Meraki,
        "/hooks/meraki",
        Auth::Bearer("s3cret".to_owned()),
    );
    for request in post_four(config).await {
        assert_eq!(request.headers["authorization"], "Bearer s3cret");
        let alert: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(alert["sharedSecret"], "");
        assert!(!verifier.shared_secret_matches(&HeaderMap::new(), alert["sharedSecret"].as_str()));
        assert!(verifier.shared_secret_matches(&request.headers, alert["sharedSecret"].as_str()));
    }
}

#[tokio::test]
async fn catalyst_center_posts_with_basic_auth_or_a_token_header() {
    let basic = Verifier::new(Some(&WebhookAuth {
        basic: Some(BasicAuth {
            username: "dnac".to_owned(),
            password: Some(Secret::new("pw")),
            password_file: None,
        }),
        ..WebhookAuth::default()
    }));
    let config = HookSimConfig::new(
        Provider::CatalystCenter,
        "/hooks/catc",
        Auth::Basic {
            username: "dnac".to_owned(),
            password: "pw".to_owned(),
        },
    );
    for request in post_four(config).await {
        assert_eq!(request.headers["authorization"], "Basic ZG5hYzpwdw==");
        basic.check_headers(&request.headers).unwrap();
    }
    let token = Verifier::new(Some(&WebhookAuth {
        header: Some(HeaderToken {
            name: "X-Auth-Token".to_owned(),
            secret: Some(Secret::new("tok")),
            secret_file: None,
        }),
        ..WebhookAuth::default()
    }));
    let mut config = HookSimConfig::new(
        Provider::CatalystCenter,
        "/hooks/catc",
        Auth::Header {
            name: "X-Auth-Token".to_owned(),
            value: "tok".to_owned(),
        },
    );
    config.method = reqwest::Method::PUT;
    for request in post_four(config).await {
        assert_eq!(request.method, Method::PUT);
        assert_eq!(request.headers["x-auth-token"], "tok");
        token.check_headers(&request.headers).unwrap();
        assert!(basic.check_headers(&request.headers).is_err());
        let issue: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(issue["instanceId"].is_string());
    }
}

#[tokio::test]
async fn thousandeyes_posts_with_optional_basic_auth() {
    let config = HookSimConfig::new(Provider::Thousandeyes, "/hooks/te", Auth::None);
    for request in post_four(config).await {
        assert!(request.headers.get("authorization").is_none());
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let config = HookSimConfig::new(
        Provider::Thousandeyes,
        "/hooks/te",
        Auth::Basic {
            username: "te".to_owned(),
            password: "pw".to_owned(),
        },
    );
    let received = post_four(config).await;
    for request in &received {
        assert_eq!(request.headers["authorization"], "Basic dGU6cHc=");
    }
    let kinds: HashSet<String> = received
        .iter()
        .map(|request| {
            let notification: Value = serde_json::from_slice(&request.body).unwrap();
            notification["eventType"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(kinds.contains("ALERT_NOTIFICATION_TRIGGER"), "{kinds:?}");
}

#[tokio::test]
async fn intersight_requests_carry_a_signature_the_gateway_verifies() {
    let config = HookSimConfig::new(
        Provider::Intersight,
        "/hooks/intersight?tenant=lab",
        Auth::HttpSignature {
            key_id: sign::DEFAULT_KEY_ID.to_owned(),
            secret: b"intersight-secret".to_vec(),
        },
    );
    for request in post_four(config).await {
        assert_eq!(request.headers.get_all("host").iter().count(), 1);
        assert!(
            request.headers["host"]
                .to_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        check_intersight_request(
            request.method.as_str(),
            request.uri.path_and_query().unwrap().as_str(),
            &request.headers,
            &request.body,
            b"intersight-secret",
        );
    }
}

#[tokio::test]
async fn standard_webhooks_requests_verify_with_the_gateway() {
    let config = HookSimConfig::new(
        Provider::StandardWebhooks,
        "/hooks/sw",
        Auth::StandardWebhooks {
            key: sign::standard_webhooks_key(WHSEC).unwrap(),
        },
    );
    let received = post_four(config).await;
    let ids: HashSet<&str> = received
        .iter()
        .map(|request| request.headers["webhook-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    for request in &received {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(body["type"].as_str().unwrap().starts_with("network.alarm."));
        assert!(
            body["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
        assert!(body["data"].is_object());
        let signed = Signed {
            method: request.method.as_str(),
            path_and_query: request.uri.path(),
            headers: &request.headers,
            body: &request.body,
            now: jiff::Timestamp::now(),
        };
        standard_webhooks_verifier(WHSEC)
            .check_body(&signed)
            .unwrap();
        assert!(
            standard_webhooks_verifier(OTHER_WHSEC)
                .check_body(&signed)
                .is_err()
        );
    }
}

#[tokio::test]
async fn cloudevents_are_posted_in_binary_and_structured_mode_with_a_bearer_token() {
    let bearer = Verifier::new(Some(&WebhookAuth {
        bearer: Some(secret_value("ce-token")),
        ..WebhookAuth::default()
    }));
    let config = HookSimConfig::new(
        Provider::Cloudevents,
        "/hooks/ce",
        Auth::Bearer("ce-token".to_owned()),
    );
    for request in post_four(config).await {
        bearer.check_headers(&request.headers).unwrap();
        assert_eq!(request.headers["ce-specversion"], "1.0");
        assert!(
            request.headers["ce-source"]
                .to_str()
                .unwrap()
                .starts_with("/netpulse-sim/")
        );
        for name in [
            "ce-id",
            "ce-type",
            "ce-time",
            "ce-subject",
            "ce-device",
            "ce-severity",
        ] {
            assert!(request.headers.contains_key(name), "{name}");
        }
        let state = request.headers["ce-alarmstate"].to_str().unwrap();
        assert!(state == "raised" || state == "cleared", "{state}");
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let mut config = HookSimConfig::new(Provider::Cloudevents, "/hooks/ce", Auth::None);
    config.options.cloudevents_mode = CloudEventsMode::Structured;
    for request in post_four(config).await {
        assert!(request.headers.get("authorization").is_none());
        assert!(request.headers.get("ce-id").is_none());
        assert_eq!(
            request.headers["content-type"],
            "application/cloudevents+json; charset=utf-8"
        );
        let event: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(event["specversion"], "1.0");
        assert!(event["data"].is_object());
        let body = request.body.clone().into();
        crate::source::webhook::generic::cloudevent(
            "ce",
            &crate::source::webhook::verify::open(&request.headers, &body, jiff::Timestamp::now()),
        )
        .expect("the gateway reads it");
    }
}

// ---- command line --------------------------------------------------------------------------

#[derive(clap::Parser, Debug)]
enum Sim {
    Meraki(MerakiSimArgs),
    CatalystCenter(CatalystCenterSimArgs),
    Thousandeyes(ThousandeyesSimArgs),
    Intersight(IntersightSimArgs),
    StandardWebhooks(StandardWebhooksSimArgs),
    Cloudevents(CloudeventsSimArgs),
}

fn parse_sim(line: &str) -> Result<Sim, clap::Error> {
    <Sim as clap::Parser>::try_parse_from(
        std::iter::once("sim").chain(line.split_ascii_whitespace()),
    )
}

fn config_of(line: &str) -> HookSimConfig {
    match parse_sim(line).unwrap_or_else(|error| panic!("{line}: {error}")) {
        Sim::Meraki(args) => args.into_config(),
        Sim::CatalystCenter(args) => args.into_config(),
        Sim::Thousandeyes(args) => args.into_config(),
        Sim::Intersight(args) => args.into_config(),
        Sim::StandardWebhooks(args) => args.into_config(),
        Sim::Cloudevents(args) => args.into_config(),
    }
    .unwrap_or_else(|error| panic!("{line}: {error}"))
}

/// The README's examples parse; with literal secrets they become the documented schemes.
#[test]
fn the_command_lines_parse_into_the_documented_schemes() {
    for line in [
        "meraki --target https://127.0.0.1:5001/hooks/meraki --ca-file /tmp/ca.pem --secret-env MERAKI_SHARED_SECRET --devices 20 --rate 5 --count 200",
        "meraki --target http://127.0.0.1:5001/hooks/meraki --secret-env MERAKI_SHARED_SECRET --secret-in authorization --count 200",
        "catalyst-center --target http://127.0.0.1:5001/hooks/catalyst-center --username dnac --password-env CATC_HOOK_PASSWORD --rate 2 --count 100",
        "catalyst-center --target http://127.0.0.1:5001/hooks/catalyst-center --token-header X-Auth-Token --token-env CATC_HOOK_TOKEN --method put --count 100",
        "thousandeyes --target http://127.0.0.1:5001/hooks/thousandeyes --username te --password-env TE_HOOK_PASSWORD --rate 2 --count 100",
        "intersight --target http://127.0.0.1:5001/hooks/intersight --secret-env INTERSIGHT_WEBHOOK_SECRET --rate 2 --count 100",
        "standard-webhooks --target http://127.0.0.1:5001/hooks/standard --secret-env STANDARD_WEBHOOKS_SECRET --rate 2 --count 100",
        "cloudevents --target http://127.0.0.1:5001/hooks/cloudevents --mode structured --token-env CE_HOOK_TOKEN --concurrency 4 --count 100",
    ] {
        parse_sim(line).unwrap_or_else(|error| panic!("{line}: {error}"));
    }
    assert!(
        parse_sim("catalyst-center --target http://x/ --username u --token-header X-Auth-Token")
            .is_err()
    );
    assert!(parse_sim("meraki --target http://x/ --ca-file /tmp/ca.pem --insecure").is_err());

    let config = config_of("meraki --target http://x/h --secret s");
    assert!(matches!(config.auth, Auth::None));
    assert_eq!(config.options.meraki_shared_secret, "s");
    let config = config_of("meraki --target http://x/h --secret s --secret-in authorization");
    assert!(matches!(&config.auth, Auth::Bearer(token) if token == "s"));
    assert_eq!(config.options.meraki_shared_secret, "");
    let config =
        config_of("catalyst-center --target http://x/h --username u --password p --method put");
    assert!(
        matches!(&config.auth, Auth::Basic { username, password } if username == "u" && password == "p")
    );
    assert_eq!(config.method, reqwest::Method::PUT);
    let config =
        config_of("catalyst-center --target http://x/h --token-header X-Auth-Token --token t");
    assert!(
        matches!(&config.auth, Auth::Header { name, value } if name == "X-Auth-Token" && value == "t")
    );
    assert!(matches!(
        config_of("thousandeyes --target http://x/h").auth,
        Auth::None
    ));
    let config =
        config_of("intersight --target http://x/h --secret s --devices 3 --seed 9 --count 7");
    assert!(
        matches!(&config.auth, Auth::HttpSignature { key_id, secret } if key_id == "netpulse-sim" && secret == b"s")
    );
    let load = &config.load;
    assert_eq!((load.devices, load.seed, load.count), (3, 9, Some(7)));
    let config = config_of(&format!(
        "standard-webhooks --target http://x/h --secret {WHSEC}"
    ));
    assert!(matches!(&config.auth, Auth::StandardWebhooks { key } if key.len() == 24));
    let config = config_of("cloudevents --target http://x/h --source /lab/a");
    assert!(matches!(config.auth, Auth::None));
    assert_eq!(config.options.cloudevents_mode, CloudEventsMode::Binary);
    assert_eq!(config.options.cloudevents_source, "/lab/a");
    // Missing secrets are named.
    let error = match parse_sim("intersight --target http://x/h").unwrap() {
        Sim::Intersight(args) => args.into_config().err().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    assert!(error.contains("--secret-env"), "{error}");
}
