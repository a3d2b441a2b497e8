//! Hot reload: watch component files, debounce, then prepare-and-swap through the registry.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::PluginError;
use super::registry::PluginRegistry;

/// Quiet period after the last file event before reloading: copies and editors write in
/// several steps, and compiling a half-written file would only produce a spurious failure.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the file watcher alive; dropping it stops hot reload.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watcher {
    /// Watches the directories of every configured component.
    pub fn start(registry: Arc<PluginRegistry>) -> Result<Watcher, PluginError> {
        let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
        let mut inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
        })
        .map_err(|e| PluginError::Engine(format!("file watcher: {e}")))?;
        for dir in registry.plugin_dir_paths() {
            inner
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|e| PluginError::Engine(format!("cannot watch {}: {e}", dir.display())))?;
        }
        let task = tokio::spawn(run(registry, rx));
        Ok(Watcher { _inner: inner, task })
    }
}

async fn run(registry: Arc<PluginRegistry>, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    while let Some(first) = rx.recv().await {
        let mut changed = HashSet::from([first]);
        // Collect until the directory has been quiet for DEBOUNCE.
        while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            changed.insert(path);
        }
        let mut names: Vec<(String, PathBuf)> = changed
            .into_iter()
            .filter_map(|p| registry.name_for_path(&p).map(|n| (n, p)))
            .collect();
        names.sort();
        names.dedup_by(|a, b| a.0 == b.0);
        for (name, path) in names {
            if path.exists() {
                // Failures are logged and counted inside `reload`; the old version stays.
                let _ = registry.reload(&name).await;
            } else {
                registry.unload(&name);
            }
        }
    }
}
