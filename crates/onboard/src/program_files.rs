//! Reading a program folder into a [`ProgramSource`], and the bundled example program.

use anyhow::Context;
use include_dir::{include_dir, Dir};
use onboard_core::program::{ProgramSource, SourceFile};
use std::path::Path;

static BUNDLED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../program");

/// The example program shipped in the binary.
pub fn bundled() -> ProgramSource {
    let mut files = Vec::new();
    collect_bundled(&BUNDLED, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    ProgramSource { files }
}

fn collect_bundled(dir: &Dir<'_>, files: &mut Vec<SourceFile>) {
    for file in dir.files() {
        if let Some(contents) = file.contents_utf8() {
            files.push(SourceFile {
                path: file.path().to_string_lossy().replace('\\', "/"),
                contents: contents.to_owned(),
            });
        }
    }
    for sub in dir.dirs() {
        collect_bundled(sub, files);
    }
}

/// Reads every file of a program folder (hidden files skipped), paths relative to it.
pub fn read_dir(dir: &Path) -> anyhow::Result<ProgramSource> {
    if !dir.join("program.toml").is_file() {
        anyhow::bail!(
            "{} is not a program folder: it has no program.toml",
            dir.display()
        );
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ProgramSource { files })
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
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
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let contents = String::from_utf8(bytes)
                .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
            files.push(SourceFile {
                path: relative,
                contents,
            });
        }
    }
    Ok(())
}
