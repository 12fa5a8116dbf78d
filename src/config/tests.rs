use std::path::Path;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "NXOS_PASSWORD" => Some("s3cret: #not yaml".into()),
        "VMANAGE_HOOK_PASSWORD" | "WEBEX_BOT_TOKEN" | "WEBEX_ROOM_ID" => Some("x".into()),
        "NETPULSE_API_TOKEN" => Some("example-token-0123456789".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse_with(text, Path::new("."), &env)
}

const MINIMAL: &str = "
sources:
  - name: leaf1
    type: dme
    address: https://10.10.10.177
    username: admin
    password: ${NXOS_PASSWORD}
    subscriptions: [/api/class/ethpmPhysIf.json]
sinks:
  - { name: out, type: stdout }
";

#[test]
fn unquoted_reference_in_a_flow_mapping_gets_a_hint() {
    let text = "sources: []\nhttp: { listen: ${LISTEN} }\n";
    let errors = parse(text).unwrap_err().0;
    assert!(errors[0].starts_with("invalid YAML"), "{errors:?}");
    assert!(
        errors[0].contains("write references in quotes"),
        "{errors:?}"
    );
}

#[test]
fn the_shipped_example_parses() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(folder.join("netpulse.yaml")).unwrap();
    // The example names a CA file next to it; give the check one to find.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("leaf1-ca.pem"), "").unwrap();
    let config = Config::parse_with(&text, scratch.path(), &env).unwrap();
    let SourceConfig::Dme(leaf) = &config.sources[0] else {
        panic!("a dme source")
    };
    assert_eq!(leaf.subscriptions.len(), 3);
    assert_eq!(
        leaf.subscription_refresh,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(config.sinks.len(), 3);
    let SourceConfig::Webhook(vmanage) = &config.sources[1] else {
        panic!("a webhook source")
    };
    assert_eq!(vmanage.path, "/hooks/sdwan");
    assert_eq!(config.http.listen.port(), 5001);
    assert_eq!(config.store.path, scratch.path().join("netpulse.db"));
    let SinkConfig::Webex(room) = &config.sinks[2] else {
        panic!("a webex sink")
    };
    assert_eq!(
        room.filter.min_severity,
        Some(crate::event::Severity::Major)
    );
    assert_eq!(room.filter.source, ["vmanage"]);
}

#[test]
fn secrets_are_expanded_after_parsing_so_they_cannot_inject_yaml() {
    let config = parse(MINIMAL).unwrap();
    let SourceConfig::Dme(leaf) = &config.sources[0] else {
        panic!("a dme source")
    };
    assert_eq!(leaf.password(), "s3cret: #not yaml");
    assert!(
        !format!("{leaf:?}").contains("s3cret"),
        "Debug must not show the password"
    );
}

#[test]
fn every_error_is_reported_with_its_place() {
    let text = "
sources:
  - name: leaf1
    type: dme
    address: not a url
    username: admin
    password: ${MISSING_PASSWORD}
    subscriptions: [/api/class/ethpmPhysIf]
  - name: leaf2
    type: dme
    adress: https://x
    username: admin
    password: x
    subscriptions: [/api/class/l2BD.json]
  - name: leaf3
    type: telnet
sinks: []
";
    let errors = parse(text).unwrap_err().0;
    let joined = errors.join("\n");
    assert!(
        joined.contains(
            "sources[0] (line 3).password: environment variable MISSING_PASSWORD is not set"
        ),
        "{joined}"
    );
    assert!(
        joined.contains("sources[0] (leaf1).address: \"not a url\" is not a URL"),
        "{joined}"
    );
    assert!(
        joined.contains("sources[0] (leaf1).subscriptions[0]")
            && joined.contains("must end with .json"),
        "{joined}"
    );
    assert!(
        joined.contains("sources[1] (line 9): unknown field `adress`"),
        "{joined}"
    );
    assert!(
        joined.contains("sources[2] (line 15): unknown variant `telnet`"),
        "{joined}"
    );
}

#[test]
fn unknown_top_level_keys_and_bad_yaml_are_rejected() {
    assert!(parse("source: []\n").unwrap_err().0[0].contains("unknown field"));
    assert!(parse("sources: [\n").unwrap_err().0[0].starts_with("invalid YAML"));
}

#[test]
fn duplicate_names_and_contradicting_tls_are_errors() {
    let text = format!("{MINIMAL}  - {{ name: out, type: stdout }}\n");
    let errors = parse(&text).unwrap_err().0;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("sinks[1].name") && e.contains("used twice")),
        "{errors:?}"
    );
    let insecure = MINIMAL.replace(
        "    subscriptions",
        "    tls: { insecure_skip_verify: true, ca_file: Cargo.toml }\n    subscriptions",
    );
    let errors = Config::parse_with(&insecure, Path::new(env!("CARGO_MANIFEST_DIR")), &env)
        .unwrap_err()
        .0;
    assert!(
        errors.iter().any(|e| e.contains("contradict")),
        "{errors:?}"
    );
}

#[test]
fn a_refresh_interval_at_or_over_the_device_timeout_is_refused() {
    let text = MINIMAL.replace(
        "    subscriptions",
        "    subscription_refresh: 60s\n    subscriptions",
    );
    let errors = parse(&text).unwrap_err().0;
    assert!(
        errors[0].contains("subscription_refresh") && errors[0].contains("under 60s"),
        "{errors:?}"
    );
}

#[test]
fn password_files_are_read_and_trimmed() {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("pw"), "from-file\n").unwrap();
    let text = MINIMAL.replace("password: ${NXOS_PASSWORD}", "password_file: pw");
    let config = Config::parse_with(&text, scratch.path(), &env).unwrap();
    let SourceConfig::Dme(leaf) = &config.sources[0] else {
        panic!("a dme source")
    };
    assert_eq!(leaf.password(), "from-file");
}

#[test]
fn interpolation_handles_literals_and_unterminated_references() {
    assert_eq!(interpolate("a$${b}c", &env).unwrap(), "a${b}c");
    assert_eq!(interpolate("cost $5", &env).unwrap(), "cost $5");
    assert!(
        interpolate("${NXOS_PASSWORD", &env)
            .unwrap_err()
            .contains("unterminated")
    );
}

#[test]
fn errors_never_show_a_value_from_the_environment() {
    let env = |name: &str| match name {
        "PASSWORD" => Some("SuperSecret-42".to_owned()),
        "QUOTED" => Some("Super\"Secret\\42".to_owned()),
        "URL" => Some("ftp://user:SuperSecret@host".to_owned()),
        _ => None,
    };
    let text = "
sources:
  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { none: true } }
sinks:
  - name: room
    type: webex
    token: t
    room_id: r
    rate_limit: \"${PASSWORD}\"
  - name: room2
    type: webex
    token: t
    room_id: r
    base_url: \"${URL}\"
http:
  max_connections: \"x${QUOTED}y\"
api:
  auth: { tokens: [ { name: ops, token: t0123456789abcdef, scope: \"${PASSWORD}\" } ] }
";
    let errors = Config::parse_with(text, Path::new("."), &env)
        .unwrap_err()
        .0
        .join("\n");
    for secret in ["SuperSecret", "Super\\\"Secret", "Super\"Secret"] {
        assert!(!errors.contains(secret), "{secret} in {errors}");
    }
    assert!(errors.contains("${PASSWORD}"), "{errors}");
    assert!(errors.contains("x${QUOTED}y"), "{errors}");
    assert!(errors.contains("${URL}"), "{errors}");
    assert!(errors.contains("sinks[0]"), "{errors}");
    assert!(errors.contains("(room2).base_url"), "{errors}");
}

#[test]
fn webex_commands_take_true_or_rooms_direct_and_a_rate() {
    let sink = |commands: &str| {
        format!(
            "sources:\n  - {{ name: hooks, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: {{ none: true }} }}\nsinks:\n  - {{ name: bot, type: webex, token: t, room_id: noc, commands: {commands} }}\n"
        )
    };
    let commands = |text: &str| match &parse(&sink(text)).unwrap().sinks[0] {
        SinkConfig::Webex(webex) => webex.commands.clone(),
        _ => unreachable!(),
    };
    assert_eq!(commands("false"), None);
    assert_eq!(commands("true"), Some(CommandsConfig::default()));
    let listed = commands("{ rooms: [lobby], direct: true, per_minute: 2 }").unwrap();
    assert_eq!(listed.rooms, ["lobby"]);
    assert!(listed.direct);
    assert_eq!(listed.per_minute, 2);
    let errors = parse(&sink("{ per_minute: 0 }")).unwrap_err().0.join("\n");
    assert!(
        errors.contains("commands.per_minute: must be at least 1"),
        "{errors}"
    );
    let errors = parse(&sink("{ room: [x] }")).unwrap_err().0.join("\n");
    assert!(errors.contains("unknown field `room`"), "{errors}");
}

#[test]
fn generic_mappings_and_standard_webhooks_secrets_are_checked_by_the_configuration_itself() {
    let text = "
sources:
  - name: hooks
    type: webhook
    provider: generic
    path: /hooks/generic
    auth: { none: true }
    mapping: { device: /host, summary: \"{{ message \" }
  - name: paired
    type: webhook
    provider: generic
    path: /hooks/paired
    auth: { none: true }
    mapping: { device: /host, summary: /message, alarm_key: /id }
  - name: standard
    type: webhook
    provider: generic
    path: /hooks/standard
    auth: { standard_webhooks: { secrets: [whsec_c2hvcnQ=] } }
    mapping: { device: /host, summary: /message }
";
    let errors = parse(text).unwrap_err().0;
    let has = |place: &str, words: &str| {
        errors
            .iter()
            .any(|error| error.contains(place) && error.contains(words))
    };
    assert!(
        has("(hooks).mapping", "summary: syntax error"),
        "{errors:#?}"
    );
    assert!(
        has("(paired).mapping", "alarm_key and alarm_state go together"),
        "{errors:#?}"
    );
    assert!(
        has(
            "(standard).auth.standard_webhooks.secrets[0]",
            "not a Standard Webhooks secret"
        ),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
}
