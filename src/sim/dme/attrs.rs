//! Compact attribute storage for managed objects: a sorted vector of (interned name, value).
//!
//! Benchmarks run 2,000 simulated switches of ~120 objects each in one process, so the attribute
//! maps dominate the simulator's memory. Attribute and class names repeat across every object and
//! device, so they are interned once per process as `Arc<str>`; a sorted `Vec` costs far less than a
//! `BTreeMap` or `HashMap` for maps of ten to fifteen entries.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

static NAMES: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Returns the process-wide shared copy of `name` (class and attribute names).
pub fn intern(name: &str) -> Arc<str> {
    let mut names = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(existing) = names.get(name) {
        return existing.clone();
    }
    let shared: Arc<str> = Arc::from(name);
    names.insert(shared.clone());
    shared
}

/// Values so common in the tree (sorted) that they are stored as static references: most
/// attributes of ports and VLANs hold one of these, and each separate allocation would cost
/// 32 bytes or more.
const COMMON_VALUES: [&str; 27] = [
    "",
    "0",
    "1",
    "1-4094",
    "10G",
    "1500",
    "Layer2",
    "access",
    "active",
    "admin-down",
    "auto",
    "bridge,route",
    "discovery",
    "down",
    "full",
    "in-service",
    "leaf",
    "link-failure",
    "mac",
    "mdst-flood",
    "none",
    "on",
    "phys",
    "unknown",
    "unspecified",
    "up",
    "vlan-1",
];

/// One attribute value: a common value by reference, anything else owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Common(&'static str),
    Owned(Box<str>),
}

impl Value {
    fn new(text: &str) -> Value {
        match COMMON_VALUES.binary_search(&text) {
            Ok(index) => Value::Common(COMMON_VALUES[index]),
            Err(_) => Value::Owned(text.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Value::Common(text) => text,
            Value::Owned(text) => text,
        }
    }
}

/// The attributes of one managed object, sorted by name. Values are always strings, as on the
/// device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs(Vec<(Arc<str>, Value)>);

impl Attrs {
    /// Builds attributes from pairs; a later pair overrides an earlier one with the same name.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Attrs {
        let mut attrs = Attrs::default();
        for (name, value) in pairs {
            attrs.set(name, value);
        }
        attrs
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .ok()
            .map(|index| self.0[index].1.as_str())
    }

    /// Sets `name` to `value` and says whether the stored value changed.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        match self.position(name) {
            Ok(index) if self.0[index].1.as_str() == value => false,
            Ok(index) => {
                self.0[index].1 = Value::new(value);
                true
            }
            Err(index) => {
                self.0.insert(index, (intern(name), Value::new(value)));
                true
            }
        }
    }

    /// Releases spare capacity: objects live long and there are hundreds of thousands of them.
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }

    /// Iterates over (name, value) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (&**name, value.as_str()))
    }

    /// Names whose value differs between `self` (old) and `new`, including names only in `new`.
    /// A name present only in `self` is not reported: the device never removes attributes.
    pub fn changed_names<'a>(&self, new: &'a Attrs) -> Vec<&'a str> {
        new.iter()
            .filter(|(name, value)| self.get(name) != Some(value))
            .map(|(name, _)| name)
            .collect()
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(existing, _)| (**existing).cmp(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_order_and_reports_changes() {
        let mut attrs = Attrs::from_pairs([("b", "2"), ("a", "1")]);
        assert_eq!(
            attrs.iter().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "2")]
        );
        assert!(!attrs.set("a", "1"));
        assert!(attrs.set("a", "9"));
        assert!(attrs.set("c", "3"));
        assert_eq!(attrs.get("a"), Some("9"));
        assert_eq!(attrs.get("zz"), None);
    }

    #[test]
    fn changed_names_lists_new_and_different_values() {
        let old = Attrs::from_pairs([("a", "1"), ("b", "2")]);
        let new = Attrs::from_pairs([("a", "1"), ("b", "3"), ("c", "4")]);
        assert_eq!(old.changed_names(&new), vec!["b", "c"]);
    }

    #[test]
    fn common_values_are_sorted_and_not_allocated() {
        assert!(COMMON_VALUES.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(Value::new("up"), Value::Common("up"));
        assert_eq!(Value::new("eth1/1"), Value::Owned("eth1/1".into()));
    }

    #[test]
    fn names_are_shared() {
        assert!(Arc::ptr_eq(&intern("operSt"), &intern("operSt")));
    }
}
