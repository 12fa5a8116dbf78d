use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::sim::dme::api::Change;
use crate::sim::dme::query::Query;
use crate::sim::dme::tree::test_leaf;

fn leaf() -> Mit {
    test_leaf(2, 1, 1_571_427_749_000)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn error_envelope_matches_the_capture_byte_for_byte() {
    let fixture = r#"{"totalCount":"1","imdata":[{"error":{"attributes":{"code":"405","text":"Subscription request failed, unable to locate opened web socket. Please re-login to the application"}}}]}"#;
    let text = "Subscription request failed, unable to locate opened web socket. Please re-login to the application";
    assert_eq!(error_body(405, text), fixture);
    assert_eq!(
        parse(&error_body(400, "quote \" and \\ and \n"))["imdata"][0]["error"]["attributes"]["text"],
        "quote \" and \\ and \n"
    );
}

#[test]
fn modified_push_is_sparse() {
    let mut mit = leaf();
    let attrs = BTreeMap::from([("descr".to_owned(), "test".to_owned())]);
    let records = mit
        .apply(
            &Change::Set {
                dn: "sys/intf/phys-[eth1/1]".into(),
                attrs,
            },
            1_571_427_749_446,
        )
        .unwrap();
    let frame = push_frame(&[18_374_686_685_813_276_673], &push_element(&records[0]));
    // The NX-OS programmability guide's example notification, field for field.
    let expected = json!({"subscriptionId":["18374686685813276673"],"imdata":[{"l1PhysIf":{"attributes":{
        "childAction":"","descr":"test","dn":"sys/intf/phys-[eth1/1]","modTs":"2019-10-18T19:42:29.446+00:00",
        "rn":"","status":"modified"}}}]});
    assert_eq!(parse(&frame), expected);
    assert!(!frame.contains("totalCount"));
}

#[test]
fn created_push_has_every_attribute_and_empty_rn() {
    let mut mit = leaf();
    let change = Change::Create {
        class: "l2BD".into(),
        dn: "sys/bd/bd-[vlan-300]".into(),
        attrs: BTreeMap::from([("fabEncap".to_owned(), "vlan-300".to_owned())]),
    };
    let records = mit.apply(&change, 1_571_427_749_446).unwrap();
    let element = parse(&push_element(&records[0]));
    let attributes = &element["l2BD"]["attributes"];
    assert_eq!(attributes["status"], "created");
    assert_eq!(attributes["rn"], "");
    assert_eq!(attributes["childAction"], "");
    assert_eq!(attributes["fabEncap"], "vlan-300");
    assert_eq!(attributes["dn"], "sys/bd/bd-[vlan-300]");
    assert_eq!(attributes["modTs"], "2019-10-18T19:42:29.446+00:00");
}

#[test]
fn deleted_push_carries_identity_only() {
    let mut mit = leaf();
    let records = mit
        .apply(
            &Change::Delete {
                dn: "sys/bd/bd-[vlan-101]".into(),
            },
            1_571_427_749_446,
        )
        .unwrap();
    let element = parse(&push_element(&records[0]));
    let expected = json!({"l2BD":{"attributes":{"childAction":"","dn":"sys/bd/bd-[vlan-101]",
        "modTs":"2019-10-18T19:42:29.446+00:00","rn":"","status":"deleted"}}});
    assert_eq!(element, expected);
}

#[test]
fn query_body_has_status_child_action_and_subscription_id() {
    let mit = leaf();
    let query = Query::parse(
        "/api/mo/sys/intf/phys-[eth1/1].json",
        Some("rsp-subtree=children"),
    )
    .unwrap();
    let selected = query.select(&mit);
    let body = query_body(&mit, &selected, query.rsp_subtree, Some(u64::MAX - 1));
    assert!(
        body.starts_with(r#"{"totalCount":"1","subscriptionId":"18446744073709551614","imdata":["#),
        "{body}"
    );
    let value = parse(&body);
    let port = &value["imdata"][0]["l1PhysIf"];
    assert_eq!(port["attributes"]["status"], "");
    assert_eq!(port["attributes"]["childAction"], "");
    assert_eq!(port["attributes"]["rn"], "phys-[eth1/1]");
    assert_eq!(
        port["children"][0]["ethpmPhysIf"]["attributes"]["rn"],
        "phys"
    );
    let empty = query_body(&mit, &[], RspSubtree::No, None);
    assert_eq!(empty, r#"{"totalCount":"0","imdata":[]}"#);
}

#[test]
fn full_subtree_nests_recursively() {
    let mit = leaf();
    let query = Query::parse("/api/mo/sys/intf.json", Some("rsp-subtree=full")).unwrap();
    let value = parse(&query_body(
        &mit,
        &query.select(&mit),
        query.rsp_subtree,
        None,
    ));
    let ports = value["imdata"][0]["interfaceEntity"]["children"]
        .as_array()
        .unwrap();
    assert_eq!(ports.len(), 2);
    assert!(ports[0]["l1PhysIf"]["children"][0]["ethpmPhysIf"].is_object());
    let shallow = Query::parse("/api/mo/sys/intf.json", Some("rsp-subtree=children")).unwrap();
    let value = parse(&query_body(
        &mit,
        &shallow.select(&mit),
        shallow.rsp_subtree,
        None,
    ));
    assert!(
        value["imdata"][0]["interfaceEntity"]["children"][0]["l1PhysIf"]
            .get("children")
            .is_none()
    );
}

#[test]
fn login_body_has_the_sandbox_shape() {
    let value = parse(&login_body(&[
        ("token", "a/b+c="),
        ("refreshTimeoutSeconds", "600"),
    ]));
    let login = &value["imdata"][0]["aaaLogin"];
    assert_eq!(login["attributes"]["token"], "a/b+c=");
    assert_eq!(
        login["children"][0]["aaaUserDomain"]["attributes"]["name"],
        "all"
    );
}
