//! An SD-WAN Manager (vManage) alarm notification sender (`netpulse sim sdwan`): it posts real
//! alarm documents (captures embedded in the binary) to a webhook URL, one per request, with HTTP
//! Basic credentials, as a notification rule does (`protocols-webhooks.md` §1). Each alarm gets a
//! fresh uuid, the current time and one of N simulated devices; raised alarms are later cleared by
//! a new document whose `cleared_events` names them, as the manager does.

mod cli;
mod generator;
mod sender;
#[cfg(test)]
mod tests;

pub use crate::sim::load::Report;
pub use cli::{SdwanSimArgs, run_cli};
pub use generator::{Alarms, alarms};
pub use sender::{SdwanSimConfig, run};
