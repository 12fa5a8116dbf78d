//! The `netpulse` command as a user runs it.

use std::process::Command;

fn netpulse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netpulse"))
}

#[test]
fn check_reports_every_error_with_its_place_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.yaml");
    std::fs::write(
        &path,
        "sources:\n  - name: leaf1\n    type: dme\n    address: https://sw\n    username: admin\n    password: ${NETPULSE_TEST_UNSET_VARIABLE}\n    subscriptions: [/api/class/l2BD]\nsinks: []\nstore: { retention: 10s }\n",
    )
    .unwrap();
    let output = netpulse()
        .args(["check", "-c"])
        .arg(&path)
        .env_remove("NETPULSE_TEST_UNSET_VARIABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 configuration errors"), "{stderr}");
    assert!(stderr.contains("sources[0] (line 2).password: environment variable NETPULSE_TEST_UNSET_VARIABLE is not set"), "{stderr}");
    assert!(stderr.contains("subscriptions[0]"), "{stderr}");
    assert!(
        stderr.contains("store.retention: must be at least 1m"),
        "{stderr}"
    );
}

#[test]
fn check_accepts_the_shipped_example() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/netpulse.yaml"
    ))
    .unwrap();
    std::fs::write(dir.path().join("netpulse.yaml"), example).unwrap();
    std::fs::write(dir.path().join("leaf1-ca.pem"), "").unwrap();
    let output = netpulse()
        .args(["check", "-c"])
        .arg(dir.path().join("netpulse.yaml"))
        .env("NXOS_PASSWORD", "x")
        .env("VMANAGE_HOOK_PASSWORD", "x")
        .env("WEBEX_BOT_TOKEN", "x")
        .env("WEBEX_ROOM_ID", "x")
        .env("NETPULSE_API_TOKEN", "example-token-0123456789")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK (2 sources, 3 sinks)"));
}

/// A value from the environment in a field of the wrong type: the error names the field and the
/// variable, never the value (it may be a password put in the wrong place).
#[test]
fn check_never_prints_a_value_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.yaml");
    std::fs::write(
        &path,
        "sources:\n  - name: leaf1\n    type: dme\n    address: https://sw\n    username: admin\n    password: x\n    subscriptions: [/api/class/l2BD.json]\napi:\n  feed: { client_buffer: \"${NETPULSE_TEST_SECRET}\" }\n  auth: { tokens: [ { name: ops, token: t0123456789abcdef, scope: \"${NETPULSE_TEST_SECRET}\" } ] }\n",
    )
    .unwrap();
    let output = netpulse()
        .args(["check", "-c"])
        .arg(&path)
        .env("NETPULSE_TEST_SECRET", "SuperSecret\"42")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("SuperSecret"), "{stderr}");
    assert!(stderr.contains("${NETPULSE_TEST_SECRET}"), "{stderr}");
    assert!(stderr.contains("api"), "{stderr}");
}

/// What the README promises of the demo: grouped alarms reach the simulated room as a card with
/// buttons, a simulated operator acknowledges it from the room, and the thread says so.
#[test]
fn the_demo_shows_an_alarm_card_acknowledged_from_the_room() {
    let output = netpulse()
        .args(["demo", "--duration", "30s", "--alarm-rate", "1"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("[card buttons: Acknowledge | Silence 1 h | Silence 24 h]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✅ Acknowledged by alice@demo.example"),
        "{stdout}"
    );
    assert!(
        stdout.contains("acknowledged by alice@demo.example via Webex room"),
        "the operator event is in the log: {stdout}"
    );
}
