use std::any::Any;
use std::sync::Arc;

use runtime::store::Store;
use runtime::store::embedded::{EmbeddedOptions, EmbeddedStore};

/// A store under test, with whatever must outlive it (a temporary directory, an emulator table).
pub struct Backend {
    pub store: Arc<dyn Store>,
    _keep_alive: Box<dyn Any + Send + Sync>,
}

impl Backend {
    pub fn new(store: Arc<dyn Store>, keep_alive: impl Any + Send + Sync) -> Self {
        Self { store, _keep_alive: Box::new(keep_alive) }
    }

    /// A fresh embedded store in a temporary directory that is removed afterwards.
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store =
            EmbeddedStore::open(&dir.path().join("test.redb"), &EmbeddedOptions::default()).expect("open store");
        Self::new(Arc::new(store), dir)
    }
}
