//! Reading a program folder into a [`ProgramSource`], and the bundled example program.

use include_dir::{include_dir, Dir};
use onboard_core::program::{ProgramSource, SourceFile};

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
