//! The running simulated network: its switches, their cables, and the link and device actions
//! that take both ends of a link down together, as a real cable pull or a switch losing power
//! does. Each end shows it as its own subscription events: the port's `ethpmPhysIf` goes
//! `operSt: down` and its `lldpAdjEp` / `cdpAdjEp` are deleted; coming back reverses both.
//!
//! A cable carries when it is not cut and both of its switches are powered. Every action changes
//! that state, then brings each affected end to what the state says ([`fabric::adjacency_changes`]
//! only changes what differs), so actions are idempotent and compose: a link cut while its spine
//! is down stays down when the spine comes back.

use std::collections::BTreeSet;
use std::sync::Mutex;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::api::{Change, DeviceAction, LinkAction, LinkState};
use super::device::SimDevice;
use super::fabric::{self, Cable, End, FabricSpec, Identity, Plan};

/// A running simulated network (see the module documentation).
#[derive(Debug)]
pub struct Fabric {
    spec: FabricSpec,
    plan: Plan,
    identities: Vec<Identity>,
    devices: Vec<SimDevice>,
    state: Mutex<LinkStates>,
}

#[derive(Debug, Default)]
struct LinkStates {
    /// Indexes of the cables taken down by a link action.
    cut: BTreeSet<usize>,
    /// Indexes of the switches taken down by a device action.
    powered_off: BTreeSet<usize>,
}

/// The network as the control API shows it (`GET /_sim/topology`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyDump {
    pub devices: Vec<DumpedDevice>,
    pub links: Vec<DumpedLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpedDevice {
    pub name: String,
    pub role: String,
    pub url: String,
    pub up: bool,
}

/// One cable: `a` port `a_port` to `b` port `b_port`; `up` when it carries (not cut, both
/// switches on, neither port shut).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpedLink {
    pub a: String,
    pub a_port: String,
    pub b: String,
    pub b_port: String,
    pub up: bool,
    /// Taken down by a link action (it stays down until a link action brings it up).
    pub cut: bool,
}

impl Fabric {
    pub(super) fn new(
        spec: FabricSpec,
        plan: Plan,
        identities: Vec<Identity>,
        devices: Vec<SimDevice>,
    ) -> Fabric {
        Fabric {
            spec,
            plan,
            identities,
            devices,
            state: Mutex::new(LinkStates::default()),
        }
    }

    /// Takes a link down or brings it up, on both ends.
    pub fn set_link(&self, action: &LinkAction) -> anyhow::Result<()> {
        let index = self.find_cable(action)?;
        {
            let mut state = self.lock();
            match action.state {
                LinkState::Down => state.cut.insert(index),
                LinkState::Up => state.cut.remove(&index),
            };
        }
        tracing::info!(device = %action.device, port = ?action.port, neighbor = ?action.neighbor, state = ?action.state, "simulated link action");
        self.sync_cable(index)
    }

    /// Powers a switch off (its sessions end, its sockets close, it answers 503, and the far end
    /// of each of its links goes down) or on again (its links come back where nothing else holds
    /// them down; clients log in again and resynchronise).
    pub fn set_device(&self, action: &DeviceAction) -> anyhow::Result<()> {
        let index = self.device_index(&action.device)?;
        let device = &self.devices[index];
        {
            let mut state = self.lock();
            match action.state {
                LinkState::Down => state.powered_off.insert(index),
                LinkState::Up => state.powered_off.remove(&index),
            };
        }
        tracing::info!(device = %action.device, state = ?action.state, "simulated device action");
        match action.state {
            LinkState::Down => device.power(false),
            LinkState::Up => {
                // Its own tree first, while no client can see it, then it answers again.
                self.sync_device_cables(index)?;
                device.power(true);
                return Ok(());
            }
        }
        self.sync_device_cables(index)
    }

    /// A port's `adminSt` was set on `device`: when the port is cabled, both ends follow (a
    /// shut port takes the link down at the far end too, and its adjacencies on both).
    pub(super) fn port_admin_changed(&self, device: usize, dn: &str) -> anyhow::Result<()> {
        let cable = self.plan.cables.iter().position(|cable| {
            [cable.a, cable.b]
                .into_iter()
                .any(|end| end.device == device && super::tree::port_dn(end.port) == dn)
        });
        match cable {
            Some(index) => self.sync_cable(index),
            None => Ok(()),
        }
    }

    /// Every switch and cable with its state.
    pub fn dump(&self) -> TopologyDump {
        let enabled: Vec<bool> = self
            .plan
            .cables
            .iter()
            .map(|cable| self.enabled(cable.a) && self.enabled(cable.b))
            .collect();
        let state = self.lock();
        let devices = self
            .identities
            .iter()
            .zip(&self.devices)
            .map(|(identity, device)| DumpedDevice {
                name: identity.name.clone(),
                role: identity.role.to_owned(),
                url: device.base_url(),
                up: !state.powered_off.contains(&identity.index),
            })
            .collect();
        let links = self
            .plan
            .cables
            .iter()
            .enumerate()
            .map(|(index, cable)| DumpedLink {
                a: self.identities[cable.a.device].name.clone(),
                a_port: format!("eth1/{}", cable.a.port),
                b: self.identities[cable.b.device].name.clone(),
                b_port: format!("eth1/{}", cable.b.port),
                up: state.carries(index, cable) && enabled[index],
                cut: state.cut.contains(&index),
            })
            .collect();
        TopologyDump { devices, links }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkStates> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn device_index(&self, name: &str) -> anyhow::Result<usize> {
        self.identities
            .iter()
            .position(|identity| identity.name == name)
            .with_context(|| format!("no simulated switch named {name:?}"))
    }

    /// The cable an action names: by the device's port, or by its neighbour.
    fn find_cable(&self, action: &LinkAction) -> anyhow::Result<usize> {
        let device = self.device_index(&action.device)?;
        let port = match &action.port {
            Some(port) => Some(parse_port(port)?),
            None => None,
        };
        let neighbour = match &action.neighbor {
            Some(name) => Some(self.device_index(name)?),
            None => None,
        };
        if port.is_none() && neighbour.is_none() {
            bail!("name the link by port or by neighbor");
        }
        let found = self.plan.cables.iter().position(|cable| {
            [(cable.a, cable.b), (cable.b, cable.a)]
                .into_iter()
                .any(|(local, far)| {
                    local.device == device
                        && port.is_none_or(|port| local.port == port)
                        && neighbour.is_none_or(|neighbour| far.device == neighbour)
                })
        });
        found.with_context(|| {
            format!(
                "{} has no link on {}",
                action.device,
                match (&action.port, &action.neighbor) {
                    (Some(port), Some(neighbour)) => format!("{port} to {neighbour}"),
                    (Some(port), None) => port.clone(),
                    (None, neighbour) =>
                        format!("a port to {}", neighbour.as_deref().unwrap_or("")),
                }
            )
        })
    }

    /// Whether the port at `end` is not shut (a port shut on either end holds its link down).
    fn enabled(&self, end: End) -> bool {
        self.devices[end.device].read(|mit| {
            mit.get(&super::tree::port_dn(end.port))
                .is_none_or(|port| port.attrs.get("adminSt") != Some("down"))
        })
    }

    fn sync_device_cables(&self, device: usize) -> anyhow::Result<()> {
        let cables: Vec<usize> = self
            .plan
            .cables
            .iter()
            .enumerate()
            .filter(|(_, cable)| cable.a.device == device || cable.b.device == device)
            .map(|(index, _)| index)
            .collect();
        for index in cables {
            self.sync_cable(index)?;
        }
        Ok(())
    }

    /// Brings both ends of cable `index` to what the state says, on powered switches only (a
    /// switch that is off shows nothing; it is brought up to date when it comes back).
    fn sync_cable(&self, index: usize) -> anyhow::Result<()> {
        let cable = self.plan.cables[index];
        let (carries, powered) = {
            let state = self.lock();
            let powered = |end: End| !state.powered_off.contains(&end.device);
            (
                state.carries(index, &cable),
                [
                    (cable.a, cable.b, powered(cable.a)),
                    (cable.b, cable.a, powered(cable.b)),
                ],
            )
        };
        let up = carries && self.enabled(cable.a) && self.enabled(cable.b);
        for (local, far, powered) in powered {
            if !powered {
                continue;
            }
            let neighbour = &self.identities[far.device];
            let domain = self.spec.domain.as_deref();
            self.devices[local.device].apply_derived(|mit| {
                fabric::adjacency_changes(mit, local.port, neighbour, far.port, up, domain)
            })?;
        }
        Ok(())
    }
}

impl LinkStates {
    fn carries(&self, index: usize, cable: &Cable) -> bool {
        !self.cut.contains(&index)
            && !self.powered_off.contains(&cable.a.device)
            && !self.powered_off.contains(&cable.b.device)
    }
}

/// `eth1/49`, `Eth1/49` or `Ethernet1/49` → 49 (the simulated switches have one slot).
fn parse_port(port: &str) -> anyhow::Result<usize> {
    let lower = port.trim().to_ascii_lowercase();
    let rest = ["ethernet", "eth"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))
        .with_context(|| format!("port {port:?}: expected eth1/N"))?;
    rest.strip_prefix("1/")
        .and_then(|number| number.parse().ok())
        .with_context(|| format!("port {port:?}: expected eth1/N"))
}

/// Builds each end's initial adjacencies (every link carries at start).
pub(super) fn initial_changes(
    spec: &FabricSpec,
    plan: &Plan,
    identities: &[Identity],
    index: usize,
    mit: &super::mit::Mit,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (local, far) in plan.cables_of(index) {
        changes.extend(fabric::adjacency_changes(
            mit,
            local.port,
            &identities[far.device],
            far.port,
            true,
            spec.domain.as_deref(),
        ));
    }
    changes
}

#[cfg(test)]
#[path = "links_tests.rs"]
mod e2e_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_in_every_spelling() {
        assert_eq!(parse_port("eth1/49").unwrap(), 49);
        assert_eq!(parse_port("Ethernet1/3").unwrap(), 3);
        assert_eq!(parse_port("Eth1/7").unwrap(), 7);
        assert!(parse_port("eth2/1").is_err());
        assert!(parse_port("mgmt0").is_err());
    }
}
