//! The OpenAPI document against the routes.

use std::collections::BTreeSet;

use super::{OPENAPI, PATHS};

#[test]
fn the_openapi_document_lists_exactly_the_served_paths() {
    let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    assert_eq!(document["openapi"], "3.0.3");
    let documented: BTreeSet<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let served: BTreeSet<&str> = PATHS.into_iter().collect();
    assert_eq!(documented, served);
    for (path, item) in document["paths"].as_object().unwrap() {
        let methods: &[&str] = if path.ends_with("/retry")
            || path.ends_with("/reload")
            || path.ends_with("/ack")
            || path.ends_with("/close")
        {
            &["post"]
        } else if path.ends_with("/silences") || path.ends_with("/windows") {
            &["get", "post"]
        } else if path.ends_with("/silences/{id}") || path.ends_with("/windows/{id}") {
            &["delete"]
        } else {
            &["get"]
        };
        for method in methods {
            assert!(item[method].is_object(), "{path} documents {method}");
        }
        let documented = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| ["get", "post", "put", "patch", "delete"].contains(&key.as_str()));
        assert_eq!(
            documented.count(),
            methods.len(),
            "{path} documents only what is served"
        );
    }
}

#[test]
fn every_schema_reference_resolves() {
    let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let text = OPENAPI;
    for reference in text.split("\"$ref\": \"#/components/").skip(1) {
        let target = reference.split('"').next().unwrap();
        let mut node = &document["components"];
        for part in target.split('/') {
            node = &node[part];
        }
        assert!(node.is_object(), "#/components/{target} is missing");
    }
}
