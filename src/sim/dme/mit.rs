//! The management information tree (MIT) of one simulated switch: objects keyed by distinguished
//! name, and the application of [`Change`]s as lists of per-object create/modify/delete records
//! that the push fan-out turns into WebSocket notifications.
//!
//! Distinguished names nest with `/`, but relative names may contain `/` inside brackets
//! (`sys/intf/phys-[eth1/1]`), so every dn split here is bracket-aware.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};

use super::api::Change;
use super::attrs::{Attrs, intern};

/// Attributes that exist only in responses and pushes; they are never stored.
const TRANSIENT_ATTRIBUTES: [&str; 2] = ["status", "childAction"];

/// One managed object.
#[derive(Clone, Debug, PartialEq)]
pub struct Mo {
    pub class: Arc<str>,
    pub attrs: Attrs,
}

/// What one object went through in a change: created (`old` is `None`), deleted (`new` is `None`)
/// or modified (both). `mod_ts` is the device time of the change.
#[derive(Clone, Debug, PartialEq)]
pub struct MoChange {
    pub class: Arc<str>,
    pub dn: String,
    pub old: Option<Attrs>,
    pub new: Option<Attrs>,
    pub mod_ts: String,
}

/// The dn of the parent, or `None` for a top-level object such as `sys`.
pub fn parent_dn(dn: &str) -> Option<&str> {
    split_last_rn(dn).map(|(parent, _)| parent)
}

/// The relative name: the last bracket-aware segment of `dn`.
pub fn rn_of(dn: &str) -> &str {
    split_last_rn(dn).map_or(dn, |(_, rn)| rn)
}

fn split_last_rn(dn: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut last_slash = None;
    for (index, byte) in dn.bytes().enumerate() {
        match byte {
            b'[' => depth += 1,
            b']' => depth -= 1,
            b'/' if depth == 0 => last_slash = Some(index),
            _ => {}
        }
    }
    last_slash.map(|index| (&dn[..index], &dn[index + 1..]))
}

/// True when `dn` lies strictly below `ancestor` (a bracket-aware prefix test).
pub fn is_descendant(dn: &str, ancestor: &str) -> bool {
    let mut current = dn;
    while let Some(parent) = parent_dn(current) {
        if parent == ancestor {
            return true;
        }
        if parent.len() < ancestor.len() {
            return false;
        }
        current = parent;
    }
    false
}

/// Formats milliseconds since the epoch the way the DME does: `2019-10-18T19:42:29.446+00:00`.
pub fn format_mod_ts(millis: i64) -> String {
    match jiff::Timestamp::from_millisecond(millis) {
        Ok(timestamp) => timestamp
            .strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            .to_string(),
        Err(_) => "1970-01-01T00:00:00.000+00:00".to_owned(),
    }
}

/// The device's modification clock: strictly increasing per device (bumped by 1 ms when the
/// wall clock did not move) so that clients can order updates by `modTs`.
#[derive(Debug, Default)]
pub struct ModClock {
    last_millis: i64,
}

impl ModClock {
    pub fn next(&mut self, now_millis: i64) -> String {
        self.last_millis = now_millis.max(self.last_millis + 1);
        format_mod_ts(self.last_millis)
    }
}

/// The object tree of one device.
#[derive(Debug, Default)]
pub struct Mit {
    objects: BTreeMap<String, Mo>,
    pub clock: ModClock,
}

impl Mit {
    /// Inserts an object while building the initial tree; `dn` and `rn` are filled in.
    pub fn insert(&mut self, class: &str, dn: &str, mut attrs: Attrs) {
        attrs.set("dn", dn);
        attrs.set("rn", rn_of(dn));
        attrs.shrink();
        self.objects.insert(
            dn.to_owned(),
            Mo {
                class: intern(class),
                attrs,
            },
        );
    }

    pub fn get(&self, dn: &str) -> Option<&Mo> {
        self.objects.get(dn)
    }

    /// The object and its dn as stored (borrowed from the tree).
    pub fn entry(&self, dn: &str) -> Option<(&str, &Mo)> {
        self.objects
            .get_key_value(dn)
            .map(|(dn, mo)| (dn.as_str(), mo))
    }

    /// Every object in dn order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Mo)> {
        self.objects.iter().map(|(dn, mo)| (dn.as_str(), mo))
    }

    /// Every object strictly below `dn`, in dn order (parents before their children).
    pub fn descendants<'a>(&'a self, dn: &'a str) -> impl Iterator<Item = (&'a str, &'a Mo)> + 'a {
        let start = format!("{dn}/");
        self.objects
            .range(start.clone()..)
            .take_while(move |(candidate, _)| candidate.starts_with(&start))
            .filter(move |(candidate, _)| is_descendant(candidate, dn))
            .map(|(candidate, mo)| (candidate.as_str(), mo))
    }

    /// The direct children of `dn`, in dn order.
    pub fn children<'a>(&'a self, dn: &'a str) -> impl Iterator<Item = (&'a str, &'a Mo)> + 'a {
        self.descendants(dn)
            .filter(move |(candidate, _)| parent_dn(candidate) == Some(dn))
    }

    /// Applies a set, create or delete and returns what happened to each object, in the order the
    /// pushes must be sent. A set that changes nothing returns no record.
    pub fn apply(&mut self, change: &Change, now_millis: i64) -> anyhow::Result<Vec<MoChange>> {
        match change {
            Change::Set { dn, attrs } => self.set(dn, attrs, now_millis),
            Change::Create { class, dn, attrs } => self.create(class, dn, attrs, now_millis),
            Change::Delete { dn } => self.delete(dn, now_millis),
            Change::Random { .. } => bail!("random changes are expanded by the device generator"),
        }
    }

    fn set(
        &mut self,
        dn: &str,
        updates: &BTreeMap<String, String>,
        now_millis: i64,
    ) -> anyhow::Result<Vec<MoChange>> {
        let mo = self
            .objects
            .get(dn)
            .with_context(|| format!("no object with dn {dn:?}"))?;
        check_settable(mo, updates)?;
        let mut new = mo.attrs.clone();
        let changed = updates
            .iter()
            .filter(|(name, _)| !TRANSIENT_ATTRIBUTES.contains(&name.as_str()))
            .fold(false, |changed, (name, value)| {
                new.set(name, value) | changed
            });
        if !changed {
            return Ok(Vec::new());
        }
        let class = mo.class.clone();
        let mut records = vec![self.replace(dn, new, now_millis)];
        records.extend(self.admin_state_effects(&class, dn, now_millis));
        Ok(records)
    }

    /// Stores `new` for an existing `dn` with a fresh `modTs` and records the modification.
    fn replace(&mut self, dn: &str, mut new: Attrs, now_millis: i64) -> MoChange {
        let mod_ts = self.clock.next(now_millis);
        new.set("modTs", &mod_ts);
        let mo = self
            .objects
            .get_mut(dn)
            .expect("replace is called for existing objects");
        let old = std::mem::replace(&mut mo.attrs, new.clone());
        MoChange {
            class: mo.class.clone(),
            dn: dn.to_owned(),
            old: Some(old),
            new: Some(new),
            mod_ts,
        }
    }

    /// Shutting a port takes its link down (`operStQual` "admin-down"); enabling it brings the
    /// link back up, as a cabled port on a switch does. The link state lives in the `ethpmPhysIf`
    /// child, not in `l1PhysIf`.
    fn admin_state_effects(&mut self, class: &str, dn: &str, now_millis: i64) -> Option<MoChange> {
        if class != "l1PhysIf" {
            return None;
        }
        let admin_up = self.objects.get(dn)?.attrs.get("adminSt")? == "up";
        let (oper_st, qualifier) = if admin_up {
            ("up", "none")
        } else {
            ("down", "admin-down")
        };
        let oper_dn = format!("{dn}/phys");
        let oper = self.objects.get(&oper_dn)?;
        if oper.attrs.get("operSt") == Some(oper_st)
            && oper.attrs.get("operStQual") == Some(qualifier)
        {
            return None;
        }
        let mut new = oper.attrs.clone();
        new.set("operSt", oper_st);
        new.set("operStQual", qualifier);
        new.set("lastLinkStChg", &format_mod_ts(now_millis));
        Some(self.replace(&oper_dn, new, now_millis))
    }

    fn create(
        &mut self,
        class: &str,
        dn: &str,
        given: &BTreeMap<String, String>,
        now_millis: i64,
    ) -> anyhow::Result<Vec<MoChange>> {
        ensure!(!class.is_empty(), "class must not be empty");
        ensure!(!dn.is_empty(), "dn must not be empty");
        ensure!(
            !self.objects.contains_key(dn),
            "an object with dn {dn:?} already exists"
        );
        if let Some(parent) = parent_dn(dn) {
            ensure!(
                self.objects.contains_key(parent),
                "parent {parent:?} of {dn:?} does not exist"
            );
        }
        for (name, expected) in [("dn", dn), ("rn", rn_of(dn))] {
            if let Some(value) = given.get(name) {
                ensure!(
                    value == expected,
                    "attribute {name} is {value:?} but the dn implies {expected:?}"
                );
            }
        }
        let mut attrs = Attrs::default();
        for (name, value) in given {
            if !TRANSIENT_ATTRIBUTES.contains(&name.as_str()) && name != "modTs" {
                attrs.set(name, value);
            }
        }
        let mod_ts = self.clock.next(now_millis);
        attrs.set("modTs", &mod_ts);
        self.insert(class, dn, attrs);
        let new = self.objects[dn].attrs.clone();
        Ok(vec![MoChange {
            class: intern(class),
            dn: dn.to_owned(),
            old: None,
            new: Some(new),
            mod_ts,
        }])
    }

    /// Deletes `dn` and its subtree, children before their parent, one record per object.
    fn delete(&mut self, dn: &str, now_millis: i64) -> anyhow::Result<Vec<MoChange>> {
        ensure!(self.objects.contains_key(dn), "no object with dn {dn:?}");
        let mut doomed: Vec<String> = self
            .descendants(dn)
            .map(|(child, _)| child.to_owned())
            .collect();
        // Reverse dn order puts every descendant before its ancestors.
        doomed.reverse();
        doomed.push(dn.to_owned());
        let records = doomed
            .into_iter()
            .filter_map(|doomed_dn| {
                let mo = self.objects.remove(&doomed_dn)?;
                let mod_ts = self.clock.next(now_millis);
                Some(MoChange {
                    class: mo.class,
                    dn: doomed_dn,
                    old: Some(mo.attrs),
                    new: None,
                    mod_ts,
                })
            })
            .collect();
        Ok(records)
    }
}

fn check_settable(mo: &Mo, updates: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for (name, value) in updates {
        match name.as_str() {
            "dn" | "rn" => ensure!(
                mo.attrs.get(name) == Some(value.as_str()),
                "attribute {name} names the object and cannot be changed"
            ),
            "modTs" => bail!("attribute modTs is maintained by the device"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "mit_tests.rs"]
mod tests;
