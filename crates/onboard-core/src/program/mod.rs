//! The program: onboarding as code. A folder with `program.toml`, `academy/<journey>/NN-*.md`
//! and `messages/<name>.md`, handed in as a [`ProgramSource`] (the caller reads the files:
//! this crate does no I/O), parsed and validated by [`load`] into a [`Program`], or refused
//! with [`Diagnostic`]s that carry file, line, column and a hint.

mod model;
mod parse;

pub use model::*;
pub use parse::load;

/// One file of a program folder, with its path relative to the folder (`/` separators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub contents: String,
}

/// All files of a program folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramSource {
    pub files: Vec<SourceFile>,
}

/// One problem found in a program, located in its file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}
