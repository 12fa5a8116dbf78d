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

/// Parses a configuration of one source: `head` (its `name:` and `type:` lines) then the
/// `entry` lines, with only the environment variable `variable` set (to `secret`).
pub(super) fn parse_source(
    head: &str,
    entry: &str,
    variable: &str,
) -> Result<Config, ConfigErrors> {
    let yaml = format!("sources:\n  - {head}\n{entry}");
    Config::parse_with(&yaml, Path::new("."), &|name| {
        (name == variable).then(|| "secret".to_owned())
    })
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
    assert!(errors.contains("sinks[1] (room2).base_url"), "{errors}");
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

#[test]
fn a_source_name_with_a_colon_is_refused_for_every_type() {
    // Alarm and redelivery keys are `<source>:...`: `a:b` could take the keys of a source `a`.
    let entries = [
        MINIMAL.replace("name: leaf1", "name: \"leaf:1\""),
        "sources:\n  - { name: \"ise:1\", type: pxgrid, address: \"https://ise:8910\", node_name: netpulse }\n"
            .to_owned(),
        "sources:\n  - { name: \"bot:1\", type: webex_events, token: x }\n".to_owned(),
    ];
    for (text, name) in entries.iter().zip(["leaf:1", "ise:1", "bot:1"]) {
        let errors = parse(text).unwrap_err().0;
        let place = format!("sources[0] ({name}).name");
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with(&place) && error.contains("must not contain ':'")),
            "{name}: {errors:?}"
        );
    }
}

#[test]
fn no_source_may_take_netpulses_own_name() {
    // netpulse's notifications and operator events (silences) come from the source `netpulse`:
    // a webhook source of that name could forge them.
    let errors = parse(&MINIMAL.replace("name: leaf1", "name: netpulse"))
        .unwrap_err()
        .0;
    assert!(
        errors
            .iter()
            .any(|error| error.starts_with("sources[0].name") && error.contains("netpulse's own")),
        "{errors:?}"
    );
}

#[test]
fn entries_after_one_that_fails_to_deserialize_keep_their_own_index() {
    let text = "
sources:
  - { name: broken, type: telnet }
  - name: leaf2
    type: dme
    address: not a url
    username: admin
    password: x
    subscriptions: [/api/class/l2BD.json]
sinks:
  - { name: odd, type: carrier-pigeon }
  - { name: out, type: stdout }
  - { name: out, type: stdout }
  - { name: bot, type: webex, token: t, room_id: noc, commands: { per_minute: 0 } }
";
    let errors = parse(text).unwrap_err().0.join("\n");
    assert!(
        errors.contains("sources[0] (line 3): unknown variant `telnet`"),
        "{errors}"
    );
    assert!(
        errors.contains("sources[1] (leaf2).address: \"not a url\" is not a URL"),
        "{errors}"
    );
    assert!(
        errors.contains("sinks[0] (line 11): unknown variant"),
        "{errors}"
    );
    assert!(
        errors.contains("sinks[2].name: the name \"out\" is used twice"),
        "{errors}"
    );
    assert!(
        errors.contains("sinks[3] (bot).commands.per_minute: must be at least 1"),
        "{errors}"
    );
    assert!(!errors.contains("sinks[1].name"), "{errors}");
    assert!(!errors.contains("sinks[2] (bot)"), "{errors}");
    assert!(!errors.contains("sources[0] (leaf2)"), "{errors}");
}

/// Parses every `*.yaml` under `examples/` with every environment variable set and every
/// `ca_file` it names present, so a new example is checked without being listed here.
#[test]
fn every_example_configuration_parses() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut parsed = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|ext| ext.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        for line in text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
        {
            if let Some((_, rest)) = line.split_once("ca_file:") {
                let name = rest.trim().split([' ', '}', ',']).next().unwrap();
                std::fs::write(scratch.path().join(name), "").unwrap();
            }
        }
        let any_env = |name: &str| env(name).or_else(|| Some("example-secret-0123456789".into()));
        if let Err(errors) = Config::parse_with(&text, scratch.path(), &any_env) {
            panic!("{}: {errors}", path.display());
        }
        parsed.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for shipped in ["alerting.yaml", "netpulse.yaml"] {
        assert!(
            parsed.iter().any(|name| name == shipped),
            "{shipped} in {parsed:?}"
        );
    }
}

fn alerting_example() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/alerting.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("apic1-ca.pem"), "").unwrap();
    Config::parse_with(&text, scratch.path(), &|_| Some("x".into())).unwrap()
}

/// The event a fixture's snapshot says its source makes, with `source` as the source's name.
fn fixture_event(path: &str, source: &str) -> crate::event::Event {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut event: crate::event::Event = serde_json::from_value(snapshot["event"].clone()).unwrap();
    event.source = format!("/netpulse/{source}");
    event
}

#[test]
fn the_example_inhibition_rules_take_the_real_alarms_they_are_written_for() {
    use crate::route::Matcher;
    let config = alerting_example();
    let rule = |name: &str| {
        let rule = config
            .inhibit_rules
            .iter()
            .find(|rule| rule.name.as_deref() == Some(name))
            .unwrap();
        (
            Matcher::new(&rule.source).unwrap(),
            Matcher::new(&rule.target).unwrap(),
            rule.equal.clone(),
        )
    };

    let (source, target, equal) = rule("sdwan-control-down-inhibits-bfd");
    let control_down = fixture_event(
        "sdwan/rest-alarm-control-node-down-inactive-20.x.json.snap",
        "vmanage",
    );
    let bfd = fixture_event(
        "sdwan/rest-alarm-bfd-tloc-down-active-20.x.json.snap",
        "vmanage",
    );
    let vbond = fixture_event(
        "sdwan/webhook-control-vbond-state-change-down-2023.json.snap",
        "vmanage",
    );
    assert_eq!(source.mismatch(&control_down), None);
    assert_eq!(target.mismatch(&bfd), None);
    assert!(!source.matches(&bfd) && !target.matches(&control_down));
    // A vBond state change is a control alarm but not an edge's lost control connections.
    assert!(!source.matches(&vbond), "{:?}", source.mismatch(&vbond));
    assert_eq!(equal, ["device"]);

    let (source, target, equal) = rule("catc-unreachable-inhibits-interfaces");
    let interface_down = fixture_event(
        "catalyst-center/dnac-2019-interface-down-p1-active.json.snap",
        "catalyst-center",
    );
    assert_eq!(target.mismatch(&interface_down), None);
    assert!(!source.matches(&interface_down));
    // No fixture of an unreachable device: the same issue shape, as Catalyst Center names one.
    let mut unreachable = interface_down.clone();
    unreachable.data["details"]["Assurance Issue Name"] =
        "Network Device 10.93.141.17 Is Unreachable From Controller".into();
    assert_eq!(source.mismatch(&unreachable), None);
    assert!(!target.matches(&unreachable));
    assert_eq!(equal, ["device"]);

    let (source, target, _) = rule("apic-node-fault-inhibits-port-faults");
    let fault: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/dme/faultInst-F0546-attributes-port-down.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // As the DME source normalizes it: data is the object, the device its fabric node.
    let mut port_fault = crate::event::Event::new(
        "apic1",
        "com.cisco.dme.created",
        jiff::Timestamp::now(),
        serde_json::json!({"faultInst": {"attributes": fault}}),
    );
    port_fault.device = "pod-1/node-103".into();
    port_fault.severity = crate::event::Severity::Warning;
    assert_eq!(target.mismatch(&port_fault), None);
    assert!(!source.matches(&port_fault));
    let mut node_fault = port_fault.clone();
    node_fault.data["faultInst"]["attributes"]["dn"] =
        "topology/pod-1/node-103/sys/fault-F1543".into();
    node_fault.severity = crate::event::Severity::Critical;
    assert_eq!(source.mismatch(&node_fault), None);
    assert!(!target.matches(&node_fault));
}

const ALERTING_BASE: &str = "
sources:
  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { none: true } }
sinks:
  - { name: room, type: stdout }
  - { name: log, type: stdout, match: { min_severity: major } }
";

fn alerting_errors(extra: &str) -> Vec<String> {
    parse(&format!("{ALERTING_BASE}{extra}")).unwrap_err().0
}

#[test]
fn a_valid_policy_parses() {
    let config = parse(&format!(
        "{ALERTING_BASE}
time_intervals:
  - name: nights
    time_intervals: [{{ times: [{{ start_time: '22:00', end_time: '24:00' }}] }}]
routes:
  - name: sdwan
    match: {{ source: [vmanage], data: [{{ pointer: /site_id, regex: '1|2' }}] }}
    sinks: [room]
    group_by: [device, /site_id]
    mute_time_intervals: [nights]
    routes:
      - {{ match: {{ min_severity: critical }}, group_by: ['...'], repeat_interval: 0s }}
inhibit_rules:
  - {{ source: {{ device: [a] }}, target: {{}}, equal: [device] }}
"
    ))
    .unwrap();
    assert_eq!(config.routes[0].routes.len(), 1);
    assert_eq!(config.time_intervals[0].name, "nights");
}

#[test]
fn every_mistake_in_routes_is_reported_with_its_place() {
    let errors = alerting_errors(
        "
time_intervals:
  - name: nights
    time_intervals: [{ weekdays: [funday] }]
  - name: nights
    time_intervals: []
routes:
  - name: sdwan
    match: { data: [{ pointer: site_id, equals: 1 }] }
    sinks: [room, nowhere]
    group_by: [host, '...']
    group_interval: 0s
    mute_time_intervals: [weekends]
    flapping: { cycles: 1 }
    routes:
      - name: sdwan
        match: { data: [{ pointer: /x, regex: '(' }] }
      - {}
      - { name: 'a/b' }
  - { name: route-1.2, repeat_interval: 1m }
",
    );
    let has = |place: &str, words: &str| {
        errors
            .iter()
            .any(|error| error.starts_with(place) && error.contains(words))
    };
    for (place, words) in [
        (
            "time_intervals[0] (nights).time_intervals[0].weekdays[0]",
            "\"funday\" is not a weekday",
        ),
        (
            "time_intervals[1].name",
            "the name \"nights\" is used twice",
        ),
        (
            "routes[0] (sdwan).match",
            "data[0]: the pointer \"site_id\" must start with '/'",
        ),
        (
            "routes[0] (sdwan).sinks[1]",
            "no sink is named \"nowhere\" (sinks: room, log)",
        ),
        (
            "routes[0] (sdwan).group_by[0]",
            "unknown attribute \"host\"",
        ),
        (
            "routes[0] (sdwan).group_by",
            "\"...\" (each alarm its own group) must be the only attribute",
        ),
        ("routes[0] (sdwan).group_interval", "at least 1s"),
        (
            "routes[1] (route-1.2).repeat_interval",
            "shorter than group_interval",
        ),
        (
            "routes[0] (sdwan).mute_time_intervals[0]",
            "no time interval is named \"weekends\"",
        ),
        ("routes[0] (sdwan).flapping.cycles", "at least 2"),
        (
            "routes[0].routes[0].name",
            "the route name \"sdwan\" is used twice",
        ),
        (
            "routes[0].routes[0] (sdwan).match",
            "the regular expression \"(\" does not compile",
        ),
        ("routes[0].routes[2].name", "\"a/b\" must not contain '/'"),
        (
            "routes[1].name",
            "the route name \"route-1.2\" is used twice",
        ),
    ] {
        assert!(has(place, words), "{place}: {words}\nnot in {errors:#?}");
    }
    assert_eq!(errors.len(), 14, "{errors:#?}");
}

#[test]
fn a_sink_a_route_names_must_leave_its_match_to_the_route() {
    let errors = alerting_errors("routes:\n  - { sinks: [log] }\n  - { sinks: [log, room] }\n");
    assert_eq!(
        errors,
        [
            "sinks[1] (log).match: routes[0] sends this sink its notifications, so the sink's own match would never apply: move the match into the route (or a child route of it)"
        ]
    );
}

#[test]
fn a_sinks_own_match_and_inhibition_rules_are_checked() {
    let text = "
sources:
  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { none: true } }
sinks:
  - { name: room, type: stdout, match: { data: [{ pointer: /a, regex: '[' }] } }
inhibit_rules:
  - { name: r, source: {}, target: { data: [{ pointer: /b }] }, equal: ['...', nodename] }
  - { name: r, source: { device: [x] }, target: {} }
";
    let errors = parse(text).unwrap_err().0;
    for (place, words) in [
        (
            "sinks[0] (room).match",
            "the regular expression \"[\" does not compile",
        ),
        ("inhibit_rules[0] (r).source", "is empty"),
        (
            "inhibit_rules[0] (r).target",
            "data[0]: set equals or regex",
        ),
        ("inhibit_rules[0] (r).equal[0]", "unknown attribute \"...\""),
        (
            "inhibit_rules[0] (r).equal[1]",
            "unknown attribute \"nodename\"",
        ),
        ("inhibit_rules[1].name", "the name \"r\" is used twice"),
    ] {
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with(place) && error.contains(words)),
            "{place}: {words}\nnot in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 6, "{errors:#?}");
}

#[test]
fn names_are_not_called_unknown_when_their_list_failed_to_parse() {
    // The sink `room` did not deserialize (a typo); the route naming it must not add a
    // misleading "no sink is named" to the real error. Same for a broken time interval.
    let text = "
sources:
  - { name: vmanage, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: { none: true } }
sinks:
  - { name: room, type: stdout, fromat: text }
time_intervals:
  - { name: nights, time_intervals: [], typo: 1 }
routes:
  - { sinks: [room], mute_time_intervals: [nights] }
";
    let errors = parse(text).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("unknown field `fromat`"), "{errors:#?}");
    assert!(errors[1].contains("unknown field `typo`"), "{errors:#?}");
}

#[test]
fn webex_actions_take_room_or_people_and_at_most_three_silence_buttons() {
    let sink = |actions: &str| {
        format!(
            "sources:\n  - {{ name: hooks, type: webhook, provider: sdwan, path: /hooks/sdwan, auth: {{ none: true }} }}\nsinks:\n  - {{ name: bot, type: webex, token: t, room_id: noc, actions: {actions} }}\n"
        )
    };
    let actions = |text: &str| match &parse(&sink(text)).unwrap().sinks[0] {
        SinkConfig::Webex(webex) => webex.actions.clone().unwrap(),
        _ => unreachable!(),
    };
    let defaults = actions("{}");
    assert_eq!(defaults.allow, ActionAllow::Keyword(AllowKeyword::Room));
    assert_eq!(
        defaults.silence_buttons,
        [Duration::from_secs(3600), Duration::from_secs(86_400)]
    );
    let people = actions(
        "{ allow: { emails: [alice@example.com], domains: [noc.example.net] }, silence_buttons: [30m] }",
    );
    assert_eq!(
        people.allow,
        ActionAllow::People {
            emails: vec!["alice@example.com".into()],
            domains: vec!["noc.example.net".into()],
        }
    );
    assert_eq!(people.silence_buttons, [Duration::from_secs(1800)]);
    let errors = parse(&sink(
        "{ allow: { emails: [alice], domains: ['*.example.com'] }, silence_buttons: [1h, 1h, 200d, 0s] }",
    ))
    .unwrap_err()
    .0
    .join("\n");
    for expected in [
        "sinks[0] (bot).actions.silence_buttons: at most 3",
        "actions.silence_buttons[1]: the same duration is listed twice",
        "actions.silence_buttons[2]: a silence lasts at most 90 days",
        "actions.silence_buttons[3]: must be a whole number of seconds above 0",
        "actions.allow.emails[0]: \"alice\" is not an email address",
        "actions.allow.domains[0]: must be a domain such as example.com",
    ] {
        assert!(errors.contains(expected), "{expected} in {errors}");
    }
    let errors = parse(&sink("{ allow: { emails: [] } }"))
        .unwrap_err()
        .0
        .join("\n");
    assert!(errors.contains("actions.allow: names nobody"), "{errors}");
}

const CLUSTER: &str = "
cluster:
  node_id: g1
  nats: { urls: [\"nats://127.0.0.1:4222\", \"nats://127.0.0.1:4223\"] }
";

#[test]
fn a_cluster_section_parses_with_defaults_that_outlast_a_nats_election() {
    let config = parse(&format!("{MINIMAL}{CLUSTER}")).unwrap();
    let cluster = config.cluster.unwrap();
    assert_eq!(cluster.node(), "g1");
    assert_eq!(cluster.stream.name, "NP_EVENTS");
    let lease = &cluster.lease;
    assert!(lease.renew < lease.self_fence && lease.self_fence < lease.ttl);
    // A renewal stalled by an election (measured up to 7.8 s on a loaded machine) must not make
    // an owner fence itself: what a stall may last is self_fence - renew.
    assert!(lease.self_fence - lease.renew >= std::time::Duration::from_secs(10));
}

#[test]
fn cluster_mistakes_are_reported_at_their_place() {
    let text = format!(
        "{MINIMAL}
cluster:
  node_id: \"g 1\"
  nats:
    urls: [\"http://x:4222/a b\"]
    user: np
    token: t
    tls: {{ cert_file: c.pem }}
  lease: {{ ttl: 5s, renew: 5s, self_fence: 6s }}
"
    );
    let errors = parse(&text).unwrap_err().0.join("\n");
    for expected in [
        "cluster.node_id: use 1 to 64 letters",
        "cluster.nats.urls[0]: \"http://x:4222/a b\" is not a NATS server address",
        "cluster.nats: user and password go together",
        "cluster.nats: choose one way to authenticate",
        "cluster.nats.tls: cert_file and key_file go together",
        "cluster.lease: renew < self_fence < ttl is required",
    ] {
        assert!(
            errors.contains(expected),
            "{expected:?} missing in:\n{errors}"
        );
    }
    let errors = parse(&format!(
        "{MINIMAL}\ncluster:\n  nats: {{ url: nats://x }}\n"
    ))
    .unwrap_err()
    .0
    .join("\n");
    assert!(
        errors.contains("cluster (line 13): unknown field `url`"),
        "{errors}"
    );
}

#[test]
fn alerting_routes_and_topology_are_refused_in_cluster_mode() {
    let text = format!(
        "{MINIMAL}{CLUSTER}
routes:
  - {{ match: {{ min_severity: critical }}, sinks: [out] }}
topology: {{}}
"
    );
    let errors = parse(&text).unwrap_err().0;
    let joined = errors.join("\n");
    for section in ["routes", "topology"] {
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with(&format!("{section}: "))
                    && error.contains("not yet available in cluster mode")),
            "{section} not refused: {joined}"
        );
    }
    // Without `cluster:` the same sections are fine.
    let single = format!(
        "{MINIMAL}
routes:
  - {{ match: {{ min_severity: critical }}, sinks: [out] }}
topology: {{}}
"
    );
    parse(&single).unwrap();
}
