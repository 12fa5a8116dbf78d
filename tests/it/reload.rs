//! Configuration reload and sessions started and stopped from outside, against simulated switches
//! over real TLS: a reload touches only what changed (the other devices keep their sessions, with
//! no new login, socket or gap), an invalid file changes nothing and says why, webhook routes
//! follow the file, and a session's handle stops and starts it.

use std::sync::Arc;

use netpulse::Gateway;
use netpulse::config::Config;
use netpulse::event::{Event, GAP_EVENT_TYPE};
use netpulse::gateway::{ConfigFile, ReloadError};
use netpulse::sim::dme::{Change, DmeSim, DmeSimConfig, SimDevice};
use netpulse::source::ConnectionState;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::{attrs, small_switch, wait_until};

#[cfg(unix)]
mod signal;
mod sinks;

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const READ_TOKEN: &str = "read-token-0123456789";

/// Three simulated switches, and a gateway started from a file in a fresh folder.
struct Setup {
    sim: DmeSim,
    sim_shutdown: CancellationToken,
    gateway: Option<Gateway>,
    shutdown: CancellationToken,
    dir: tempfile::TempDir,
}

fn env() -> netpulse::gateway::Env {
    Arc::new(|name: &str| match name {
        "ADMIN_TOKEN" => Some(ADMIN_TOKEN.to_owned()),
        "READ_TOKEN" => Some(READ_TOKEN.to_owned()),
        "SWITCH_PASSWORD" => Some("admin".to_owned()),
        _ => None,
    })
}

impl Setup {
    async fn start(devices: &[usize], hook_path: &str) -> Setup {
        let sim_shutdown = CancellationToken::new();
        let sim = DmeSim::start(
            DmeSimConfig {
                devices: 3,
                ..small_switch()
            },
            sim_shutdown.clone(),
        )
        .await
        .expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), sim.ca_pem().unwrap()).unwrap();
        let mut setup = Setup {
            sim,
            sim_shutdown,
            gateway: None,
            shutdown: CancellationToken::new(),
            dir,
        };
        setup.write(devices, hook_path, "");
        let file = ConfigFile::with_env(setup.dir.path().join("netpulse.yaml"), env());
        let config = file.read().await.expect("test configuration is valid");
        let gateway = Gateway::start_with(config, Some(file), setup.shutdown.clone())
            .await
            .expect("gateway starts");
        setup.gateway = Some(gateway);
        for index in devices {
            setup
                .wait_state(&leaf(*index), ConnectionState::Connected)
                .await;
        }
        setup
    }

    /// Writes the configuration file: a switch `leaf<n+1>` per device index, a webhook receiver at
    /// `hook_path`, `extra` YAML lines under the first switch.
    fn write(&self, devices: &[usize], hook_path: &str, extra: &str) {
        self.write_with_sinks(devices, hook_path, extra, "");
    }

    /// [`Setup::write`] with more sink entries after the file sink `archive`.
    fn write_with_sinks(&self, devices: &[usize], hook_path: &str, extra: &str, sinks: &str) {
        let ca = self.dir.path().join("ca.pem");
        let mut yaml = format!(
            "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\napi:\n  auth:\n    tokens:\n      - {{ name: ops, token: \"${{ADMIN_TOKEN}}\", scope: admin }}\n      - {{ name: screen, token: \"${{READ_TOKEN}}\" }}\nsources:\n  - {{ name: hook, type: webhook, provider: sdwan, path: {hook_path}, auth: {{ none: true }} }}\n"
        );
        for (position, index) in devices.iter().enumerate() {
            yaml.push_str(&format!(
                "  - name: {name}\n    type: dme\n    address: {address}\n    username: admin\n    password: ${{SWITCH_PASSWORD}}\n    tls: {{ ca_file: {ca} }}\n    subscription_refresh: 2s\n    backoff: {{ initial: 200ms, max: 2s }}\n    subscriptions:\n      - /api/class/ethpmPhysIf.json\n      - /api/mo/sys/intf.json?query-target=subtree&target-subtree-class=l1PhysIf\n{extra}",
                name = leaf(*index),
                address = self.sim.devices()[*index].base_url(),
                ca = ca.display(),
                extra = if position == 0 { extra } else { "" },
            ));
        }
        yaml.push_str("sinks:\n  - { name: archive, type: file, path: events.jsonl }\n");
        yaml.push_str(sinks);
        std::fs::write(self.dir.path().join("netpulse.yaml"), yaml).unwrap();
    }

    fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().unwrap()
    }

    fn device(&self, index: usize) -> &SimDevice {
        &self.sim.devices()[index]
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway().http_addr())
    }

    fn state(&self, name: &str) -> Option<ConnectionState> {
        self.gateway()
            .source(name)
            .map(|source| source.status.snapshot().state)
    }

    async fn wait_state(&self, name: &str, state: ConnectionState) {
        wait_until(&format!("{name} is {state:?}"), || {
            self.state(name) == Some(state)
        })
        .await;
    }

    /// `POST /api/v1/reload` with the admin token.
    async fn reload(&self) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/reload"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Every event written to the file sink so far.
    fn events(&self) -> Vec<Event> {
        let text =
            std::fs::read_to_string(self.dir.path().join("events.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn gaps(&self, name: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|event| event.kind == GAP_EVENT_TYPE && event.device == name)
            .collect()
    }

    /// Waits for the resynchronised event of a change to `port` on device `name`, made while its
    /// session was not live.
    async fn wait_resynchronised(&self, what: &str, name: &str, port: &str) {
        wait_until(what, || {
            self.events().iter().any(|event| {
                event.device == name
                    && event.resync
                    && event
                        .subject
                        .as_deref()
                        .is_some_and(|subject| subject.contains(port))
            })
        })
        .await;
    }

    /// Brings a port down on the device and waits for its event: the session is live and the
    /// file sink has written everything before it.
    async fn prove_live(&self, index: usize, port: u32) {
        let dn = format!("sys/intf/phys-[eth1/{port}]");
        self.device(index)
            .apply(Change::Set {
                dn: dn.clone(),
                attrs: attrs(&[("operSt", "down"), ("operStQual", "link-failure")]),
            })
            .unwrap();
        let name = leaf(index);
        wait_until(&format!("{name} reports {dn} down"), || {
            self.events().iter().any(|event| {
                event.device == name
                    && event
                        .subject
                        .as_deref()
                        .is_some_and(|subject| subject.starts_with(&dn))
                    && !event.resync
            })
        })
        .await;
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(gateway) = self.gateway.take() {
            gateway.wait().await.unwrap();
        }
        self.sim_shutdown.cancel();
    }
}

/// `POST` of a JSON body: the answer's status.
async fn post_json(url: String, body: Vec<u8>) -> StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// `GET` with the read token: the status and the JSON body.
async fn read(url: String) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn leaf(index: usize) -> String {
    format!("leaf{}", index + 1)
}

/// Logins and sockets a device has seen: a session kept is one that adds none.
fn sessions(device: &SimDevice) -> (u64, u64) {
    let stats = device.stats();
    (stats.logins_ok, stats.sockets_opened_total)
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_reload_adding_a_switch_starts_it_and_keeps_the_others_sessions_without_a_gap() {
    let setup = Setup::start(&[0, 1], "/hooks/a").await;
    let before = [sessions(setup.device(0)), sessions(setup.device(1))];

    setup.write(&[0, 1, 2], "/hooks/a", "");
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(names(&report["sources"]["started"]), ["leaf3"]);
    assert_eq!(
        names(&report["sources"]["kept"]),
        ["hook", "leaf1", "leaf2"]
    );
    assert!(names(&report["sources"]["stopped"]).is_empty());
    assert!(names(&report["sources"]["restarted"]).is_empty());
    assert!(report["not_applied"].as_array().unwrap().is_empty());

    setup.wait_state("leaf3", ConnectionState::Connected).await;
    assert_eq!(
        sessions(setup.device(2)).0,
        1,
        "the new switch logged in once"
    );
    for index in [0, 1] {
        setup.prove_live(index, 1).await;
    }
    setup.prove_live(2, 1).await;
    assert_eq!(
        [sessions(setup.device(0)), sessions(setup.device(1))],
        before,
        "the untouched switches neither logged in again nor opened another socket"
    );
    for name in ["leaf1", "leaf2", "leaf3"] {
        assert!(setup.gaps(name).is_empty(), "no gap event for {name}");
    }
    let (listed, _) = read(setup.url("/api/v1/sources/leaf3")).await;
    assert_eq!(listed, StatusCode::OK);
    setup.stop().await;
}

#[tokio::test]
async fn a_reload_stops_a_removed_switch_and_restarts_a_changed_one_only() {
    let setup = Setup::start(&[0, 1, 2], "/hooks/a").await;
    let kept_before = sessions(setup.device(2));
    let removed = setup.gateway().source("leaf2").unwrap();
    // leaf1 is stopped and a port goes down meanwhile: its restart must still report it.
    let leaf1 = setup.gateway().source("leaf1").unwrap();
    leaf1.session().unwrap().stop();
    setup.wait_state("leaf1", ConnectionState::Stopped).await;
    setup
        .device(0)
        .apply(Change::Set {
            dn: "sys/intf/phys-[eth1/4]".into(),
            attrs: attrs(&[("operSt", "down"), ("operStQual", "link-failure")]),
        })
        .unwrap();

    // leaf2 leaves the file, leaf1's entry changes.
    setup.write(&[0, 2], "/hooks/a", "    request_timeout: 9s\n");
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(names(&report["sources"]["stopped"]), ["leaf2"]);
    assert_eq!(names(&report["sources"]["restarted"]), ["leaf1"]);
    assert_eq!(names(&report["sources"]["kept"]), ["hook", "leaf3"]);

    // The removed switch's session was ended (logged out), and it is gone from the API.
    assert_eq!(removed.status.snapshot().state, ConnectionState::Stopped);
    wait_until("leaf2's session is logged out", || {
        setup.device(1).stats().sessions_active == 0
    })
    .await;
    assert!(setup.gateway().source("leaf2").is_none());
    let (gone, _) = read(setup.url("/api/v1/sources/leaf2")).await;
    assert_eq!(gone, StatusCode::NOT_FOUND);

    setup.wait_state("leaf1", ConnectionState::Connected).await;
    assert_eq!(sessions(setup.device(0)).0, 2, "leaf1 logged in again");
    // The restarted source resumes from the view it had: a gap, then what changed in it.
    wait_until("leaf1 reports its gap", || !setup.gaps("leaf1").is_empty()).await;
    assert_eq!(
        setup.gaps("leaf1")[0].data["reason"],
        "restarted by a configuration reload"
    );
    setup
        .wait_resynchronised(
            "the change made during the restart arrives",
            "leaf1",
            "eth1/4",
        )
        .await;
    setup.prove_live(0, 2).await;
    setup.prove_live(2, 2).await;
    assert_eq!(
        sessions(setup.device(2)),
        kept_before,
        "leaf3 kept its session"
    );
    assert!(setup.gaps("leaf3").is_empty());
    setup.stop().await;
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_the_answer_says_where_it_is_wrong() {
    let setup = Setup::start(&[0, 1], "/hooks/a").await;
    let before = [sessions(setup.device(0)), sessions(setup.device(1))];
    let path = setup.dir.path().join("netpulse.yaml");
    let valid = std::fs::read_to_string(&path).unwrap();

    // leaf1 and leaf2 get an unknown field, leaf3 arrives with a password file that is missing.
    setup.write(&[0, 1, 2], "/hooks/b", "");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "    subscription_refresh: 2s\n",
        "    subscription_refresh: 2s\n    colour: blue\n",
        2,
    );
    let (head, leaf3) = text.split_at(text.find("  - name: leaf3").unwrap());
    let leaf3 = leaf3.replace(
        "password: ${SWITCH_PASSWORD}",
        "password_file: /nonexistent/secret",
    );
    std::fs::write(&path, format!("{head}{leaf3}")).unwrap();

    let (status, answer) = setup.reload().await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "invalid_configuration");
    let errors: Vec<&str> = names(&answer["errors"]);
    for (place, what) in [
        ("sources[1] (line 10)", "unknown field `colour`"),
        ("sources[2] (line 22)", "unknown field `colour`"),
        ("(leaf3).password_file", "cannot read /nonexistent/secret"),
    ] {
        assert!(
            errors
                .iter()
                .any(|error| error.contains(place) && error.contains(what)),
            "no error at {place} about {what} in {errors:?}"
        );
    }
    assert!(
        errors.iter().all(|error| !error.contains("admin")),
        "no secret or value in {errors:?}"
    );

    // The same through the function SIGHUP calls.
    match setup.gateway().reload().await {
        Err(ReloadError::Invalid(again)) => assert_eq!(again, errors),
        other => panic!("expected the same errors, got {other:?}"),
    }

    // Nothing changed: the same sources, the same sessions, the old webhook path.
    let running: Vec<String> = setup
        .gateway()
        .sources()
        .iter()
        .map(|source| source.name.clone())
        .collect();
    assert_eq!(running, ["hook", "leaf1", "leaf2"]);
    let hook = post_json(setup.url("/hooks/b"), b"{}".to_vec()).await;
    assert_eq!(hook, StatusCode::NOT_FOUND);
    setup.prove_live(0, 3).await;
    assert_eq!(
        [sessions(setup.device(0)), sessions(setup.device(1))],
        before
    );

    // A read token may not reload; the valid file reloads to no change at all.
    let refused = reqwest::Client::new()
        .post(setup.url("/api/v1/reload"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    std::fs::write(&path, valid).unwrap();
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        names(&report["sources"]["kept"]),
        ["hook", "leaf1", "leaf2"]
    );
    setup.stop().await;
}

#[tokio::test]
async fn webhook_routes_follow_the_reload() {
    let setup = Setup::start(&[0], "/hooks/a").await;
    let post = |path: &str| {
        let alarm = crate::support::sdwan_alarm(
            "webhook-interface-state-change-down-2019.json",
            &format!("uuid-{path}"),
            None,
        );
        post_json(setup.url(path), alarm)
    };
    assert_eq!(post("/hooks/a").await, StatusCode::OK);
    assert_eq!(post("/hooks/b").await, StatusCode::NOT_FOUND);
    let get = reqwest::get(setup.url("/hooks/a")).await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);

    setup.write(&[0], "/hooks/b", "");
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(names(&report["sources"]["restarted"]), ["hook"]);
    assert_eq!(names(&report["sources"]["kept"]), ["leaf1"]);
    assert_eq!(post("/hooks/b").await, StatusCode::OK);
    assert_eq!(post("/hooks/a").await, StatusCode::NOT_FOUND);
    setup.stop().await;
}

#[tokio::test]
async fn a_session_is_stopped_and_started_through_its_handle_and_resynchronised() {
    let setup = Setup::start(&[0, 1], "/hooks/a").await;
    let source = setup.gateway().source("leaf1").unwrap();
    let control = source.session().expect("a device source has a session");
    let other = sessions(setup.device(1));

    control.stop();
    setup.wait_state("leaf1", ConnectionState::Stopped).await;
    wait_until("leaf1's session is logged out", || {
        setup.device(0).stats().sessions_active == 0
    })
    .await;
    let (_, shown) = read(setup.url("/api/v1/sources/leaf1")).await;
    assert_eq!(shown["state"], "stopped");

    // A change while stopped is found by the resync after the start, behind a gap event.
    setup
        .device(0)
        .apply(Change::Set {
            dn: "sys/intf/phys-[eth1/4]".into(),
            attrs: attrs(&[("operSt", "down"), ("operStQual", "link-failure")]),
        })
        .unwrap();
    assert!(control.start());
    setup.wait_state("leaf1", ConnectionState::Connected).await;
    wait_until("the gap is reported", || !setup.gaps("leaf1").is_empty()).await;
    let gap = &setup.gaps("leaf1")[0];
    assert_eq!(gap.data["reason"], "session stopped");
    setup
        .wait_resynchronised(
            "the change made while stopped arrives resynchronised",
            "leaf1",
            "eth1/4",
        )
        .await;
    assert_eq!(sessions(setup.device(0)).0, 2);

    control.restart();
    wait_until("a second gap, for the restart", || {
        setup.gaps("leaf1").len() == 2
    })
    .await;
    assert_eq!(setup.gaps("leaf1")[1].data["reason"], "session restarted");
    assert_eq!(sessions(setup.device(1)), other, "leaf2 was not touched");
    assert!(setup.gaps("leaf2").is_empty());
    setup.stop().await;
}

#[tokio::test]
async fn without_a_file_a_reload_is_refused_with_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "store: {{ path: netpulse.db }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\napi:\n  auth:\n    tokens:\n      - {{ name: ops, token: \"{ADMIN_TOKEN}\", scope: admin }}\nsources:\n  - {{ name: hook, type: webhook, provider: sdwan, path: /hooks/a, auth: {{ none: true }} }}\n"
    );
    let config = Config::parse_with(&yaml, dir.path(), &|_| None).unwrap();
    let shutdown = CancellationToken::new();
    let gateway = Gateway::start(config, shutdown.clone()).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/reload", gateway.http_addr()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(matches!(gateway.reload().await, Err(ReloadError::NoFile)));
    shutdown.cancel();
    gateway.wait().await.unwrap();
}

/// `netpulse run` waits on the gateway from the start: a reload must still work meanwhile (it was
/// refused as "shutting down" before).
#[tokio::test]
async fn a_reload_works_while_the_gateway_is_being_waited_on() {
    let mut setup = Setup::start(&[0], "/hooks/a").await;
    let gateway = setup.gateway.take().unwrap();
    let reloader = gateway.reloader();
    let address = gateway.http_addr();
    let waiting = tokio::spawn(gateway.wait());
    // Lets the waiting task run as far as it goes before shutdown.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    setup.write(&[0], "/hooks/b", "");
    let report = reloader.reload().await.expect("the reload is applied");
    assert_eq!(report.sources.restarted, ["hook"]);
    let served = post_json(format!("http://{address}/hooks/b"), b"{}".to_vec()).await;
    assert_ne!(served, StatusCode::NOT_FOUND);
    setup.shutdown.cancel();
    waiting.await.unwrap().unwrap();
    assert!(matches!(
        reloader.reload().await,
        Err(ReloadError::ShuttingDown)
    ));
    setup.sim_shutdown.cancel();
}

/// The events a file sink of the setup wrote to `file`.
fn lines_of(setup: &Setup, file: &str) -> Vec<Event> {
    std::fs::read_to_string(setup.dir.path().join(file))
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn a_reload_that_adds_a_route_turns_a_sinks_events_into_grouped_notifications() {
    let grouped = "  - { name: grouped, type: file, path: grouped.jsonl }\n";
    let setup = Setup::start(&[0], "/hooks/a").await;
    setup.write_with_sinks(&[0], "/hooks/a", "", grouped);
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let post = |uuid: &str| {
        let alarm = crate::support::sdwan_alarm(
            "webhook-interface-state-change-down-2019.json",
            uuid,
            None,
        );
        post_json(setup.url("/hooks/a"), alarm)
    };
    // No route: the sink takes each alarm through its own (empty) match.
    assert_eq!(post("uuid-before").await, StatusCode::OK);
    wait_until("the alarm is written as it is", || {
        lines_of(&setup, "grouped.jsonl")
            .iter()
            .any(|event| event.source_name() == "hook")
    })
    .await;

    setup.write_with_sinks(
        &[0],
        "/hooks/a",
        "",
        &format!(
            "{grouped}routes:\n  - {{ name: noc, match: {{ source: [hook] }}, sinks: [grouped], group_wait: 1s }}\n"
        ),
    );
    let (status, report) = setup.reload().await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(post("uuid-after").await, StatusCode::OK);
    wait_until("the route's notification is written", || {
        lines_of(&setup, "grouped.jsonl")
            .iter()
            .any(netpulse::route::is_notification)
    })
    .await;
    let lines = lines_of(&setup, "grouped.jsonl");
    let alarms: Vec<_> = lines
        .iter()
        .filter(|event| event.source_name() == "hook")
        .collect();
    assert_eq!(
        alarms.len(),
        1,
        "only the alarm from before the route: {lines:?}"
    );
    let notification: netpulse::route::Notification = serde_json::from_value(
        lines
            .iter()
            .find(|event| netpulse::route::is_notification(event))
            .unwrap()
            .data
            .clone(),
    )
    .unwrap();
    assert_eq!(notification.route, "noc");
    assert_eq!(notification.alarms.len(), 1, "{notification:?}");
    assert!(
        notification.alarms[0].key.contains("uuid-after"),
        "{notification:?}"
    );
    setup.stop().await;
}
