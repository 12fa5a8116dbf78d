//! The view an application builds from the gateway's events, and its comparison with a switch.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use netpulse::event::{Event, GAP_EVENT_TYPE};
use netpulse::sim::dme::SimDevice;
use netpulse::source::dme::protocol::rn_of;

/// The classes the sources subscribe to (the queries in `gateway::gateway_yaml`).
const CLASSES: [&str; 3] = ["ethpmPhysIf", "l1PhysIf", "l2BD"];

type Attributes = BTreeMap<String, String>;
/// A switch's subscribed objects: dn → (class, attributes).
pub type Objects = BTreeMap<String, (String, Attributes)>;
/// When a gateway's source was blind: (since, until) from a gap event.
type Gap = (jiff::Timestamp, jiff::Timestamp);

/// The switch's objects of the subscribed classes, as stored.
pub fn subscribed_objects(device: &SimDevice) -> Objects {
    device
        .dump()
        .into_iter()
        .filter(|mo| CLASSES.contains(&mo.class.as_str()))
        .map(|mo| (mo.attributes["dn"].clone(), (mo.class, mo.attributes)))
        .collect()
}

/// The event file, split up: change events by source in `seq` order, gaps by source, and counts.
#[derive(Default)]
pub struct Events {
    by_source: HashMap<String, Vec<Event>>,
    /// The (since, until) of every gap event, by source.
    gaps_by_source: HashMap<String, Vec<Gap>>,
    pub lines: u64,
    pub repeated: u64,
    pub gaps: u64,
    pub resync: BTreeMap<String, u64>,
    pub live: u64,
}

pub fn read_events(path: &Path) -> Events {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut events = Events::default();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        events.lines += 1;
        let event: Event = serde_json::from_str(line).expect("a CloudEvents JSON line");
        // Delivery is at-least-once: a line written twice is applied once.
        if !seen.insert(event.seq) {
            events.repeated += 1;
            continue;
        }
        let source = event.source.trim_start_matches("/netpulse/").to_owned();
        if event.kind == GAP_EVENT_TYPE {
            events.gaps += 1;
            let time = |key: &str| event.data[key].as_str()?.parse::<jiff::Timestamp>().ok();
            let gap = time("since")
                .zip(time("until"))
                .expect("a gap has since and until");
            events.gaps_by_source.entry(source).or_default().push(gap);
            continue;
        }
        if event.resync {
            let status = event.kind.rsplit('.').next().unwrap_or_default();
            *events.resync.entry(status.to_owned()).or_insert(0) += 1;
        } else {
            events.live += 1;
        }
        events.by_source.entry(source).or_default().push(event);
    }
    for list in events.by_source.values_mut() {
        list.sort_by_key(|event| event.seq);
    }
    events
}

/// What the replay found.
#[derive(Default)]
pub struct Outcome {
    pub equal: usize,
    pub objects: usize,
    /// Switches whose replayed view differs, with their first differences.
    pub differences: Vec<(String, Vec<String>)>,
    /// Objects whose replayed view differs from the switch only in `modTs`, last changed during a
    /// gap: changed and changed back while the gateway was blind. A resync publishes them as
    /// touched (a `modified` event with the new `modTs`), so this must stay empty; it is kept apart
    /// to say what went wrong if it is not.
    pub timestamp_only: Vec<String>,
    /// Events that do not fit the replayed view: (source, description).
    pub misfits: Vec<(String, String)>,
}

/// Replays every source's events over its switch's starting state and compares with the switch.
pub fn compare(devices: &[SimDevice], baselines: &[Objects], events: &Events) -> Outcome {
    let mut outcome = Outcome::default();
    for (device, baseline) in devices.iter().zip(baselines) {
        let mut view = baseline.clone();
        for event in events.by_source.get(device.name()).into_iter().flatten() {
            if let Err(misfit) = apply(&mut view, event) {
                outcome.misfits.push((device.name().to_owned(), misfit));
            }
        }
        let actual = subscribed_objects(device);
        outcome.objects += actual.len();
        let gaps = events.gaps_by_source.get(device.name());
        let (differences, timestamp_only) =
            differences(&actual, &view, gaps.map_or(&[], Vec::as_slice));
        outcome.timestamp_only.extend(
            timestamp_only
                .into_iter()
                .map(|difference| format!("{}: {difference}", device.name())),
        );
        if differences.is_empty() {
            outcome.equal += 1;
        } else {
            outcome
                .differences
                .push((device.name().to_owned(), differences));
        }
    }
    outcome
}

/// Applies one change event as an application would: `created` puts the object it carries,
/// `modified` sets the attributes it carries (a push carries only what changed), `deleted` removes
/// the object. `status` and `childAction` describe the message, not the object, and a push's
/// empty `rn` stands for the dn's last part.
fn apply(view: &mut Objects, event: &Event) -> Result<(), String> {
    let dn = event.subject.clone().ok_or("an event without a subject")?;
    let class = event
        .objectclass
        .clone()
        .ok_or("an event without a class")?;
    let carried = event.data[&class]["attributes"]
        .as_object()
        .ok_or_else(|| format!("#{} {dn}: no data.{class}.attributes", event.seq))?;
    let attributes = carried
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "status" | "childAction"))
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .filter(|(key, value)| !(key == "rn" && value.is_empty()));
    let misfit = |what: &str| format!("#{} {} {dn}: {what}", event.seq, event.kind);
    match event.kind.as_str() {
        "com.cisco.dme.created" => {
            let mut object: Attributes = attributes.collect();
            object
                .entry("rn".into())
                .or_insert_with(|| rn_of(&dn).to_owned());
            object.entry("dn".into()).or_insert_with(|| dn.clone());
            let known = view.insert(dn.clone(), (class, object)).is_some();
            if known {
                return Err(misfit("created, but the view already holds it"));
            }
        }
        "com.cisco.dme.modified" => {
            let Some((_, object)) = view.get_mut(&dn) else {
                return Err(misfit("modified, but the view does not hold it"));
            };
            object.extend(attributes);
        }
        "com.cisco.dme.deleted" => {
            if view.remove(&dn).is_none() {
                return Err(misfit("deleted, but the view does not hold it"));
            }
        }
        other => return Err(misfit(&format!("unexpected event type {other}"))),
    }
    Ok(())
}

/// Differences between the switch's objects and the replayed view, apart from those only in
/// `modTs` that a gap explains (returned second).
fn differences(actual: &Objects, view: &Objects, gaps: &[Gap]) -> (Vec<String>, Vec<String>) {
    let mut found = Vec::new();
    let mut timestamp_only = Vec::new();
    for (dn, (class, attributes)) in actual {
        match view.get(dn) {
            None => found.push(format!(
                "{class} {dn}: on the switch, missing from the events"
            )),
            Some((view_class, _)) if view_class != class => found.push(format!(
                "{dn}: class {class} on the switch, {view_class} in the events"
            )),
            Some((_, replayed)) => {
                let keys: std::collections::BTreeSet<&String> =
                    attributes.keys().chain(replayed.keys()).collect();
                let differing: Vec<String> = keys
                    .into_iter()
                    .filter(|key| attributes.get(*key) != replayed.get(*key))
                    .map(|key| {
                        format!(
                            "{class} {dn} {key}: switch {:?}, events {:?}",
                            attributes.get(key),
                            replayed.get(key)
                        )
                    })
                    .collect();
                let only_mod_ts = differing.len() == 1
                    && attributes.get("modTs") != replayed.get("modTs")
                    && attributes
                        .get("modTs")
                        .is_some_and(|mod_ts| within_a_gap(mod_ts, gaps));
                if only_mod_ts {
                    timestamp_only.extend(differing);
                } else {
                    found.extend(differing);
                }
            }
        }
    }
    for (dn, (class, _)) in view {
        if !actual.contains_key(dn) {
            found.push(format!("{class} {dn}: in the events, gone from the switch"));
        }
    }
    (found, timestamp_only)
}

/// Whether a `modTs` falls within a reported gap. The gap starts when the gateway noticed the
/// failure, so a change pushed just before (its push lost with the socket) is allowed a second.
fn within_a_gap(mod_ts: &str, gaps: &[Gap]) -> bool {
    let Ok(changed) = mod_ts.parse::<jiff::Timestamp>() else {
        return false;
    };
    let slack = jiff::SignedDuration::from_secs(1);
    gaps.iter()
        .any(|(since, until)| *since - slack <= changed && changed <= *until)
}
