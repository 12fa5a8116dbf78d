//! [`Registry`]: the sources running now, as the status API, the status log and a reload see them.

use std::sync::{Arc, RwLock};

use super::SourceHandle;

/// The running sources in configuration order, shared by the gateway and the API. A reload
/// replaces the list as a whole; a reader holds the list it got for as long as it needs.
#[derive(Clone, Default)]
pub struct Registry {
    current: Arc<RwLock<Arc<Vec<Arc<SourceHandle>>>>>,
}

impl Registry {
    pub fn new(sources: Vec<Arc<SourceHandle>>) -> Registry {
        Registry {
            current: Arc::new(RwLock::new(Arc::new(sources))),
        }
    }

    /// The sources running now.
    pub fn list(&self) -> Arc<Vec<Arc<SourceHandle>>> {
        self.current.read().expect("registry lock").clone()
    }

    pub fn get(&self, name: &str) -> Option<Arc<SourceHandle>> {
        self.list()
            .iter()
            .find(|source| source.name == name)
            .cloned()
    }

    pub(crate) fn replace(&self, sources: Vec<Arc<SourceHandle>>) {
        *self.current.write().expect("registry lock") = Arc::new(sources);
    }
}
