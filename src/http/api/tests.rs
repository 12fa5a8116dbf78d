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
        let method = if path.ends_with("/retry") || path.ends_with("/reload") {
            "post"
        } else {
            "get"
        };
        assert!(item[method].is_object(), "{path} documents {method}");
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
