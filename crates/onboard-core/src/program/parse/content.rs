//! The Markdown files of a program: Academy modules (`academy/<journey>/NN-slug.md`) and
//! message templates (`messages/<name>.md`), each with TOML front matter between `+++`
//! lines. Message subjects and bodies are compiled with minijinja to catch template syntax
//! errors at load time. Whether a module's journey exists is checked in `check`.

use super::fields::{is_name, Cx, Text};
use super::tree::{self, FrontMatterError, LineIndex, Loc, Node};
use crate::program::{Checkpoint, CompiledMessage, MessageTemplate, Module};

const MODULE_FIELDS: &[&str] = &["title", "optional", "minutes", "checkpoint"];
const CHECKPOINT_FIELDS: &[&str] = &["question", "options", "answer"];
const MESSAGE_FIELDS: &[&str] = &["subject"];

/// An Academy module with the journey folder it came from.
#[derive(Debug)]
pub(crate) struct DraftModule {
    /// The module's file, as given in the source.
    pub file: String,
    pub journey: String,
    /// The number before the first `-` of the file name, for ordering.
    pub number: u32,
    /// The file name without its number, e.g. `import-your-data`.
    pub short_name: String,
    pub module: Module,
}

/// Reads an Academy module; `journey` and `stem` come from its path.
pub(crate) fn read_module(
    cx: &mut Cx<'_>,
    journey: &str,
    stem: &str,
    text: &str,
) -> Option<DraftModule> {
    let (number, short_name) = match stem.split_once('-') {
        Some((digits, rest))
            if !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
                && !rest.is_empty()
                && rest.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
                }) =>
        {
            (digits.parse::<u32>().ok(), rest.to_owned())
        }
        _ => (None, String::new()),
    };
    let Some(number) = number else {
        cx.error(
            Loc::START,
            format!("`{stem}.md` is not named like an Academy module"),
            "name modules with a number for their order and a lower-case name, e.g. `01-welcome.md`, `02-import-your-data.md`",
        );
        return None;
    };
    let lines = LineIndex::new(text);
    let (front, node) = front_matter(cx, text, &lines, MODULE_EXAMPLE)?;
    let t = cx.table(&node, "the module's front matter", MODULE_FIELDS)?;
    let title = cx.string(&t, "title");
    let optional = cx.boolean(&t, "optional", false);
    let minutes = cx.optional_count(&t, "minutes", 1);
    let checkpoint = match t.get("checkpoint") {
        Some(node) => Some(read_checkpoint(cx, node)?),
        None => None,
    };
    Some(DraftModule {
        file: cx.file.to_owned(),
        journey: journey.to_owned(),
        number,
        short_name,
        module: Module {
            slug: stem.to_owned(),
            title: title?.value,
            body: front.body.to_owned(),
            optional,
            minutes,
            checkpoint,
        },
    })
}

/// How a checkpoint is written, for hints.
const CHECKPOINT_EXAMPLE: &str = "`checkpoint = { question = \"Where do imports start?\", options = [\"Settings\", \"Leads → Import\"], answer = 2 }`";

/// Reads a module's `checkpoint`: a question, at least two options and the number (from 1)
/// of the right one.
fn read_checkpoint(cx: &mut Cx<'_>, node: &Node) -> Option<Checkpoint> {
    let what = "the module's `checkpoint`";
    let t = cx.table(node, what, CHECKPOINT_FIELDS)?;
    let question = cx.string(&t, "question");
    let options = match t.get("options") {
        None => {
            cx.error(
                t.loc,
                format!("{what} has no `options`"),
                format!("give at least two options to choose from, e.g. {CHECKPOINT_EXAMPLE}"),
            );
            None
        }
        Some(options_node) => {
            let texts = cx.strings(&t, "options");
            let n_given = match &options_node.value {
                tree::Value::Array(items) => items.len(),
                _ => 0,
            };
            let blank: Vec<&Text> = texts.iter().filter(|o| o.value.trim().is_empty()).collect();
            for option in &blank {
                cx.error(
                    option.loc,
                    format!("an option of {what} is empty"),
                    "give every option a text, or remove the empty one",
                );
            }
            if matches!(options_node.value, tree::Value::Array(_)) && n_given < 2 {
                cx.error(
                    options_node.loc,
                    format!(
                        "{what} has {} option{}: a question needs at least two",
                        n_given,
                        if n_given == 1 { "" } else { "s" }
                    ),
                    format!("list the options to choose from, e.g. {CHECKPOINT_EXAMPLE}"),
                );
            }
            (texts.len() == n_given && n_given >= 2 && blank.is_empty())
                .then(|| texts.into_iter().map(|o| o.value).collect::<Vec<_>>())
        }
    };
    let answer = cx.count(&t, "answer", 1);
    let (question, options, answer) = (question?, options?, answer?);
    let n_options = u32::try_from(options.len()).unwrap_or(u32::MAX);
    if answer > n_options {
        cx.error(
            t.get("answer").map_or(t.loc, |n| n.loc),
            format!("`answer` in {what} is {answer}, but there are only {n_options} options"),
            format!("`answer` is the number of the right option, from 1 to {n_options}"),
        );
        return None;
    }
    Some(Checkpoint {
        question: question.value,
        options,
        answer,
    })
}

/// How a module starts, for hints.
const MODULE_EXAMPLE: &str =
    "start the file with a `+++` line, `title = \"Import your data\"` (optionally `minutes = 5` and `optional = true`) and another `+++` line";
/// How a message starts, for hints.
const MESSAGE_EXAMPLE: &str =
    "start the file with a `+++` line, `subject = \"Welcome to {{ account.name }}\"` and another `+++` line";

/// Reads a message template; `name` is its file stem.
pub(crate) fn read_message(
    cx: &mut Cx<'_>,
    env: &minijinja::Environment<'_>,
    name: &str,
    text: &str,
) -> Option<MessageTemplate> {
    if !is_name(name) {
        cx.error(
            Loc::START,
            format!("`{name}` is not a valid message name"),
            "name message files with lower-case letters, digits, `-` and `_`, starting with a letter, e.g. `messages/welcome.md`",
        );
        return None;
    }
    let lines = LineIndex::new(text);
    let (front, node) = front_matter(cx, text, &lines, MESSAGE_EXAMPLE)?;
    let t = cx.table(&node, "the message's front matter", MESSAGE_FIELDS)?;
    let subject = cx
        .string(&t, "subject")
        .and_then(|subject| check_subject(cx, env, subject));
    let body_ok = match env.template_from_str(front.body) {
        Ok(_) => true,
        Err(error) => {
            let loc = match (error.range(), error.line()) {
                (Some(range), _) => lines.loc(front.body_offset + range.start),
                (None, Some(line)) => {
                    let first = lines.loc(front.body_offset).line;
                    let line = u32::try_from(line).unwrap_or(1).max(1);
                    Loc {
                        line: first.saturating_add(line - 1),
                        column: 1,
                    }
                }
                (None, None) => lines.loc(front.body_offset),
            };
            cx.error(
                loc,
                format!(
                    "the body of message `{name}` is not a valid template: {}",
                    describe(&error)
                ),
                TEMPLATE_HINT,
            );
            false
        }
    };
    let subject = subject?;
    if !body_ok {
        return None;
    }
    match CompiledMessage::new(&subject.value, front.body) {
        Ok(compiled) => Some(MessageTemplate {
            name: name.to_owned(),
            subject: subject.value,
            body: front.body.to_owned(),
            compiled,
        }),
        // Both texts compiled above; this is only reached if they stop doing so.
        Err(error) => {
            cx.error(
                lines.loc(front.body_offset),
                format!(
                    "message `{name}` is not a valid template: {}",
                    describe(&error)
                ),
                TEMPLATE_HINT,
            );
            None
        }
    }
}

const TEMPLATE_HINT: &str = "placeholders are written `{{ person.name }}`, blocks `{% if csm %}…{% endif %}`; write a literal `{{` as `{{ '{{' }}`";

fn check_subject(cx: &mut Cx<'_>, env: &minijinja::Environment<'_>, subject: Text) -> Option<Text> {
    if subject.value.contains('\n') {
        cx.error(
            subject.loc,
            "a subject must fit on one line",
            "remove the line breaks from `subject`",
        );
        return None;
    }
    match env.template_from_str(&subject.value) {
        Ok(_) => Some(subject),
        Err(error) => {
            cx.error(
                subject.loc,
                format!("the subject is not a valid template: {}", describe(&error)),
                TEMPLATE_HINT,
            );
            None
        }
    }
}

/// A minijinja error without the location it appends (we give our own).
fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// Splits off and parses the front matter, reporting what is wrong with it.
fn front_matter<'t>(
    cx: &mut Cx<'_>,
    text: &'t str,
    lines: &LineIndex<'_>,
    example: &str,
) -> Option<(tree::FrontMatter<'t>, Node)> {
    let front = match tree::split_front_matter(text) {
        Ok(front) => front,
        Err(FrontMatterError::Missing) => {
            cx.error(
                Loc::START,
                "the file has no front matter",
                format!("{example}, then the Markdown"),
            );
            return None;
        }
        Err(FrontMatterError::Yaml) => {
            cx.error(
                Loc::START,
                "front matter is TOML between `+++` lines, not YAML between `---` lines",
                format!("replace the `---` lines by `+++` and write the fields as TOML (`title = \"…\"`); {example}"),
            );
            return None;
        }
        Err(FrontMatterError::Unclosed) => {
            cx.error(
                Loc::START,
                "the front matter is not closed",
                "add a line with just `+++` after the front matter fields",
            );
            return None;
        }
    };
    match tree::parse(front.toml, front.toml_offset, lines) {
        // Problems with the front matter as a whole point at its opening line.
        Ok(node) => Some((
            front,
            Node {
                loc: Loc::START,
                ..node
            },
        )),
        Err(error) => {
            cx.error(
                error.loc,
                format!("the front matter is not valid TOML: {}", error.message),
                "write one `key = value` per line, with text in double quotes, e.g. `title = \"Welcome\"`",
            );
            None
        }
    }
}
