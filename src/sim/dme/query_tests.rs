use super::*;
use crate::sim::dme::tree::test_leaf;

fn leaf() -> Mit {
    test_leaf(3, 2, 0)
}

fn dns(query: &Query, mit: &Mit) -> Vec<String> {
    query
        .select(mit)
        .into_iter()
        .map(|(dn, _)| dn.to_owned())
        .collect()
}

#[test]
fn parses_all_path_spellings_with_brackets() {
    for path in [
        "/api/mo/sys/intf/phys-[eth1/1].json",
        "/api/node/mo/sys/intf/phys-[eth1/1].json",
        "/api/mo/sys/intf/phys-%5Beth1%2F1%5D.json",
        "/api/node/mo/sys/intf/phys-%5beth1/1%5d.json",
    ] {
        let query = Query::parse(path, None).unwrap();
        assert_eq!(
            query.target,
            Target::Mo("sys/intf/phys-[eth1/1]".into()),
            "{path}"
        );
        assert_eq!(query.scope, Scope::Itself);
    }
    for path in ["/api/class/l1PhysIf.json", "/api/node/class/l1PhysIf.json"] {
        assert_eq!(
            Query::parse(path, None).unwrap().target,
            Target::Class("l1PhysIf".into())
        );
    }
    for bad in [
        "/api/mo/.json",
        "/api/mo/sys",
        "/api/thing/sys.json",
        "/api/class/a/b.json",
        "/socket",
    ] {
        assert!(Query::parse(bad, None).is_err(), "{bad}");
    }
    assert!(
        Query::parse("/api/mo/sys.xml", None)
            .unwrap_err()
            .contains("XML")
    );
}

#[test]
fn parses_options_encoded_or_not() {
    let raw = r#"query-target=subtree&target-subtree-class=l1PhysIf,ethpmPhysIf&query-target-filter=eq(ethpmPhysIf.operSt,"down")&rsp-subtree=full&subscription=yes"#;
    let encoded = "query-target=subtree&target-subtree-class=l1PhysIf%2CethpmPhysIf&query-target-filter=eq(ethpmPhysIf.operSt%2C%22down%22)&rsp-subtree=full&subscription=yes";
    for text in [raw, encoded] {
        let query = Query::parse("/api/mo/sys/intf.json", Some(text)).unwrap();
        assert_eq!(query.scope, Scope::Subtree);
        assert_eq!(query.subtree_classes, vec!["l1PhysIf", "ethpmPhysIf"]);
        assert!(query.filter.is_some());
        assert_eq!(query.rsp_subtree, RspSubtree::Full);
        assert_eq!(query.subscription, Some(true));
    }
}

#[test]
fn plus_is_literal_and_repeated_keys_keep_the_last() {
    let query = Query::parse(
        "/api/class/l1PhysIf.json",
        Some(r#"query-target=children&query-target-filter=eq(l1PhysIf.descr,"a+b")&query-target=subtree&&flag"#),
    )
    .unwrap();
    assert_eq!(query.scope, Scope::Subtree, "last query-target wins");
    let attrs = Attrs::from_pairs([("descr", "a+b")]);
    assert!(query.filter.unwrap().matches("l1PhysIf", &attrs));
}

#[test]
fn rejects_bad_option_values() {
    for raw in [
        "query-target=everything",
        "rsp-subtree=some",
        "subscription=maybe",
        "query-target-filter=eq(a.b",
    ] {
        assert!(
            Query::parse("/api/mo/sys.json", Some(raw)).is_err(),
            "{raw}"
        );
    }
}

#[test]
fn identity_ignores_order_subscription_and_refresh_timeout() {
    let first = Query::parse(
        "/api/class/l2BD.json",
        Some("subscription=yes&query-target=self&rsp-subtree=no"),
    )
    .unwrap();
    let second = Query::parse(
        "/api/class/l2BD.json",
        Some("rsp-subtree=no&query-target=self&subscription=no&refresh-timeout=90"),
    )
    .unwrap();
    assert_eq!(first.identity, second.identity);
    assert_eq!(second.refresh_timeout, Some(Duration::from_secs(90)));
    let other = Query::parse("/api/class/l2BD.json", Some("query-target=children")).unwrap();
    assert_ne!(first.identity, other.identity);
    let huge = Query::parse("/api/class/l2BD.json", Some("refresh-timeout=86400")).unwrap();
    assert_eq!(huge.refresh_timeout, Some(MAX_REFRESH_TIMEOUT));
}

#[test]
fn selects_self_children_subtree_and_classes() {
    let mit = leaf();
    let mo = |raw: &str| Query::parse("/api/mo/sys/intf.json", Some(raw)).unwrap();
    assert_eq!(dns(&mo(""), &mit), vec!["sys/intf"]);
    assert_eq!(dns(&mo("query-target=children"), &mit).len(), 3);
    assert_eq!(
        dns(&mo("query-target=subtree"), &mit).len(),
        7,
        "the root and six descendants"
    );
    let oper = dns(
        &mo("query-target=subtree&target-subtree-class=ethpmPhysIf"),
        &mit,
    );
    assert_eq!(oper.len(), 3);
    assert!(oper.iter().all(|dn| dn.ends_with("/phys")));
    let class = Query::parse("/api/class/l1PhysIf.json", None).unwrap();
    assert_eq!(
        dns(&class, &mit),
        vec![
            "sys/intf/phys-[eth1/1]",
            "sys/intf/phys-[eth1/2]",
            "sys/intf/phys-[eth1/3]"
        ]
    );
    let class_children =
        Query::parse("/api/class/l1PhysIf.json", Some("query-target=children")).unwrap();
    assert_eq!(dns(&class_children, &mit).len(), 3);
    let unknown = Query::parse("/api/mo/sys/nothing-here.json", None).unwrap();
    assert!(dns(&unknown, &mit).is_empty());
}

#[test]
fn filter_applies_to_selection() {
    let mut mit = leaf();
    let down = crate::sim::dme::api::Change::Set {
        dn: "sys/intf/phys-[eth1/2]/phys".into(),
        attrs: [("operSt".to_owned(), "down".to_owned())].into(),
    };
    mit.apply(&down, 1).unwrap();
    let query = Query::parse(
        "/api/class/ethpmPhysIf.json",
        Some(r#"query-target-filter=eq(ethpmPhysIf.operSt,"down")"#),
    )
    .unwrap();
    assert!(dns(&query, &mit).contains(&"sys/intf/phys-[eth1/2]/phys".to_owned()));
    assert!(
        query
            .select(&mit)
            .iter()
            .all(|(_, mo)| mo.attrs.get("operSt") == Some("down"))
    );
}

#[test]
fn covers_matches_changed_objects_like_select() {
    let mit = leaf();
    let class_of = |dn: &str| mit.get(dn).map(|mo| mo.class.clone());
    let oper = mit.get("sys/intf/phys-[eth1/1]/phys").unwrap();
    let oper_dn = "sys/intf/phys-[eth1/1]/phys";
    let covers = |path: &str, raw: &str| {
        Query::parse(path, Some(raw))
            .unwrap()
            .covers(&oper.class, oper_dn, &oper.attrs, &class_of)
    };
    assert!(covers("/api/mo/sys/intf.json", "query-target=subtree"));
    assert!(covers(
        "/api/mo/sys/intf.json",
        "query-target=subtree&target-subtree-class=l1PhysIf,ethpmPhysIf"
    ));
    assert!(!covers(
        "/api/mo/sys/intf.json",
        "query-target=subtree&target-subtree-class=l1PhysIf"
    ));
    assert!(!covers("/api/mo/sys/intf.json", "query-target=children"));
    assert!(covers(
        "/api/mo/sys/intf/phys-[eth1/1].json",
        "query-target=children"
    ));
    assert!(covers("/api/mo/sys/intf/phys-[eth1/1]/phys.json", ""));
    assert!(!covers("/api/mo/sys/intf/phys-[eth1/1].json", ""));
    assert!(covers("/api/class/ethpmPhysIf.json", ""));
    assert!(!covers("/api/class/l1PhysIf.json", ""));
    assert!(covers("/api/class/l1PhysIf.json", "query-target=children"));
    assert!(covers(
        "/api/class/interfaceEntity.json",
        "query-target=subtree"
    ));
    assert!(!covers("/api/class/bdEntity.json", "query-target=subtree"));
    assert!(!covers(
        "/api/mo/sys/intf/phys-[eth1.json",
        "query-target=subtree"
    ));
}
