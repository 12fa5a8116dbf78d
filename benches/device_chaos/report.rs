//! The table of figures and the verdict.

use std::collections::BTreeMap;
use std::time::Duration;

use netpulse::sim::dme::SimStats;

use super::gateway::{SinkRow, SourceRow};
use super::replay::{Events, Outcome};
use super::{Kind, Options, Recovery};

/// Everything the table shows.
pub struct Report<'a> {
    pub options: &'a Options,
    pub connect_time: Duration,
    pub chaos_time: Duration,
    pub catch_up_time: Duration,
    pub injected: &'a BTreeMap<Kind, u64>,
    pub recovery: &'a Recovery,
    pub rows: &'a [SourceRow],
    pub archive: &'a SinkRow,
    pub events: &'a Events,
    pub outcome: &'a Outcome,
    pub stats: &'a SimStats,
    pub stored: Option<i64>,
    pub cpu_percent: f64,
    /// Gateway RSS after connecting, at the end, peak.
    pub rss_mib: [f64; 3],
}

impl Report<'_> {
    pub fn print(&self) {
        let api_gaps: u64 = self.rows.iter().map(|row| row.gaps).sum();
        let connects: u64 = self.rows.iter().map(|row| row.connects).sum();
        let login_failures: u64 = self.rows.iter().map(|row| row.login_failures).sum();
        let source_events: u64 = self.rows.iter().map(|row| row.events).sum();
        let total: u64 = self.injected.values().sum();
        let resync = |status: &str| self.events.resync.get(status).copied().unwrap_or(0);
        let seconds = |duration: Duration| format!("{:.1} s", duration.as_secs_f64());
        let recovered = |kind: Option<Kind>| {
            self.recovery
                .summary(kind)
                .map_or("-".to_owned(), |(count, median, max)| {
                    format!("{} / {} ({count} measured)", seconds(median), seconds(max))
                })
        };
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!(
            "| switches / chaos duration / catch-up after it | {} / {} / {} (all connected {} after start) |",
            self.options.devices,
            seconds(self.chaos_time),
            seconds(self.catch_up_time),
            seconds(self.connect_time)
        );
        println!("| faults injected | {total} |");
        for kind in Kind::ALL {
            let count = self.injected.get(&kind).copied().unwrap_or(0);
            let times = if kind.breaks_session() {
                format!("; to reconnect, median / max {}", recovered(Some(kind)))
            } else {
                String::new()
            };
            println!("| &nbsp; {} | {count}{times} |", kind.name());
        }
        println!(
            "| fault to reconnect, all kinds, median / max | {} |",
            recovered(None)
        );
        println!(
            "| gaps: sum over sources (API) / gap events in the file | {api_gaps} / {} |",
            self.events.gaps
        );
        println!(
            "| connects (API, incl. the first) / login failures (API) | {connects} / {login_failures} |"
        );
        println!(
            "| resync events: created / modified / deleted | {} / {} / {} |",
            resync("created"),
            resync("modified"),
            resync("deleted")
        );
        println!("| live change events | {} |", self.events.live);
        println!(
            "| simulator: changes applied / pushes sent / logins refused / subscriptions lapsed (TTL) / refreshes failed | {} / {} / {} / {} / {} |",
            self.stats.changes_applied_total,
            self.stats.pushes_sent_total,
            self.stats.logins_failed,
            self.stats.subscriptions_expired_total,
            self.stats.subscription_refresh_failures
        );
        println!(
            "| switches whose replayed view equals the switch | **{}/{}** ({} objects) |",
            self.outcome.equal, self.options.devices, self.outcome.objects
        );
        println!(
            "| objects differing only in modTs, last changed within a reported gap (changed and changed back while blind; a resync publishes them as touched) | **{}** |",
            self.outcome.timestamp_only.len()
        );
        println!(
            "| events that do not fit the replayed view | **{}** |",
            self.outcome.misfits.len()
        );
        println!(
            "| events emitted by sources (API) / stored / delivered to the file (pending, dead) | {source_events} / {} / {} ({}, {}) |",
            self.stored.map_or("-".to_owned(), |n| n.to_string()),
            self.archive.delivered,
            self.archive.pending,
            self.archive.dead
        );
        println!(
            "| lines in the file / repeated | {} / {} |",
            self.events.lines, self.events.repeated
        );
        println!(
            "| gateway CPU during the chaos | {:.1} % of one core |",
            self.cpu_percent
        );
        println!(
            "| gateway RSS after connecting / at the end / peak | {:.1} / {:.1} / {:.1} MiB |",
            self.rss_mib[0], self.rss_mib[1], self.rss_mib[2]
        );
    }

    /// Prints what failed; true when nothing did.
    pub fn verdict(&self, catch_up_failure: Option<&str>) -> bool {
        let mut passed = true;
        if let Some(failure) = catch_up_failure {
            println!("\nFAILED: {failure}");
            passed = false;
        }
        for (device, differences) in self.outcome.differences.iter().take(5) {
            println!(
                "\nFAILED: {device}: the replayed view differs from the switch in {} places; the first ones:",
                differences.len()
            );
            for difference in differences.iter().take(10) {
                println!("  {difference}");
            }
            passed = false;
        }
        if !self.outcome.misfits.is_empty() {
            println!("\nFAILED: events that do not fit the replayed view; the first ones:");
            for (device, misfit) in self.outcome.misfits.iter().take(10) {
                println!("  {device}: {misfit}");
            }
            passed = false;
        }
        for difference in self.outcome.timestamp_only.iter().take(5) {
            println!("\nFAILED: modTs only, within a gap: {difference}");
            passed = false;
        }
        let api_gaps: u64 = self.rows.iter().map(|row| row.gaps).sum();
        if api_gaps != self.events.gaps {
            println!(
                "\nFAILED: the API counts {api_gaps} gaps, the file holds {} gap events",
                self.events.gaps
            );
            passed = false;
        }
        for row in self.rows.iter().filter(|row| row.state != "connected") {
            println!(
                "\nnot connected at the end: {} ({}; last error {:?})",
                row.name, row.state, row.last_error
            );
        }
        passed
    }
}
