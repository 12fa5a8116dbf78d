//! What `netpulse check` refuses in webhook sources, each with its place in the file.

use std::path::Path;

use crate::config::Config;

/// The errors of a file with these source entries (and a sink), or none.
fn errors(sources: &str) -> Vec<String> {
    let text = format!("sources:\n{sources}sinks:\n  - {{ name: out, type: stdout }}\n");
    let env = |name: &str| match name {
        "SECRET" => Some("s3cret".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    match Config::parse_with(&text, Path::new("."), &env) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0,
    }
}

fn source(name: &str, path: &str) -> String {
    format!(
        "  - {{ name: {name}, type: webhook, provider: cloudevents, path: \"{path}\", auth: {{ bearer: {{ secret: \"${{SECRET}}\" }} }} }}\n"
    )
}

#[test]
fn distinct_plain_paths_pass() {
    let errors = errors(&[source("a", "/hooks/a"), source("b", "/hooks/b-1_x.y~z")].concat());
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn two_webhook_sources_with_one_path_are_refused_with_both_places() {
    let errors = errors(&[source("a", "/hooks/x"), source("b", "/hooks/x")].concat());
    assert!(
        errors
            .iter()
            .any(|error| error.starts_with("sources[1] (b).path")
                && error.contains("\"/hooks/x\"")
                && error.contains("sources[0] (a)")),
        "{errors:?}"
    );
}

#[test]
fn a_path_with_route_syntax_is_refused_not_taken_as_a_wildcard() {
    for path in [
        "/hooks/{x}",
        "/hooks/{*rest}",
        "/hooks/:id",
        "/hooks/*",
        "/hooks/a}",
    ] {
        let errors = errors(&source("a", path));
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with("sources[0] (a).path") && error.contains(path)),
            "{path}: {errors:?}"
        );
    }
}

#[test]
fn a_name_with_a_colon_is_refused_as_it_would_share_another_sources_keys() {
    let errors = errors(&source("a:b", "/hooks/a"));
    assert!(
        errors
            .iter()
            .any(|error| error.starts_with("sources[0] (a:b).name") && error.contains("':'")),
        "{errors:?}"
    );
}

#[test]
fn an_empty_basic_password_is_refused_like_every_other_empty_secret() {
    for password in ["\"\"", "\"${EMPTY}\""] {
        let errors = errors(&format!(
            "  - {{ name: a, type: webhook, provider: sdwan, path: /hooks/a, auth: {{ basic: {{ username: u, password: {password} }} }} }}\n"
        ));
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with("sources[0] (a).auth.basic")
                    && error.contains("empty")),
            "{password}: {errors:?}"
        );
    }
}
