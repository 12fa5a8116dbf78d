//! netpulse's view of a device's subscribed objects, and the two ways it changes: a push applied
//! to it, and a resynchronisation that compares it with the objects the device returns after a
//! gap. Both give back only real changes, so a change is never reported twice. Pure, no IO.
//!
//! Each object is kept as its class and its attributes serialized to one compact JSON string
//! (keys sorted), which keeps thousands of devices' views small; `status` and `childAction` are
//! transport details and are not kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::protocol::{Mo, rn_of};
use crate::cluster::wire::ViewObject;

type Attributes = BTreeMap<String, String>;

/// Attributes that describe the message rather than the object.
const TRANSIENT: [&str; 2] = ["status", "childAction"];
/// Attributes that identify or timestamp an object; a change of these alone is no change.
const IDENTITY: [&str; 3] = ["dn", "rn", "modTs"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Modified,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Modified => "modified",
            Status::Deleted => "deleted",
        }
    }
}

/// A change worth an event: the object's class, dn, what happened and the attributes to publish
/// (as the device sent them for a push; full for created, sparse for modified when resynchronised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChange {
    pub class: String,
    pub dn: String,
    pub status: Status,
    pub attributes: Attributes,
}

#[derive(Debug, Clone)]
struct Stored {
    class: Arc<str>,
    attributes: Box<str>,
}

impl Stored {
    /// Keeps the attributes without what the key already says: the dn, and the rn when it is the
    /// dn's last part (it always is on a real device). Thousands of views make this worth it.
    fn new(dn: &str, class: Arc<str>, attributes: &Attributes) -> Stored {
        let derivable = |key: &str, value: &str| key == "dn" || (key == "rn" && value == rn_of(dn));
        let kept = KeptAttributes(
            attributes
                .iter()
                .filter(|(key, value)| !derivable(key, value)),
        );
        let json = serde_json::to_string(&kept).expect("string maps always serialize");
        Stored {
            class,
            attributes: json.into_boxed_str(),
        }
    }

    fn attributes(&self, dn: &str) -> Attributes {
        let mut attributes: Attributes =
            serde_json::from_str(&self.attributes).expect("stored attributes are valid JSON");
        attributes.insert("dn".into(), dn.to_owned());
        attributes
            .entry("rn".into())
            .or_insert_with(|| rn_of(dn).to_owned());
        attributes
    }
}

/// Serializes a filtered attribute iterator as a JSON object without collecting it first.
struct KeptAttributes<I>(I);

impl<'a, I: Iterator<Item = (&'a String, &'a String)> + Clone> serde::Serialize
    for KeptAttributes<I>
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.clone())
    }
}

/// The objects of one device, by dn.
#[derive(Debug, Default)]
pub struct DeviceView {
    objects: HashMap<Box<str>, Stored>,
    /// Class names, shared by every object of the class (a device has a handful).
    classes: Vec<Arc<str>>,
}

impl DeviceView {
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Every object as (class, attributes), sorted by dn: what netpulse believes the device holds.
    pub fn objects(&self) -> Vec<(String, Attributes)> {
        let mut objects: Vec<_> = self
            .objects
            .iter()
            .map(|(dn, stored)| (stored.class.to_string(), stored.attributes(dn)))
            .collect();
        objects.sort_by(|a, b| a.1.get("dn").cmp(&b.1.get("dn")));
        objects
    }

    /// Every object as the store keeps it (`store::views`): its dn, class and attributes without
    /// the dn and the rn the dn already says.
    pub fn view_objects(&self) -> Vec<ViewObject> {
        self.objects
            .iter()
            .map(|(dn, stored)| ViewObject {
                key: dn.to_string(),
                class: stored.class.to_string(),
                attributes: serde_json::from_str(&stored.attributes)
                    .expect("stored attributes are valid JSON"),
            })
            .collect()
    }

    /// Replaces the view with the objects the store kept (a restart, or a device taken over from
    /// another node): the next snapshot is reconciled against them.
    pub fn restore(&mut self, objects: &[ViewObject]) {
        self.objects.clear();
        for object in objects {
            let class = intern(&mut self.classes, &object.class);
            let attributes = normalized(&object.key, &object.attributes);
            self.objects.insert(
                object.key.as_str().into(),
                Stored::new(&object.key, class, &attributes),
            );
        }
    }

    /// Applies one pushed object. Returns `None` when the push tells nothing new: an object already
    /// deleted, a modification already known, or one older than what the view holds.
    pub fn apply_push(&mut self, mo: &Mo) -> Option<ViewChange> {
        let dn = mo.dn()?;
        let status = mo
            .attributes
            .get("status")
            .map(String::as_str)
            .unwrap_or("modified");
        if status == "deleted" {
            self.objects.remove(dn)?;
            return Some(change(mo, dn, Status::Deleted, mo.attributes.clone()));
        }
        let class = intern(&mut self.classes, &mo.class);
        let Some(stored) = self.objects.get_mut(dn) else {
            let attributes = normalized(dn, &mo.attributes);
            self.objects
                .insert(dn.into(), Stored::new(dn, class, &attributes));
            return Some(change(mo, dn, Status::Created, mo.attributes.clone()));
        };
        let mut current = stored.attributes(dn);
        if is_older(&mo.attributes, &current) {
            return None;
        }
        let changed = mo
            .attributes
            .iter()
            .filter(|(key, value)| {
                !TRANSIENT.contains(&key.as_str())
                    && !IDENTITY.contains(&key.as_str())
                    && current.get(*key) != Some(*value)
            })
            .count();
        if changed == 0 {
            return None;
        }
        for (key, value) in &mo.attributes {
            let placeholder_rn = key == "rn" && value.is_empty();
            if !TRANSIENT.contains(&key.as_str()) && !placeholder_rn {
                current.insert(key.clone(), value.clone());
            }
        }
        *stored = Stored::new(dn, class, &current);
        Some(change(mo, dn, Status::Modified, mo.attributes.clone()))
    }

    /// Replaces the view with the objects the device returned after (re)subscribing and returns
    /// what changed in between: objects that appeared, changed or disappeared.
    pub fn reconcile(&mut self, snapshot: &[Mo]) -> Vec<ViewChange> {
        let mut changes = Vec::new();
        let mut fresh: HashMap<Box<str>, Stored> = HashMap::with_capacity(snapshot.len());
        for mo in snapshot {
            let Some(dn) = mo.dn() else { continue };
            let attributes = normalized(dn, &mo.attributes);
            match self.objects.remove(dn) {
                None => {
                    let mut published = attributes.clone();
                    published.insert("status".into(), "created".into());
                    changes.push(change(mo, dn, Status::Created, published));
                }
                Some(old) => {
                    if let Some(sparse) = sparse_difference(&old.attributes(dn), &attributes) {
                        changes.push(change(mo, dn, Status::Modified, sparse));
                    }
                }
            }
            let class = intern(&mut self.classes, &mo.class);
            fresh.insert(dn.into(), Stored::new(dn, class, &attributes));
        }
        let mut gone: Vec<_> = self.objects.drain().collect();
        gone.sort_by(|a, b| a.0.cmp(&b.0));
        for (dn, old) in gone {
            let mut published = Attributes::new();
            published.insert("dn".into(), dn.to_string());
            published.insert("status".into(), "deleted".into());
            changes.push(ViewChange {
                class: old.class.to_string(),
                dn: dn.to_string(),
                status: Status::Deleted,
                attributes: published,
            });
        }
        self.objects = fresh;
        changes
    }
}

fn intern(classes: &mut Vec<Arc<str>>, class: &str) -> Arc<str> {
    if let Some(known) = classes.iter().find(|known| ***known == *class) {
        return known.clone();
    }
    let class: Arc<str> = class.into();
    classes.push(class.clone());
    class
}

fn change(mo: &Mo, dn: &str, status: Status, attributes: Attributes) -> ViewChange {
    ViewChange {
        class: mo.class.clone(),
        dn: dn.to_owned(),
        status,
        attributes,
    }
}

/// The attributes as kept: without transport fields, with the real rn (pushes send `rn:""`).
fn normalized(dn: &str, attributes: &Attributes) -> Attributes {
    let mut kept: Attributes = attributes
        .iter()
        .filter(|(key, _)| !TRANSIENT.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if kept.get("rn").is_none_or(|rn| rn.is_empty()) {
        kept.insert("rn".into(), rn_of(dn).to_owned());
    }
    kept
}

/// A push older than the stored object (by the device's `modTs`) was overtaken by what the view
/// already holds, typically a push buffered while resubscribing. The device writes every `modTs` in
/// one format and offset, so the strings compare in time order.
fn is_older(push: &Attributes, current: &Attributes) -> bool {
    match (push.get("modTs"), current.get("modTs")) {
        (Some(pushed), Some(known)) => pushed < known,
        _ => false,
    }
}

/// The sparse `modified` body that turns `old` into `new`, or `None` when nothing differs but `dn`
/// and `rn`.
fn sparse_difference(old: &Attributes, new: &Attributes) -> Option<Attributes> {
    let mut sparse: Attributes = new
        .iter()
        .filter(|(key, value)| !IDENTITY.contains(&key.as_str()) && old.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    // Same attributes but a newer modTs: the object changed and changed back while netpulse was
    // not listening (a port that flapped during the gap). Published with the new modTs alone, so
    // that an application sees it was touched and its view keeps the device's modTs.
    if sparse.is_empty() && old.get("modTs") == new.get("modTs") {
        return None;
    }
    for key in ["dn", "modTs"] {
        if let Some(value) = new.get(key) {
            sparse.insert(key.into(), value.clone());
        }
    }
    sparse.insert("status".into(), "modified".into());
    Some(sparse)
}

#[cfg(test)]
mod tests;
