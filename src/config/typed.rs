//! From the YAML's generic values to typed configuration, one entry or section at a time:
//! `${ENV}` references expanded inside string values (after parsing, so a secret can never inject
//! YAML; every value looked up is hidden from the error messages), then each entry deserialized
//! on its own, its problems reported at its place (`sources[2] (line 14)`).

use std::collections::BTreeMap;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::Problems;

/// The entries of a list that all deserialized; with any broken entry (reported), none: an
/// alerting policy with a rule left out would notify what the operator meant to hold back.
pub(super) fn typed_list<T: serde::de::DeserializeOwned>(
    entries: &[Spanned<Value>],
    list: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Vec<T> {
    let typed = typed_entries(entries, list, env, problems);
    if typed.len() == entries.len() {
        typed.into_iter().map(|(_, entry)| entry).collect()
    } else {
        Vec::new()
    }
}

/// Expands `${VAR}` inside one section (`store:`, `http:`) and deserializes it; a missing or
/// broken section leaves the defaults (the error is reported).
pub(super) fn typed_section<T: serde::de::DeserializeOwned + Default>(
    section: Option<&Spanned<Value>>,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> T {
    let Some(section) = section else {
        return T::default();
    };
    typed_entries(std::slice::from_ref(section), name, env, problems)
        .pop()
        .map(|(_, typed)| typed)
        .unwrap_or_default()
}

/// Expands `${VAR}` inside every string, then deserializes each entry on its own; each entry
/// that deserializes comes back with its index in `entries`.
pub(super) fn typed_entries<T: serde::de::DeserializeOwned>(
    entries: &[Spanned<Value>],
    list: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Vec<(usize, T)> {
    let mut typed = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let place = format!("{list}[{index}] (line {})", entry.referenced.line());
        if let Some(entry) = typed_value(entry, &place, env, problems) {
            typed.push((index, entry));
        }
    }
    typed
}

/// An optional section as `T`, or `None` with its problems reported at `name (line …)`.
pub(super) fn typed_optional<T: serde::de::DeserializeOwned>(
    section: &Spanned<Value>,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<T> {
    let place = format!("{name} (line {})", section.referenced.line());
    typed_value(section, &place, env, problems)
}

fn typed_value<T: serde::de::DeserializeOwned>(
    entry: &Spanned<Value>,
    place: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<T> {
    let mut value = entry.value.clone();
    let mut missing = BTreeMap::new();
    let looked_up = std::cell::RefCell::new(Vec::new());
    let recording = |name: &str| {
        let value = env(name);
        if let Some(value) = &value {
            looked_up
                .borrow_mut()
                .push((value.clone(), format!("${{{name}}}")));
        }
        value
    };
    expand_env(&mut value, "", &recording, &mut missing);
    for (value, shown_as) in looked_up.into_inner() {
        problems.hide(&value, shown_as);
    }
    for (path, message) in &missing {
        problems.push(&format!("{place}{path}"), message);
    }
    match serde_json::from_value::<T>(value) {
        Ok(entry) => Some(entry),
        Err(err) => {
            problems.push(place, err);
            None
        }
    }
}

fn expand_env(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    missing: &mut BTreeMap<String, String>,
) {
    match value {
        Value::String(text) => match interpolate(text, env) {
            Ok(expanded) => *text = expanded,
            Err(message) => {
                missing.insert(path.to_owned(), message);
            }
        },
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand_env(item, &format!("{path}[{index}]"), env, missing);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                expand_env(item, &format!("{path}.{key}"), env, missing);
            }
        }
        _ => {}
    }
}

/// Replaces `${NAME}` with the variable's value; `$${` stands for a literal `${`.
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(reference) = after.strip_prefix("${") {
            let end = reference
                .find('}')
                .ok_or_else(|| format!("unterminated ${{...}} in {text:?}"))?;
            let name = &reference[..end];
            let value = env(name).ok_or_else(|| {
                format!("environment variable {name} is not set (referenced as ${{{name}}})")
            })?;
            out.push_str(&value);
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}
