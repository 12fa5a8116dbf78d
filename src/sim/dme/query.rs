//! DME REST queries: parsing `/api/[node/]mo/<dn>.json` and `/api/[node/]class/<class>.json` with
//! their options, selecting the matching objects, and deciding whether a changed object falls
//! under a subscribed query.
//!
//! Parsing is deliberately permissive, like the devices: `[ ] , ( ) "` may arrive unencoded (some
//! clients break the device if they encode them), percent-escapes are decoded, and `+` is a
//! literal plus (tokens and filter values contain it), never a space. When an option is repeated
//! (real GUI traffic repeats `query-target`), the LAST occurrence wins; which one a device honours
//! is UNKNOWN. Options the simulator does not implement (`rsp-subtree-class`,
//! `rsp-subtree-include`, `rsp-prop-include`, `order-by`, `page`, `page-size`, ...) are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::attrs::Attrs;
use super::filter::Filter;
use super::mit::{Mit, Mo, is_descendant, parent_dn};

/// Whether `refresh-timeout=<seconds>` on a subscribing query sets that subscription's lifetime.
/// It is documented for APIC; NX-OS support is UNKNOWN, so the simulator accepts it like APIC.
pub const HONOUR_REFRESH_TIMEOUT: bool = true;
/// The largest `refresh-timeout` honoured; larger values are clamped. UNKNOWN on the devices
/// (600 s is the largest value seen working on APIC).
pub const MAX_REFRESH_TIMEOUT: Duration = Duration::from_secs(600);

/// What a query starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `/api/mo/<dn>.json`: one object by distinguished name.
    Mo(String),
    /// `/api/class/<class>.json`: every instance of a class.
    Class(String),
}

/// `query-target`: the object(s) themselves, their direct children, or their whole subtree
/// (including themselves, as on the devices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Itself,
    Children,
    Subtree,
}

/// `rsp-subtree`: how much of each returned object's subtree is nested in the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RspSubtree {
    No,
    Children,
    Full,
}

/// A parsed query.
#[derive(Clone, Debug)]
pub struct Query {
    pub target: Target,
    pub scope: Scope,
    /// `target-subtree-class`; empty means every class. Applies to `children` and `subtree`.
    pub subtree_classes: Vec<String>,
    pub filter: Option<Filter>,
    pub rsp_subtree: RspSubtree,
    /// `subscription=yes` (Some(true)) or `subscription=no` (Some(false)).
    pub subscription: Option<bool>,
    pub refresh_timeout: Option<Duration>,
    /// The path and every option except `subscription` and `refresh-timeout`, order-insensitive:
    /// `subscription=no` removes the session's subscriptions with the same identity.
    pub identity: String,
}

impl Query {
    /// Parses the raw (still percent-encoded) path and query string of a request. The error is
    /// the text of the device's 400 answer.
    pub fn parse(path: &str, raw_query: Option<&str>) -> Result<Query, String> {
        let target = parse_target(path)?;
        let options = parse_options(raw_query.unwrap_or(""));
        let option = |name: &str| options.get(name).map(String::as_str);
        let scope = match option("query-target").unwrap_or("self") {
            "self" => Scope::Itself,
            "children" => Scope::Children,
            "subtree" => Scope::Subtree,
            other => {
                return Err(format!(
                    "Invalid value {other:?} for query-target (expected self, children or subtree)"
                ));
            }
        };
        let rsp_subtree = match option("rsp-subtree").unwrap_or("no") {
            "no" => RspSubtree::No,
            "children" => RspSubtree::Children,
            "full" => RspSubtree::Full,
            other => {
                return Err(format!(
                    "Invalid value {other:?} for rsp-subtree (expected no, children or full)"
                ));
            }
        };
        let subscription = match option("subscription") {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(other) => {
                return Err(format!(
                    "Invalid value {other:?} for subscription (expected yes or no)"
                ));
            }
        };
        let filter = match option("query-target-filter").filter(|text| !text.is_empty()) {
            Some(text) => Some(
                Filter::parse(text)
                    .map_err(|error| format!("Invalid query-target-filter {text:?}: {error}"))?,
            ),
            None => None,
        };
        let subtree_classes = option("target-subtree-class")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|class| !class.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        // Unparsable values are ignored (the subscription gets the default lifetime): what a
        // device does with `refresh-timeout=60m0s` is UNKNOWN.
        let refresh_timeout = option("refresh-timeout")
            .filter(|_| HONOUR_REFRESH_TIMEOUT)
            .and_then(|text| text.parse::<u64>().ok())
            .filter(|seconds| *seconds > 0)
            .map(|seconds| Duration::from_secs(seconds).min(MAX_REFRESH_TIMEOUT));
        let identity = identity(&target, &options);
        Ok(Query {
            target,
            scope,
            subtree_classes,
            filter,
            rsp_subtree,
            subscription,
            refresh_timeout,
            identity,
        })
    }

    /// The objects the query returns, in dn order, without duplicates.
    pub fn select<'a>(&self, mit: &'a Mit) -> Vec<(&'a str, &'a Mo)> {
        let roots: Vec<(&str, &Mo)> = match &self.target {
            Target::Mo(dn) => mit.entry(dn).into_iter().collect(),
            Target::Class(class) => mit.iter().filter(|(_, mo)| *mo.class == **class).collect(),
        };
        let mut seen = BTreeSet::new();
        let mut selected = Vec::new();
        for (root_dn, root) in roots {
            let candidates: Vec<(&str, &Mo)> = match self.scope {
                Scope::Itself => vec![(root_dn, root)],
                Scope::Children => mit.children(root_dn).collect(),
                Scope::Subtree => std::iter::once((root_dn, root))
                    .chain(mit.descendants(root_dn))
                    .collect(),
            };
            for (dn, mo) in candidates {
                if self.accepts(&mo.class, &mo.attrs) && seen.insert(dn) {
                    selected.push((dn, mo));
                }
            }
        }
        selected.sort_by_key(|(dn, _)| *dn);
        selected
    }

    /// Whether an object with this class, dn and attributes falls under the query.
    /// `class_of` names the class of another object by dn (needed for class queries with
    /// `children`/`subtree`, whose scope is defined by the class of an ancestor).
    pub fn covers(
        &self,
        class: &str,
        dn: &str,
        attrs: &Attrs,
        class_of: &dyn Fn(&str) -> Option<Arc<str>>,
    ) -> bool {
        let in_scope = match (&self.target, self.scope) {
            (Target::Mo(target), Scope::Itself) => dn == target,
            (Target::Mo(target), Scope::Children) => parent_dn(dn) == Some(target.as_str()),
            (Target::Mo(target), Scope::Subtree) => dn == target || is_descendant(dn, target),
            (Target::Class(wanted), Scope::Itself) => class == wanted,
            (Target::Class(wanted), Scope::Children) => parent_dn(dn)
                .and_then(class_of)
                .is_some_and(|parent| *parent == **wanted),
            (Target::Class(wanted), Scope::Subtree) => {
                class == wanted || has_ancestor_of_class(dn, wanted, class_of)
            }
        };
        in_scope && self.accepts(class, attrs)
    }

    fn accepts(&self, class: &str, attrs: &Attrs) -> bool {
        let class_ok = self.scope == Scope::Itself
            || self.subtree_classes.is_empty()
            || self.subtree_classes.iter().any(|wanted| wanted == class);
        class_ok
            && self
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(class, attrs))
    }
}

fn has_ancestor_of_class(
    dn: &str,
    wanted: &str,
    class_of: &dyn Fn(&str) -> Option<Arc<str>>,
) -> bool {
    let mut current = dn;
    while let Some(parent) = parent_dn(current) {
        if class_of(parent).is_some_and(|class| *class == *wanted) {
            return true;
        }
        current = parent;
    }
    false
}

fn parse_target(path: &str) -> Result<Target, String> {
    let invalid = || {
        format!(
            "Invalid request path {path:?}: expected /api/[node/]mo/<dn>.json or /api/[node/]class/<class>.json"
        )
    };
    let rest = path.strip_prefix("/api/").ok_or_else(invalid)?;
    let rest = rest.strip_prefix("node/").unwrap_or(rest);
    let (kind, rest) = rest.split_once('/').ok_or_else(invalid)?;
    if rest.ends_with(".xml") {
        return Err("XML responses are not supported by the simulator; use .json".to_owned());
    }
    let name = rest.strip_suffix(".json").ok_or_else(invalid)?;
    let name = decode(name);
    if name.is_empty() {
        return Err(invalid());
    }
    match kind {
        "mo" => Ok(Target::Mo(name)),
        "class" if !name.contains('/') => Ok(Target::Class(name)),
        _ => Err(invalid()),
    }
}

/// Splits a raw query string into options; a repeated option keeps its last value.
fn parse_options(raw_query: &str) -> BTreeMap<String, String> {
    raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Percent-decodes; `+` stays a plus. Invalid UTF-8 is replaced rather than rejected.
pub fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn identity(target: &Target, options: &BTreeMap<String, String>) -> String {
    let mut identity = match target {
        Target::Mo(dn) => format!("mo:{dn}"),
        Target::Class(class) => format!("class:{class}"),
    };
    for (name, value) in options {
        if name != "subscription" && name != "refresh-timeout" {
            identity.push_str(&format!("&{name}={value}"));
        }
    }
    identity
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
