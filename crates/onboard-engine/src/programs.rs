//! The programs the engine runs: the current one, and every earlier version that accounts
//! still run under, loaded from the store on demand.

use crate::{EngineError, Result};
use onboard_core::program::{self, Program, ProgramSource, SourceFile};
use onboard_store::Store;
use std::collections::HashMap;
use std::path::Path;
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

/// Reads every file of a program folder (hidden files skipped), paths relative to it.
pub fn read_program_dir(dir: &Path) -> std::result::Result<ProgramSource, String> {
    if !dir.join("program.toml").is_file() {
        return Err(format!(
            "{} is not a program folder: it has no program.toml",
            dir.display()
        ));
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ProgramSource { files })
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) -> std::result::Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files)?;
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let bytes =
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let contents = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
            files.push(SourceFile {
                path: relative,
                contents,
            });
        }
    }
    Ok(())
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
