use super::*;

fn mo(class: &str, pairs: &[(&str, &str)]) -> Mo {
    Mo {
        class: class.into(),
        attributes: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn port(oper: &str, ts: &str) -> Mo {
    mo(
        "ethpmPhysIf",
        &[
            ("dn", "sys/intf/phys-[eth1/1]/phys"),
            ("rn", "phys"),
            ("operSt", oper),
            ("modTs", ts),
            ("status", ""),
        ],
    )
}

fn pushed(status: &str, pairs: &[(&str, &str)]) -> Mo {
    let mut object = mo("ethpmPhysIf", pairs);
    object
        .attributes
        .insert("dn".into(), "sys/intf/phys-[eth1/1]/phys".into());
    object.attributes.insert("rn".into(), "".into());
    object.attributes.insert("status".into(), status.into());
    object
}

#[test]
fn first_reconcile_reports_everything_as_created() {
    let mut view = DeviceView::default();
    let changes = view.reconcile(&[port("up", "2026-01-01T00:00:00.001+00:00")]);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].status, Status::Created);
    assert_eq!(view.len(), 1);
}

#[test]
fn a_modification_is_reported_once_and_its_repeat_is_suppressed() {
    let mut view = DeviceView::default();
    view.reconcile(&[port("up", "2026-01-01T00:00:00.001+00:00")]);
    let push = pushed(
        "modified",
        &[
            ("operSt", "down"),
            ("modTs", "2026-01-01T00:00:00.002+00:00"),
        ],
    );
    let change = view.apply_push(&push).expect("a real change");
    assert_eq!(change.status, Status::Modified);
    assert_eq!(change.attributes["operSt"], "down");
    assert_eq!(
        view.apply_push(&push),
        None,
        "the same push again is a duplicate"
    );
}

#[test]
fn a_push_older_than_the_view_is_ignored() {
    let mut view = DeviceView::default();
    view.reconcile(&[port("down", "2026-01-01T00:00:05.000+00:00")]);
    let stale = pushed(
        "modified",
        &[("operSt", "up"), ("modTs", "2026-01-01T00:00:01.000+00:00")],
    );
    assert_eq!(view.apply_push(&stale), None);
    assert_eq!(view.objects()[0].1["operSt"], "down");
}

#[test]
fn reconcile_reports_only_what_changed_during_the_gap() {
    let mut view = DeviceView::default();
    let vlan = |id: &str| {
        mo(
            "l2BD",
            &[
                ("dn", &format!("sys/bd/bd-[vlan-{id}]")),
                ("id", id),
                ("modTs", "t0"),
            ],
        )
    };
    view.reconcile(&[port("up", "t0"), vlan("101"), vlan("102")]);
    let changes = view.reconcile(&[port("down", "t1"), vlan("101"), vlan("103")]);
    let summary: Vec<_> = changes.iter().map(|c| (c.status, c.dn.as_str())).collect();
    assert_eq!(
        summary,
        [
            (Status::Modified, "sys/intf/phys-[eth1/1]/phys"),
            (Status::Created, "sys/bd/bd-[vlan-103]"),
            (Status::Deleted, "sys/bd/bd-[vlan-102]"),
        ]
    );
    let modified = &changes[0].attributes;
    assert_eq!(modified["operSt"], "down");
    assert_eq!(modified["status"], "modified");
    assert!(!modified.contains_key("rn"), "a modified body is sparse");
}

/// A port that went down and up again while netpulse was away: same attributes, newer modTs.
#[test]
fn an_object_touched_during_the_gap_is_reported_with_its_new_mod_ts_alone() {
    let mut view = DeviceView::default();
    view.reconcile(&[port("up", "2026-01-01T00:00:00.001+00:00")]);
    let unchanged = view.reconcile(&[port("up", "2026-01-01T00:00:00.001+00:00")]);
    assert!(unchanged.is_empty(), "{unchanged:?}");
    let changes = view.reconcile(&[port("up", "2026-01-01T00:05:00.000+00:00")]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].status, Status::Modified);
    let published = &changes[0].attributes;
    assert_eq!(
        published.keys().map(String::as_str).collect::<Vec<_>>(),
        ["dn", "modTs", "status"]
    );
    assert_eq!(published["modTs"], "2026-01-01T00:05:00.000+00:00");
}

#[test]
fn a_delete_of_an_unknown_object_is_no_change() {
    let mut view = DeviceView::default();
    assert_eq!(
        view.apply_push(&pushed("deleted", &[("modTs", "t1")])),
        None
    );
}

#[test]
fn a_created_push_fills_in_the_rn_from_the_dn() {
    let mut view = DeviceView::default();
    view.apply_push(&pushed("created", &[("operSt", "up"), ("modTs", "t1")]))
        .unwrap();
    let (class, attributes) = &view.objects()[0];
    assert_eq!(class, "ethpmPhysIf");
    assert_eq!(attributes["rn"], "phys");
    assert!(!attributes.contains_key("status"));
}
