//! A few read-only connections kept open for the API and the live feed, each query run on the
//! blocking pool so the async runtime never waits on SQLite.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::Reader;

/// Connections at most, and so queries at once: a burst of requests (a thousand feed clients
/// reconnecting after a restart) waits its turn instead of opening a connection and a blocking
/// thread each.
const MAX_CONNECTIONS: usize = 8;

#[derive(Debug, Clone)]
pub struct ReaderPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    permits: tokio::sync::Semaphore,
}

impl ReaderPool {
    pub fn new(path: impl Into<PathBuf>) -> ReaderPool {
        ReaderPool {
            inner: Arc::new(PoolInner {
                path: path.into(),
                idle: Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
            }),
        }
    }

    /// Runs `query` with a connection, off the async runtime.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Reader) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .context("the reader pool is closed")?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let reader = inner.idle.lock().ok().and_then(|mut idle| idle.pop());
            let reader = match reader {
                Some(reader) => reader,
                None => Reader::open(&inner.path)?,
            };
            let result = query(&reader);
            if let Ok(mut idle) = inner.idle.lock()
                && idle.len() < MAX_CONNECTIONS
            {
                idle.push(reader);
            }
            result
        })
        .await
        .context("a store query panicked")?
    }
}
