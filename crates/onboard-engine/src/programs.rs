//! The programs the engine runs: the current one, and every earlier version that accounts
//! still run under, loaded from the store on demand.

use crate::{EngineError, Result};
use onboard_core::program::{self, Program, ProgramSource, SourceFile};
use onboard_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A program source as JSON (`[{"path", "contents"}]`), as recorded in the store.
pub fn program_to_json(source: &ProgramSource) -> String {
    let files: Vec<serde_json::Value> = source
        .files
        .iter()
        .map(|f| serde_json::json!({ "path": f.path, "contents": f.contents }))
        .collect();
    serde_json::Value::Array(files).to_string()
}

/// The program source recorded as JSON by [`program_to_json`].
pub fn program_from_json(json: &str) -> Option<ProgramSource> {
    let files: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    let files = files
        .into_iter()
        .map(|f| {
            Some(SourceFile {
                path: f.get("path")?.as_str()?.to_owned(),
                contents: f.get("contents")?.as_str()?.to_owned(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ProgramSource { files })
}

pub(crate) struct Programs {
    current: Arc<Program>,
    known: RwLock<HashMap<String, Arc<Program>>>,
}

impl Programs {
    pub(crate) fn new(current: Program) -> Self {
        let current = Arc::new(current);
        let mut known = HashMap::new();
        known.insert(current.version.0.clone(), current.clone());
        Self {
            current,
            known: RwLock::new(known),
        }
    }

    pub(crate) fn current(&self) -> &Arc<Program> {
        &self.current
    }

    /// The program of a version, loading it from the store when not yet known.
    pub(crate) async fn version(&self, store: &dyn Store, version: &str) -> Result<Arc<Program>> {
        if let Some(program) = self.known.read().ok().and_then(|k| k.get(version).cloned()) {
            return Ok(program);
        }
        let json = store
            .program_source(version)
            .await?
            .ok_or_else(|| EngineError::Program(version.to_owned(), "not recorded".to_owned()))?;
        let source = program_from_json(&json)
            .ok_or_else(|| EngineError::Program(version.to_owned(), "unreadable".to_owned()))?;
        let program = program::load(&source).map_err(|diagnostics| {
            EngineError::Program(
                version.to_owned(),
                diagnostics
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            )
        })?;
        let program = Arc::new(program);
        if let Ok(mut known) = self.known.write() {
            known.insert(version.to_owned(), program.clone());
        }
        Ok(program)
    }
}
