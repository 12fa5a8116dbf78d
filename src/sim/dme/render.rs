//! JSON bodies exactly as the devices write them: the error envelope, query responses, login
//! answers and WebSocket pushes. Written by hand rather than through `serde_json::Value` so the
//! key order matches the captures (`totalCount` first, attributes sorted by name) and a push's
//! attributes are rendered once however many sockets receive it.

use super::mit::{Mit, Mo, MoChange};
use super::query::RspSubtree;

/// `{"totalCount":"1","imdata":[{"error":{"attributes":{"code":"..","text":".."}}}]}`.
pub fn error_body(code: u16, text: &str) -> String {
    let mut out = format!(
        r#"{{"totalCount":"1","imdata":[{{"error":{{"attributes":{{"code":"{code}","text":"#
    );
    push_str(&mut out, text);
    out.push_str("}}}]}");
    out
}

/// A query answer: `{"totalCount":"n"[,"subscriptionId":"id"],"imdata":[...]}`, every object with
/// `status:""` and `childAction:""`, children nested per `rsp-subtree`.
pub fn query_body(
    mit: &Mit,
    selected: &[(&str, &Mo)],
    rsp_subtree: RspSubtree,
    subscription_id: Option<u64>,
) -> String {
    let mut out = format!(r#"{{"totalCount":"{}","#, selected.len());
    if let Some(id) = subscription_id {
        out.push_str(&format!(r#""subscriptionId":"{id}","#));
    }
    out.push_str(r#""imdata":["#);
    for (index, (dn, mo)) in selected.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_stored_mo(&mut out, mit, dn, mo, rsp_subtree);
    }
    out.push_str("]}");
    out
}

fn push_stored_mo(out: &mut String, mit: &Mit, dn: &str, mo: &Mo, rsp_subtree: RspSubtree) {
    out.push('{');
    push_str(out, &mo.class);
    out.push_str(r#":{"attributes":"#);
    let mut attrs: Vec<(&str, &str)> = mo
        .attrs
        .iter()
        .chain([("childAction", ""), ("status", "")])
        .collect();
    attrs.sort_by_key(|(name, _)| *name);
    push_attributes(out, attrs);
    if rsp_subtree != RspSubtree::No {
        let nested = if rsp_subtree == RspSubtree::Full {
            RspSubtree::Full
        } else {
            RspSubtree::No
        };
        let mut children = mit.children(dn).peekable();
        if children.peek().is_some() {
            out.push_str(r#","children":["#);
            for (index, (child_dn, child)) in children.enumerate() {
                if index > 0 {
                    out.push(',');
                }
                push_stored_mo(out, mit, child_dn, child, nested);
            }
            out.push(']');
        }
    }
    out.push_str("}}");
}

/// The `imdata` element of a push for one changed object: `{"<class>":{"attributes":{..}}}`.
/// Created objects carry every attribute; modified ones only what changed plus the identity
/// fields; deleted ones only the identity fields. `rn` is always `""` in pushes, as captured.
pub fn push_element(change: &MoChange) -> String {
    let mut attrs: Vec<(&str, &str)> = Vec::new();
    let status = match (&change.old, &change.new) {
        (None, Some(new)) => {
            attrs.extend(new.iter().filter(|(name, _)| *name != "rn"));
            "created"
        }
        (Some(old), Some(new)) => {
            attrs.extend(
                old.changed_names(new)
                    .into_iter()
                    .filter_map(|name| Some((name, new.get(name)?))),
            );
            attrs.retain(|(name, _)| !matches!(*name, "dn" | "rn" | "modTs"));
            attrs.push(("dn", &change.dn));
            attrs.push(("modTs", &change.mod_ts));
            "modified"
        }
        _ => {
            attrs.push(("dn", &change.dn));
            attrs.push(("modTs", &change.mod_ts));
            "deleted"
        }
    };
    attrs.extend([("rn", ""), ("status", status), ("childAction", "")]);
    attrs.sort_by_key(|(name, _)| *name);
    let mut out = String::from("{");
    push_str(&mut out, &change.class);
    out.push_str(r#":{"attributes":"#);
    push_attributes(&mut out, attrs);
    out.push_str("}}");
    out
}

/// A whole push frame: `{"subscriptionId":["id",..],"imdata":[element]}` (no `totalCount`).
pub fn push_frame(subscription_ids: &[u64], element: &str) -> String {
    let mut out = String::with_capacity(element.len() + 40 + subscription_ids.len() * 24);
    out.push_str(r#"{"subscriptionId":["#);
    for (index, id) in subscription_ids.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{id}\""));
    }
    out.push_str(r#"],"imdata":["#);
    out.push_str(element);
    out.push_str("]}");
    out
}

/// The answer to `aaaLogin` and `aaaRefresh`, shaped like the NX-OS sandbox capture.
pub fn login_body(attributes: &[(&str, &str)]) -> String {
    let mut out = String::from(r#"{"imdata":[{"aaaLogin":{"attributes":"#);
    push_attributes(&mut out, attributes.iter().copied());
    out.push_str(concat!(
        r#","children":[{"aaaUserDomain":{"attributes":{"name":"all","rolesR":"admin","rolesW":"admin"},"#,
        r#""children":[{"aaaReadRoles":{"attributes":{}}},{"aaaWriteRoles":{"attributes":{},"#,
        r#""children":[{"role":{"attributes":{"name":"network-admin"}}}]}}]}}]}}]}"#
    ));
    out
}

/// `{"name":"value",...}` in the given order.
fn push_attributes<'a>(out: &mut String, attrs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (index, (name, value)) in attrs.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    }
    out.push('}');
}

/// Appends `text` as a JSON string literal.
fn push_str(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if (control as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", control as u32))
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
