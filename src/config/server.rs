//! The process-wide sections of the configuration: `store:` (the embedded database) and `http:`
//! (the one HTTP server for webhooks, metrics and health).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{Problems, resolve_path};
use crate::duration::serde_duration;

/// `store:`: where the embedded SQLite database lives and how long it keeps events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The database file, relative to the configuration file's folder; created if missing.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Events older than this are deleted in the background, once every sink has delivered them.
    #[serde(default = "default_retention", with = "serde_duration")]
    pub retention: Duration,
    /// `full` (default): a committed event survives a power loss. `normal`: it survives a crash of
    /// netpulse but a power loss may take the last commits; faster on slow disks.
    #[serde(default)]
    pub synchronous: Synchronous,
    /// After a write failed because the disk was full, `/readyz` answers ready again once the
    /// store's filesystem has this many bytes free (the next write then proves it).
    #[serde(default = "default_min_free_bytes")]
    pub min_free_bytes: u64,
    /// A redelivered webhook (same provider id) within this long of the first delivery is
    /// acknowledged without being stored again. Older ones are stored again. Never longer than
    /// `retention` in effect: an event older than that is gone.
    #[serde(default = "default_dedup_window", with = "serde_duration")]
    pub dedup_window: Duration,
    /// At most this many recent provider ids are remembered for that (about 60 bytes each: 30 MB at the default 500,000); the
    /// oldest are forgotten first.
    #[serde(default = "default_dedup_max_keys")]
    pub dedup_max_keys: usize,
    /// Under load, the store commits at most this often: requests arriving meanwhile share the
    /// next commit (fewer, larger commits cost less per event, and each waits a little longer).
    /// A request after a quiet spell is committed at once.
    #[serde(default = "default_commit_interval", with = "serde_duration")]
    pub commit_interval: Duration,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    #[default]
    Full,
    Normal,
}

impl Default for StoreSection {
    fn default() -> StoreSection {
        StoreSection {
            path: default_store_path(),
            retention: default_retention(),
            synchronous: Synchronous::default(),
            min_free_bytes: default_min_free_bytes(),
            dedup_window: default_dedup_window(),
            dedup_max_keys: default_dedup_max_keys(),
            commit_interval: default_commit_interval(),
        }
    }
}

impl StoreSection {
    pub(crate) fn validate(&mut self, base_dir: &Path, problems: &mut Problems) {
        self.path = resolve_path(base_dir, &self.path);
        let parent = self.path.parent().unwrap_or(Path::new("."));
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            problems.push(
                "store.path",
                format!(
                    "the folder {} does not exist; create it or choose another path",
                    parent.display()
                ),
            );
        }
        if self.commit_interval > Duration::from_secs(1) {
            problems.push(
                "store.commit_interval",
                "must be at most 1s: every request waits up to this long for its commit",
            );
        }
        if self.retention < Duration::from_secs(60) {
            problems.push("store.retention", "must be at least 1m");
        }
    }
}

fn default_store_path() -> PathBuf {
    PathBuf::from("netpulse.db")
}

fn default_commit_interval() -> Duration {
    crate::store::DEFAULT_MIN_COMMIT_INTERVAL
}

fn default_dedup_window() -> Duration {
    Duration::from_millis(crate::store::DedupLimits::default().window_ms as u64)
}

fn default_dedup_max_keys() -> usize {
    crate::store::DedupLimits::default().max_keys
}

fn default_min_free_bytes() -> u64 {
    crate::store::DEFAULT_MIN_FREE_BYTES
}

fn default_retention() -> Duration {
    Duration::from_secs(30 * 86_400)
}

/// `http:`: the listener for webhook receivers, `/metrics`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The largest request body accepted; a larger one is answered 413 without being read.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Serve HTTPS with this certificate chain and key (PEM). Without it the server speaks plain
    /// HTTP, which is fine on loopback or behind a TLS-terminating proxy.
    #[serde(default)]
    pub tls: Option<ServerTls>,
    /// Open connections served at once; a connection beyond it is closed at once (and counted in
    /// `netpulse_http_connections_refused_total`), so a flood of idle sockets cannot exhaust memory
    /// or file descriptors.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A client must send a request's whole header within this time, and a kept-alive connection
    /// that sends no new request is closed after it (slow or idle senders).
    #[serde(default = "default_header_timeout", with = "serde_duration")]
    pub header_timeout: Duration,
    /// A webhook's whole body must arrive within this time from the end of its header (408).
    #[serde(default = "default_body_timeout", with = "serde_duration")]
    pub body_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Default for HttpSection {
    fn default() -> HttpSection {
        HttpSection {
            listen: default_listen(),
            max_body_bytes: default_max_body_bytes(),
            tls: None,
            max_connections: default_max_connections(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
        }
    }
}

impl HttpSection {
    pub(crate) fn validate(&mut self, base_dir: &Path, problems: &mut Problems) {
        if self.max_body_bytes < 1024 {
            problems.push("http.max_body_bytes", "must be at least 1024");
        }
        if self.max_connections < 16 {
            problems.push("http.max_connections", "must be at least 16");
        }
        for (field, value) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if value < Duration::from_millis(100) {
                problems.push(&format!("http.{field}"), "must be at least 100ms");
            }
        }
        if let Some(tls) = &mut self.tls {
            for (field, path) in [
                ("cert_file", &mut tls.cert_file),
                ("key_file", &mut tls.key_file),
            ] {
                *path = resolve_path(base_dir, path);
                if let Err(err) = std::fs::metadata(&*path) {
                    problems.push(
                        &format!("http.tls.{field}"),
                        format!("cannot read {}: {err}", path.display()),
                    );
                }
            }
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5001))
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn default_max_connections() -> usize {
    4096
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
