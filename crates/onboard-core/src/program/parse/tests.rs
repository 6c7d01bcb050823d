//! Behaviour of [`load`]: the bundled example loads cleanly, each kind of mistake is reported
//! at its file, line and column with a hint, the version tracks the files, and no input
//! makes loading panic.

use super::load;
use crate::program::{
    Action, Completion, Diagnostic, GoalMetric, MilestoneTrigger, ProgramSource, Recipient,
    Reentry, Side, SourceFile, Trigger,
};
use crate::time::Duration;
use proptest::prelude::*;
use std::path::Path;

const MINI: &str = r#"[program]
name = "Mini"
sender = { name = "CS", email = "cs@mini.example" }

[[personas]]
name = "admin"
journey = "basics"

[[team]]
name = "Ann"
email = "ann@mini.example"
role = "csm"

[[journeys]]
name = "basics"
title = "Basics"

[[templates]]
name = "onboarding"
title = "Onboarding"

[[templates.tasks]]
key = "kickoff"
title = "Kickoff"
owner = "team"
assignee = "csm"

[[templates.tasks]]
key = "setup"
title = "Setup"
owner = "customer"
assignee = "admin"
depends_on = ["kickoff"]

[[goals]]
name = "ready"
title = "Ready"
deadline_days = 30
metric = { task = "setup" }
target = 1

[[rules]]
name = "welcome-email"
on = "deal.won"

[[rules.actions]]
send = "welcome"
to = "people"
"#;

const MODULE: &str = "+++\ntitle = \"Start here\"\n+++\n\n# Start\n";
const MESSAGE: &str =
    "+++\nsubject = \"Hi {{ person.name }}\"\n+++\n\nWelcome to {{ account.name }}.\n";

fn source(files: &[(&str, &str)]) -> ProgramSource {
    ProgramSource {
        files: files
            .iter()
            .map(|(path, contents)| SourceFile {
                path: (*path).to_owned(),
                contents: (*contents).to_owned(),
            })
            .collect(),
    }
}

/// The small valid program, with `program.toml` replaced by `toml`.
fn mini_with(toml: &str) -> ProgramSource {
    source(&[
        ("program.toml", toml),
        ("academy/basics/01-start.md", MODULE),
        ("messages/welcome.md", MESSAGE),
    ])
}

/// The small valid program with one file replaced or added.
fn mini_with_file(path: &str, contents: &str) -> ProgramSource {
    let mut source = mini_with(MINI);
    source.files.retain(|f| f.path != path);
    source.files.push(SourceFile {
        path: path.to_owned(),
        contents: contents.to_owned(),
    });
    source
}

/// `MINI` with the first `from` replaced by `to`.
fn mini_edited(from: &str, to: &str) -> String {
    assert!(MINI.contains(from), "{from:?} is not in MINI");
    MINI.replacen(from, to, 1)
}

fn errors(source: &ProgramSource) -> Vec<Diagnostic> {
    match load(source) {
        Ok(_) => panic!("the program should have been refused"),
        Err(diagnostics) => diagnostics,
    }
}

/// 1-based line and column of the `n`th (from 0) occurrence of `needle` in `text`.
fn position(text: &str, needle: &str, n: usize) -> (u32, u32) {
    let (offset, _) = text
        .match_indices(needle)
        .nth(n)
        .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times", n + 1));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as u32, column as u32)
}

/// Asserts that a diagnostic whose message contains `message` is reported at `file`,
/// `at` (line, column), with a hint; returns it.
#[track_caller]
fn assert_reported<'d>(
    diagnostics: &'d [Diagnostic],
    file: &str,
    at: (u32, u32),
    message: &str,
) -> &'d Diagnostic {
    let all = diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let found = diagnostics
        .iter()
        .find(|d| d.message.contains(message))
        .unwrap_or_else(|| panic!("no diagnostic says {message:?}; got:\n{all}"));
    assert_eq!(found.file, file, "{all}");
    assert_eq!(
        (found.line, found.column),
        at,
        "wrong place for {found}\nall:\n{all}"
    );
    let hint = found.hint.as_deref().unwrap_or("");
    assert!(!hint.trim().is_empty(), "no hint for {found}");
    found
}

fn hint(d: &Diagnostic) -> &str {
    d.hint.as_deref().unwrap_or("")
}

fn read_folder(root: &Path) -> ProgramSource {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) {
        for entry in std::fs::read_dir(dir).expect("readable folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                let relative: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.push(SourceFile {
                    path: relative.join("/"),
                    contents: std::fs::read_to_string(&path).expect("UTF-8 file"),
                });
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    ProgramSource { files }
}

fn example() -> ProgramSource {
    read_folder(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../program"
    )))
}

// ------------------------------------------------------------------ loading what is valid

#[test]
fn the_bundled_example_program_loads_cleanly() {
    let program = match load(&example()) {
        Ok(program) => program,
        Err(diagnostics) => panic!(
            "the example has problems:\n{}",
            diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    assert_eq!(program.name, "Pipeflow CRM onboarding");
    let personas: Vec<&str> = program.personas.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(personas, ["admin", "end_user", "executive"]);
    assert_eq!(
        program
            .persona("end_user")
            .and_then(|p| p.aha_event.as_deref()),
        Some("Lead Imported")
    );
    for journey in &program.journeys {
        assert!((3..=5).contains(&journey.core.len()), "{}", journey.name);
        assert!((1..=2).contains(&journey.library.len()), "{}", journey.name);
    }
    assert!(program.csms().count() >= 2);
    assert!(program.team.iter().any(|m| m.role == "sales"));
    let onboarding = program.template("onboarding").expect("onboarding template");
    assert!((8..=12).contains(&onboarding.tasks.len()));
    assert_eq!(onboarding.next.as_deref(), Some("adoption"));
    assert!(onboarding.tasks.iter().any(|t| t.owner == Side::Team));
    assert!(onboarding.tasks.iter().any(|t| t.owner == Side::Customer));
    assert!(onboarding.tasks.iter().any(|t| t.milestone));
    assert!(onboarding.tasks.iter().any(|t| t.snooze_days > 0));
    assert!(program.template("adoption").is_some());
    let deadlines: Vec<u32> = program.goals.iter().map(|g| g.deadline_days).collect();
    for days in [30, 60, 90] {
        assert!(deadlines.contains(&days), "no goal at {days} days");
    }
    let welcome = program.rule("welcome-email").expect("welcome rule");
    assert!(
        matches!(&welcome.trigger, Trigger::On { event } if event.as_str() == "person.enrolled")
    );
    assert!(welcome.actions.contains(&Action::Send {
        message: "welcome".to_owned(),
        to: Recipient::Person,
    }));
    assert_eq!(program.crm.hubspot_won_stages, ["closedwon"]);
    assert_eq!(
        program
            .crm
            .owners
            .get("tom@pipeflow.example")
            .map(String::as_str),
        Some("dana@pipeflow.example")
    );
    assert_eq!(program.default_persona.as_deref(), Some("end_user"));
    assert_eq!(program.segments.len(), 2);
    let nudge = program.rule("no-login-nudge").expect("nudge rule");
    match &nudge.trigger {
        Trigger::After {
            delay,
            since,
            unless,
        } => {
            assert_eq!(*delay, Duration::parse("72h").expect("duration"));
            assert_eq!(since.as_str(), "person.enrolled");
            assert_eq!(unless.as_ref().map(|e| e.as_str()), Some("academy.login"));
        }
        other => panic!("unexpected trigger {other:?}"),
    }
    let stalled = program.rule("stalled-account-csm").expect("stalled rule");
    assert_eq!(
        stalled.reentry,
        Reentry::Every(Duration::parse("7d").expect("duration"))
    );
    assert!(program
        .rules
        .iter()
        .flat_map(|r| &r.actions)
        .any(|a| matches!(a, Action::Emit { .. })));
    for action in program.rules.iter().flat_map(|r| &r.actions) {
        if let Action::Send { message, .. } = action {
            assert!(program.messages.contains_key(message), "{message}");
        }
    }
    assert_eq!(program.version.0.len(), 64);
}

#[test]
fn a_small_program_loads_into_the_model() {
    let program = load(&mini_with(MINI)).expect("valid");
    assert_eq!(program.sender.email, "cs@mini.example");
    let template = program.template("onboarding").expect("template");
    assert_eq!(template.completion, Completion::FinalTask);
    assert!(!template.draft);
    assert_eq!(template.tasks[1].depends_on, ["kickoff"]);
    assert_eq!(template.tasks[0].snooze_days, 0);
    assert_eq!(
        program.goals[0].metric,
        GoalMetric::Task {
            task: "setup".to_owned()
        }
    );
    assert_eq!(program.rules[0].reentry, Reentry::Once);
    assert_eq!(program.journeys[0].core[0].slug, "01-start");
    assert_eq!(program.journeys[0].core[0].body, "# Start\n");
    assert_eq!(program.messages["welcome"].subject, "Hi {{ person.name }}");
}

#[test]
fn modules_are_ordered_by_number_and_split_into_core_and_library() {
    let mut source = mini_with(MINI);
    for (path, optional) in [
        ("academy/basics/10-later.md", false),
        ("academy/basics/02-extra.md", true),
        ("academy/basics/03-next.md", false),
    ] {
        source.files.push(SourceFile {
            path: path.to_owned(),
            contents: format!(
                "+++\ntitle = \"T\"\noptional = {optional}\nminutes = 3\n+++\nBody\n"
            ),
        });
    }
    let program = load(&source).expect("valid");
    let journey = &program.journeys[0];
    let core: Vec<&str> = journey.core.iter().map(|m| m.slug.as_str()).collect();
    assert_eq!(core, ["01-start", "03-next", "10-later"]);
    assert_eq!(journey.library.len(), 1);
    assert_eq!(journey.library[0].slug, "02-extra");
    assert_eq!(journey.library[0].minutes, Some(3));
}

#[test]
fn files_outside_the_program_areas_are_ignored() {
    let source = mini_with_file("README.md", "not a program file +++");
    assert!(load(&source).is_ok());
    let source = mini_with_file("./notes/todo.txt", "");
    assert!(load(&source).is_ok());
}

// ------------------------------------------------------------------------ syntax and shape

#[test]
fn a_toml_syntax_error_is_reported_with_its_location() {
    let toml = mini_edited("title = \"Basics\"", "title = \"Basics");
    let diagnostics = errors(&mini_with(&toml));
    let (line, _) = position(&toml, "title = \"Basics", 0);
    // At the end of the line, where the string should have been closed.
    let d = assert_reported(&diagnostics, "program.toml", (line, 16), "not valid TOML");
    assert!(d.line >= 1);
}

#[test]
fn an_unknown_field_is_reported_with_its_location_and_the_closest_field() {
    let toml = mini_edited("journey = \"basics\"", "journy = \"basics\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "journy", 0),
        "unknown field `journy`",
    );
    assert!(hint(d).contains("`journey`"), "{d}");
}

#[test]
fn several_unknown_fields_are_all_reported() {
    let toml = format!("{MINI}\n[scoring]\nweights = 1\n").replacen(
        "title = \"Kickoff\"",
        "title = \"Kickoff\"\ncolour = \"red\"",
        1,
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "colour", 0),
        "unknown field `colour`",
    );
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "scoring", 0),
        "unknown field `scoring`",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_reported_at_the_value() {
    let toml = mini_edited("deadline_days = 30", "deadline_days = \"30\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"30\"", 0),
        "`deadline_days` in [[goals]] must be a whole number, not a string",
    );
}

#[test]
fn a_missing_required_field_is_reported_at_its_table() {
    let toml = mini_edited("title = \"Basics\"\n", "");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "[[journeys]]", 0),
        "[[journeys]] has no `title`",
    );
    assert!(hint(d).contains("title = "));
}

#[test]
fn a_missing_program_toml_is_reported() {
    let source = source(&[("messages/welcome.md", MESSAGE)]);
    let diagnostics = errors(&source);
    assert_reported(&diagnostics, "program.toml", (1, 1), "no program.toml");
}

#[test]
fn a_missing_program_table_is_reported() {
    let diagnostics = errors(&mini_with("# nothing\n"));
    assert_reported(&diagnostics, "program.toml", (1, 1), "no [program] table");
}

#[test]
fn a_malformed_name_is_reported() {
    let toml = mini_edited("name = \"admin\"", "name = \"Admin User\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"Admin User\"", 0),
        "`Admin User` is not a valid name",
    );
}

#[test]
fn a_malformed_email_is_reported() {
    let toml = mini_edited("ann@mini.example", "Ann <ann at mini>");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"Ann <ann", 0),
        "is not an email address",
    );
}

// ------------------------------------------------------------------------------ duplicates

#[test]
fn duplicate_names_are_reported_at_the_second_declaration() {
    // (extra TOML, the second declaration, its occurrence, the message)
    let cases: [(&str, &str, usize, &str); 6] = [
        (
            "[[personas]]\nname = \"admin\"\n",
            "\"admin\"",
            2,
            "duplicate persona `admin`",
        ),
        (
            "[[team]]\nname = \"Ann B\"\nemail = \"ANN@mini.example\"\nrole = \"csm\"\n",
            "\"ANN@mini.example\"",
            0,
            "duplicate team member email",
        ),
        (
            "[[journeys]]\nname = \"basics\"\ntitle = \"Again\"\n",
            "\"basics\"\ntitle = \"Again\"",
            0,
            "duplicate journey `basics`",
        ),
        (
            "[[templates]]\nname = \"onboarding\"\ntitle = \"Again\"\ncompletion = \"manual\"\n",
            "\"onboarding\"\ntitle = \"Again\"",
            0,
            "duplicate template `onboarding`",
        ),
        (
            "[[goals]]\nname = \"ready\"\ntitle = \"Again\"\ndeadline_days = 60\nmetric = \"active_users\"\ntarget = 3\n",
            "\"ready\"\ntitle = \"Again\"",
            0,
            "duplicate goal `ready`",
        ),
        (
            "[[rules]]\nname = \"welcome-email\"\non = \"deal.won\"\n[[rules.actions]]\nemit = \"x.y\"\n",
            "\"welcome-email\"",
            1,
            "duplicate rule `welcome-email`",
        ),
    ];
    for (extra, needle, occurrence, message) in cases {
        let toml = format!("{MINI}\n{extra}");
        let diagnostics = errors(&mini_with(&toml));
        let at = position(&toml, needle, occurrence);
        assert!(
            toml[..MINI.len()].matches(needle).count() == occurrence,
            "{needle}"
        );
        let d = assert_reported(&diagnostics, "program.toml", at, message);
        assert!(hint(d).contains("line"), "{d}");
    }
}

#[test]
fn duplicate_task_keys_in_a_template_are_reported() {
    let toml = mini_edited("key = \"setup\"", "key = \"kickoff\"");
    let diagnostics = errors(&mini_with(&toml));
    let (line, column) = position(&toml, "\"kickoff\"", 1);
    assert_reported(
        &diagnostics,
        "program.toml",
        (line, column),
        "duplicate task `kickoff` in template `onboarding`",
    );
}

#[test]
fn duplicate_modules_of_a_journey_are_reported() {
    let mut source = mini_with_file("academy/basics/01-other.md", MODULE);
    source.files.push(SourceFile {
        path: "academy/basics/02-start.md".to_owned(),
        contents: MODULE.to_owned(),
    });
    let diagnostics = errors(&source);
    assert_reported(
        &diagnostics,
        "academy/basics/01-start.md",
        (1, 1),
        "have the same number",
    );
    assert_reported(
        &diagnostics,
        "academy/basics/02-start.md",
        (1, 1),
        "duplicate module `start`",
    );
}

// ------------------------------------------------------------------------------ references

#[test]
fn an_unknown_persona_reference_is_reported_with_its_location() {
    let toml = mini_edited("assignee = \"admin\"", "assignee = \"admn\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"admn\"", 0),
        "unknown persona `admn`",
    );
    assert!(hint(d).contains("did you mean `admin`?"), "{d}");
}

#[test]
fn an_unknown_journey_reference_is_reported_with_the_known_ones() {
    let toml = mini_edited("journey = \"basics\"", "journey = \"advanced\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"advanced\"", 0),
        "unknown journey `advanced`",
    );
    assert!(hint(d).contains("`basics`"), "{d}");
    assert!(!hint(d).contains("did you mean"), "{d}");
}

#[test]
fn an_unknown_template_reference_is_reported() {
    let toml = mini_edited(
        "title = \"Onboarding\"",
        "title = \"Onboarding\"\nnext = \"adoptoin\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"adoptoin\"", 0),
        "unknown template `adoptoin`",
    );
    let toml = mini_edited(
        "title = \"Ready\"",
        "title = \"Ready\"\ntemplate = \"onbording\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"onbording\"", 0),
        "unknown template `onbording`",
    );
    assert!(hint(d).contains("did you mean `onboarding`?"), "{d}");
}

#[test]
fn an_unknown_message_reference_is_reported() {
    let toml = mini_edited("send = \"welcome\"", "send = \"welcom\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"welcom\"", 0),
        "unknown message `welcom`",
    );
    assert!(hint(d).contains("did you mean `welcome`?"), "{d}");
    assert!(hint(d).contains("messages/welcom.md"), "{d}");
}

#[test]
fn unknown_task_references_are_reported() {
    let toml = mini_edited("depends_on = [\"kickoff\"]", "depends_on = [\"kick-off\"]").replacen(
        "metric = { task = \"setup\" }",
        "metric = { task = \"set-up\" }\nkey_tasks = [\"launch\"]",
        1,
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"kick-off\"", 0),
        "unknown task `kick-off`",
    );
    assert!(hint(d).contains("did you mean `kickoff`?"), "{d}");
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"set-up\"", 0),
        "unknown task `set-up`",
    );
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"launch\"", 0),
        "unknown task `launch`",
    );
}

#[test]
fn a_recipient_persona_must_be_declared() {
    let toml = mini_edited("to = \"people\"", "to = \"persona:owner\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"persona:owner\"", 0),
        "unknown persona `owner`",
    );
}

#[test]
fn an_unknown_recipient_is_reported() {
    let toml = mini_edited("to = \"people\"", "to = \"everyone\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"everyone\"", 0),
        "not a recipient",
    );
}

#[test]
fn a_team_task_must_be_assigned_to_a_role_held_in_the_team() {
    let toml = mini_edited("assignee = \"csm\"", "assignee = \"cms\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"cms\"", 0),
        "no team member has the role `cms`",
    );
    assert!(hint(d).contains("did you mean `csm`?"), "{d}");
}

#[test]
fn a_customer_task_must_be_assigned_to_a_persona() {
    let toml = mini_edited("assignee = \"admin\"", "assignee = \"csm\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"csm\"", 2),
        "unknown persona `csm`",
    );
    assert!(hint(d).contains("owner = \"team\""), "{d}");
}

// --------------------------------------------------------------------------------- cycles

#[test]
fn a_cycle_in_template_chaining_is_reported_with_its_path() {
    let toml = mini_edited("title = \"Onboarding\"", "title = \"Onboarding\"\nnext = \"adoption\"")
        + "\n[[templates]]\nname = \"adoption\"\ntitle = \"Adoption\"\nnext = \"onboarding\"\ncompletion = \"manual\"\n";
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"adoption\"", 0),
        "templates chain in a cycle: onboarding -> adoption -> onboarding",
    );
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
}

#[test]
fn a_template_chaining_into_itself_is_a_cycle() {
    let toml = mini_edited(
        "title = \"Onboarding\"",
        "title = \"Onboarding\"\nnext = \"onboarding\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"onboarding\"", 1),
        "onboarding -> onboarding",
    );
}

#[test]
fn a_cycle_in_task_dependencies_is_reported_with_its_path() {
    let toml = mini_edited(
        "assignee = \"csm\"",
        "assignee = \"csm\"\ndepends_on = [\"setup\"]",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"kickoff\"]", 0),
        "tasks depend on each other in a cycle: kickoff -> setup -> kickoff",
    );
}

#[test]
fn nothing_may_depend_on_the_final_task() {
    let toml = mini_edited("assignee = \"csm\"\n", "assignee = \"csm\"\n")
        + "\n[[templates]]\nname = \"adoption\"\ntitle = \"Adoption\"\n[[templates.tasks]]\nkey = \"a\"\ntitle = \"A\"\nowner = \"team\"\nassignee = \"csm\"\ndepends_on = [\"b\"]\n[[templates.tasks]]\nkey = \"b\"\ntitle = \"B\"\nowner = \"team\"\nassignee = \"csm\"\n";
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"b\"]", 0),
        "the final task of template `adoption`",
    );
}

// --------------------------------------------------------------------------------- rules

#[test]
fn a_bad_duration_is_reported_with_examples() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "after = \"3 days\"\nsince = \"deal.won\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"3 days\"", 0),
        "`3 days` is not a duration",
    );
    assert!(hint(d).contains("72h"), "{d}");
}

#[test]
fn a_bad_reentry_interval_is_reported() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nreentry = { every = \"weekly\" }",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"weekly\"", 0),
        "`weekly` is not a duration",
    );
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nreentry = \"twice\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"twice\"", 0),
        "not a re-entry policy",
    );
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nreentry = { at_most = 0 }",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "0 }", 0),
        "out of range",
    );
}

#[test]
fn a_bad_event_type_is_reported() {
    let toml = mini_edited("on = \"deal.won\"", "on = \"Deal Won\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"Deal Won\"", 0),
        "`Deal Won` is not an event type",
    );
    assert!(hint(d).contains("deal.won"), "{d}");
}

#[test]
fn a_rule_with_both_on_and_after_is_reported() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nafter = \"1h\"\nsince = \"deal.won\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "after", 0),
        "has both `on` and `after`",
    );
}

#[test]
fn a_rule_without_a_trigger_is_reported_at_the_rule() {
    let toml = mini_edited("on = \"deal.won\"\n", "");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "[[rules]]", 0),
        "rule `welcome-email` has no trigger",
    );
}

#[test]
fn unless_without_after_is_reported() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nunless = \"academy.login\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "unless", 0),
        "`unless` in rule `welcome-email` only goes with `after`",
    );
}

#[test]
fn after_without_since_is_reported() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "after = \"72h\"\nunless = \"academy.login\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "after", 0),
        "says `after` but not since which event",
    );
    assert!(hint(d).contains("since = "), "{d}");
}

#[test]
fn an_action_must_send_or_emit() {
    let toml = mini_edited(
        "send = \"welcome\"",
        "emit = \"welcome.sent\"\nsend = \"welcome\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "emit", 0),
        "both `send` and `emit`",
    );
}

// --------------------------------------------------------------------------------- goals

#[test]
fn a_goal_deadline_must_be_after_day_zero() {
    let toml = mini_edited("deadline_days = 30", "deadline_days = 0");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "0\n", 0),
        "`deadline_days` in [[goals]] is 0",
    );
    assert!(hint(d).contains("from 1"), "{d}");
}

#[test]
fn a_goal_target_must_not_be_negative() {
    let toml = mini_edited("target = 1", "target = -2.5");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "-2.5", 0),
        "must be 0 or more",
    );
}

#[test]
fn a_seat_share_target_is_a_fraction() {
    let toml = mini_edited(
        "metric = { task = \"setup\" }\ntarget = 1",
        "metric = \"seat_share_active\"\ntarget = 80",
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "80", 0),
        "fraction",
    );
    assert!(hint(d).contains("0.8"), "{d}");
}

#[test]
fn an_unknown_metric_is_reported() {
    let toml = mini_edited("metric = { task = \"setup\" }", "metric = \"logins\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"logins\"", 0),
        "not a goal metric",
    );
}

// --------------------------------------------------------------------------------- tasks

#[test]
fn a_task_due_before_it_shows_is_reported() {
    let toml = mini_edited(
        "assignee = \"csm\"",
        "assignee = \"csm\"\nsnooze_days = 5\ndue_days = 2",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "2\n", 0),
        "before it shows",
    );
}

#[test]
fn an_unknown_task_owner_is_reported() {
    let toml = mini_edited("owner = \"team\"", "owner = \"us\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"us\"", 0),
        "not a task owner",
    );
}

// ------------------------------------------------------------------------------- messages

#[test]
fn invalid_message_template_syntax_is_reported_at_its_line() {
    let text = "+++\nsubject = \"Hi\"\n+++\n\nHello {{ person.name }},\n\n{% if csm %}Your CSM is {{ csm.name }}.\n";
    let diagnostics = errors(&mini_with_file("messages/welcome.md", text));
    let d = assert_reported(
        &diagnostics,
        "messages/welcome.md",
        (7, 39),
        "the body of message `welcome` is not a valid template",
    );
    assert!(d.message.contains("syntax error"), "{d}");
    let text = "+++\nsubject = \"Hi\"\n+++\nHello {{ person.name }\n";
    let diagnostics = errors(&mini_with_file("messages/welcome.md", text));
    let d = &diagnostics[0];
    assert_eq!((d.file.as_str(), d.line), ("messages/welcome.md", 4), "{d}");
}

#[test]
fn invalid_subject_template_syntax_is_reported_at_the_subject() {
    let text = "+++\nsubject = \"Hi {{ person.name \"\n+++\nBody\n";
    let diagnostics = errors(&mini_with_file("messages/welcome.md", text));
    assert_reported(
        &diagnostics,
        "messages/welcome.md",
        (2, 11),
        "the subject is not a valid template",
    );
}

#[test]
fn a_message_without_a_subject_is_reported() {
    let diagnostics = errors(&mini_with_file("messages/welcome.md", "+++\n+++\nBody\n"));
    assert_reported(
        &diagnostics,
        "messages/welcome.md",
        (1, 1),
        "has no `subject`",
    );
    let diagnostics = errors(&mini_with_file("messages/welcome.md", "Body only\n"));
    assert_reported(
        &diagnostics,
        "messages/welcome.md",
        (1, 1),
        "no front matter",
    );
}

#[test]
fn a_front_matter_syntax_error_is_reported_in_its_file() {
    let text = "+++\ntitle = \"Start\n+++\nBody\n";
    let diagnostics = errors(&mini_with_file("academy/basics/01-start.md", text));
    let d = assert_reported(
        &diagnostics,
        "academy/basics/01-start.md",
        (2, 15),
        "not valid TOML",
    );
    assert!(d.line >= 2);
}

#[test]
fn yaml_front_matter_is_refused_with_a_hint() {
    let diagnostics = errors(&mini_with_file(
        "academy/basics/01-start.md",
        "---\ntitle: Start\n---\nBody\n",
    ));
    let d = assert_reported(
        &diagnostics,
        "academy/basics/01-start.md",
        (1, 1),
        "not YAML",
    );
    assert!(hint(d).contains("+++"), "{d}");
}

#[test]
fn an_unknown_front_matter_field_is_reported() {
    let text = "+++\ntitle = \"Start\"\nduration = 5\n+++\nBody\n";
    let diagnostics = errors(&mini_with_file("academy/basics/01-start.md", text));
    let d = assert_reported(
        &diagnostics,
        "academy/basics/01-start.md",
        (3, 1),
        "unknown field `duration`",
    );
    assert!(hint(d).contains("minutes"), "{d}");
}

// -------------------------------------------------------------------------------- academy

#[test]
fn academy_files_for_an_undeclared_journey_are_reported() {
    let source = mini_with_file("academy/basic/01-start.md", MODULE);
    let diagnostics = errors(&source);
    let d = assert_reported(
        &diagnostics,
        "academy/basic/01-start.md",
        (1, 1),
        "`academy/basic/` is not a declared journey",
    );
    assert!(hint(d).contains("did you mean `academy/basics/`?"), "{d}");
}

#[test]
fn a_declared_journey_without_modules_is_reported() {
    let mut source = mini_with(MINI);
    source.files.retain(|f| !f.path.starts_with("academy/"));
    let diagnostics = errors(&source);
    assert_reported(
        &diagnostics,
        "program.toml",
        position(MINI, "\"basics\"", 1),
        "journey `basics` has no modules",
    );
}

#[test]
fn a_module_file_name_needs_a_number() {
    let diagnostics = errors(&mini_with_file("academy/basics/intro.md", MODULE));
    assert_reported(
        &diagnostics,
        "academy/basics/intro.md",
        (1, 1),
        "not named like an Academy module",
    );
}

/// A module of `basics` whose front matter holds `checkpoint`.
fn module_with_checkpoint(checkpoint: &str) -> String {
    format!("+++\ntitle = \"Quiz\"\ncheckpoint = {checkpoint}\n+++\nBody\n")
}

#[test]
fn a_module_checkpoint_is_read_with_its_question_options_and_answer() {
    let text = module_with_checkpoint(
        r#"{ question = "Where do imports start?", options = ["Settings", "Leads → Import"], answer = 2 }"#,
    );
    let program = load(&mini_with_file("academy/basics/02-quiz.md", &text)).expect("valid");
    let checkpoint = program.journeys[0].core[1]
        .checkpoint
        .as_ref()
        .expect("a checkpoint");
    assert_eq!(checkpoint.question, "Where do imports start?");
    assert_eq!(checkpoint.options, ["Settings", "Leads → Import"]);
    assert_eq!(checkpoint.answer, 2);
    assert_eq!(program.journeys[0].core[0].checkpoint, None);
}

#[test]
fn a_checkpoint_without_options_is_reported() {
    let path = "academy/basics/02-quiz.md";
    for options in ["[]", r#"["Only one"]"#] {
        let text = module_with_checkpoint(&format!(
            r#"{{ question = "Q?", options = {options}, answer = 1 }}"#
        ));
        let diagnostics = errors(&mini_with_file(path, &text));
        let d = assert_reported(
            &diagnostics,
            path,
            position(&text, options, 0),
            "a question needs at least two",
        );
        assert!(hint(d).contains("options = ["), "{d}");
    }
    let text = module_with_checkpoint(r#"{ question = "Q?", answer = 1 }"#);
    let diagnostics = errors(&mini_with_file(path, &text));
    assert_reported(
        &diagnostics,
        path,
        position(&text, "{", 0),
        "has no `options`",
    );
}

#[test]
fn an_empty_checkpoint_option_is_reported() {
    let path = "academy/basics/02-quiz.md";
    let text = module_with_checkpoint(r#"{ question = "Q?", options = ["Yes", " "], answer = 1 }"#);
    let diagnostics = errors(&mini_with_file(path, &text));
    assert_reported(
        &diagnostics,
        path,
        position(&text, "\" \"", 0),
        "an option of the module's `checkpoint` is empty",
    );
}

#[test]
fn a_checkpoint_answer_out_of_range_is_reported() {
    let path = "academy/basics/02-quiz.md";
    for answer in ["3", "0"] {
        let text = module_with_checkpoint(&format!(
            r#"{{ question = "Q?", options = ["Yes", "No"], answer = {answer} }}"#
        ));
        let diagnostics = errors(&mini_with_file(path, &text));
        let d = assert_reported(
            &diagnostics,
            path,
            position(&text, &format!("{answer} }}"), 0),
            "`answer` in the module's `checkpoint` is",
        );
        assert!(
            hint(d).contains("from 1"),
            "the hint says which numbers work: {d}"
        );
    }
}

#[test]
fn an_unknown_checkpoint_field_is_reported() {
    let path = "academy/basics/02-quiz.md";
    let text =
        module_with_checkpoint(r#"{ question = "Q?", options = ["Yes", "No"], answers = 1 }"#);
    let diagnostics = errors(&mini_with_file(path, &text));
    let d = assert_reported(
        &diagnostics,
        path,
        position(&text, "answers", 0),
        "unknown field `answers` in the module's `checkpoint`",
    );
    assert!(hint(d).contains("did you mean `answer`?"), "{d}");
}

#[test]
fn files_that_are_not_markdown_under_messages_or_academy_are_reported() {
    for path in ["messages/welcome.txt", "academy/basics/diagram.png"] {
        let diagnostics = errors(&mini_with_file(path, "x"));
        let d = assert_reported(&diagnostics, path, (1, 1), "is not a Markdown file");
        assert!(hint(d).contains(".md"), "{d}");
    }
    let diagnostics = errors(&mini_with_file("academy/01-start.md", MODULE));
    assert_reported(
        &diagnostics,
        "academy/01-start.md",
        (1, 1),
        "not in a journey folder",
    );
    let diagnostics = errors(&mini_with_file("messages/old/welcome.md", MESSAGE));
    assert_reported(
        &diagnostics,
        "messages/old/welcome.md",
        (1, 1),
        "not directly in messages/",
    );
}

// ---------------------------------------------------------------------------- all at once

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let toml = mini_edited("on = \"deal.won\"", "on = \"Deal Won\"")
        .replacen("assignee = \"admin\"", "assignee = \"boss\"", 1)
        .replacen("deadline_days = 30", "deadline_days = 0", 1);
    let mut source = mini_with(&toml);
    source.files.push(SourceFile {
        path: "messages/bad.md".to_owned(),
        contents: "+++\nsubject = \"{{\"\n+++\n".to_owned(),
    });
    let diagnostics = errors(&source);
    assert!(diagnostics.len() >= 4, "{diagnostics:?}");
    let files: Vec<&str> = diagnostics.iter().map(|d| d.file.as_str()).collect();
    assert!(files.contains(&"messages/bad.md"));
    assert!(diagnostics
        .windows(2)
        .all(|w| (&w[0].file, w[0].line) <= (&w[1].file, w[1].line)));
}

// -------------------------------------------------------------------------------- version

#[test]
fn the_version_changes_when_any_file_changes_and_is_stable_otherwise() {
    let base = load(&example()).expect("valid").version;
    assert_eq!(load(&example()).expect("valid").version, base);

    let mut reordered = example();
    reordered.files.reverse();
    assert_eq!(super::version(&reordered), base);

    let n_files = example().files.len();
    for i in 0..n_files {
        let mut changed = example();
        changed.files[i].contents.push(' ');
        assert_ne!(super::version(&changed), base, "{}", changed.files[i].path);
        let mut renamed = example();
        renamed.files[i].path.push('x');
        assert_ne!(super::version(&renamed), base);
    }
    let mut extra = example();
    extra.files.push(SourceFile {
        path: "README.md".to_owned(),
        contents: String::new(),
    });
    assert_ne!(super::version(&extra), base);

    // Moving bytes between a path and its contents gives another version.
    let a = source(&[("ab", "c")]);
    let b = source(&[("a", "bc")]);
    assert_ne!(super::version(&a), super::version(&b));
}

// ------------------------------------------------------------------------------- robustness

#[test]
fn deeply_nested_input_is_refused_without_overflowing() {
    let toml = format!("a = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    let diagnostics = errors(&mini_with(&toml));
    assert!(diagnostics[0].line >= 1);
    let toml = format!("a = {}{}\n", "{ b = ".repeat(5000), "}".repeat(5000));
    assert!(!errors(&mini_with(&toml)).is_empty());
    let body = format!(
        "+++\nsubject = 'x'\n+++\n{{{{ {}1{} }}}}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(!errors(&mini_with_file("messages/welcome.md", &body)).is_empty());
    let body = format!("+++\nsubject = 'x'\n+++\n{}", "{% if x %}".repeat(3000));
    assert!(!errors(&mini_with_file("messages/welcome.md", &body)).is_empty());
}

/// Every diagnostic is placed at line and column 1 or more, with a hint.
fn well_formed(result: Result<crate::program::Program, Vec<Diagnostic>>) -> Result<(), String> {
    match result {
        Ok(_) => Ok(()),
        Err(diagnostics) if diagnostics.is_empty() => {
            Err("refused without a diagnostic".to_owned())
        }
        Err(diagnostics) => match diagnostics
            .iter()
            .find(|d| d.line < 1 || d.column < 1 || d.hint.is_none())
        {
            Some(d) => Err(format!("badly placed: {d}")),
            None => Ok(()),
        },
    }
}

fn toml_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "[program]\n",
        "name = \"x\"\n",
        "sender = { name = \"a\", email = \"a@b.c\" }\n",
        "[[personas]]\n",
        "journey = \"basics\"\n",
        "[[team]]\n",
        "role = \"csm\"\n",
        "email = \"a@b.c\"\n",
        "[[journeys]]\n",
        "title = \"T\"\n",
        "[[templates]]\n",
        "next = \"x\"\n",
        "[[templates.tasks]]\n",
        "key = \"k\"\n",
        "owner = \"team\"\n",
        "owner = \"customer\"\n",
        "assignee = \"csm\"\n",
        "depends_on = [\"k\"]\n",
        "snooze_days = 3\n",
        "due_days = -1\n",
        "[[goals]]\n",
        "metric = { task = \"k\" }\n",
        "metric = \"seat_share_active\"\n",
        "target = 1e400\n",
        "deadline_days = 0\n",
        "[[rules]]\n",
        "on = \"deal.won\"\n",
        "after = \"72h\"\n",
        "since = \"x\"\n",
        "unless = \"\"\n",
        "reentry = { every = \"0h\" }\n",
        "[[rules.actions]]\n",
        "send = \"welcome\"\n",
        "to = \"persona:\"\n",
        "emit = \"a.b\"\n",
        "x.y.z = 1\n",
        "d = 1979-05-27\n",
        "\"$__serde_spanned_private_start\" = 1\n",
        "é = 'ü'\n",
        "[",
        "]",
        "=",
        "\"",
        "\n",
        " ",
        "{",
        "}",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_program_toml_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(well_formed(load(&mini_with(&text))), Ok(()));
    }

    #[test]
    fn random_text_as_program_toml_never_panics(text in ".{0,300}") {
        prop_assert_eq!(well_formed(load(&mini_with(&text))), Ok(()));
    }

    #[test]
    fn toml_like_program_toml_never_panics(text in toml_soup()) {
        prop_assert_eq!(well_formed(load(&mini_with(&text))), Ok(()));
    }

    #[test]
    fn random_message_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), prefix in prop::sample::select(vec!["", "+++\n", "+++\nsubject = \"{{ x }}\"\n+++\n", "+++\nsubject = 'a'\n+++\n{% if %}"])) {
        let text = format!("{prefix}{}", String::from_utf8_lossy(&bytes));
        prop_assert_eq!(well_formed(load(&mini_with_file("messages/welcome.md", &text))), Ok(()));
        prop_assert_eq!(well_formed(load(&mini_with_file("academy/basics/01-start.md", &text))), Ok(()));
    }

    #[test]
    fn the_example_with_a_line_removed_never_panics(line in 0usize..400) {
        let mut source = example();
        if let Some(file) = source.files.iter_mut().find(|f| f.path == "program.toml") {
            let lines: Vec<&str> = file.contents.lines().collect();
            let n = line % lines.len().max(1);
            file.contents = lines.iter().enumerate().filter(|&(i, _)| i != n).map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
        }
        prop_assert_eq!(well_formed(load(&source)), Ok(()));
    }
}

// ----------------------------------------------------------------------------- conditions

#[test]
fn a_rule_condition_is_parsed_into_the_rule() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nwhen = \"account.seats >= 10 and person.persona == \\\"admin\\\"\"",
    );
    let program = load(&mini_with(&toml)).expect("a valid condition");
    let when = program.rules[0].when.as_ref().expect("a condition");
    assert_eq!(
        when.source(),
        "account.seats >= 10 and person.persona == \"admin\""
    );
}

#[test]
fn a_type_error_in_a_condition_is_reported_at_its_column() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nwhen = \"account.seats == 'x' or account.seats > \\\"ten\\\"\"",
    );
    let toml = toml.replace("'x'", "3");
    let diagnostics = errors(&mini_with(&toml));
    let (line, column) = position(&toml, "account.seats > ", 0);
    let d = assert_reported(&diagnostics, "program.toml", (line, column), "in `when`: ");
    assert!(d.message.contains("number"), "{d}");
}

#[test]
fn an_unknown_field_in_a_condition_gets_a_did_you_mean() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nwhen = \"acount.seats > 3\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "acount", 0),
        "acount.seats",
    );
    assert!(hint(d).contains("account.seats"), "{d}");
}

#[test]
fn a_misspelt_persona_in_a_condition_names_the_programs_personas() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nwhen = \"person.persona == \\\"admn\\\"\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = diagnostics
        .iter()
        .find(|d| d.message.contains("in `when`"))
        .unwrap_or_else(|| panic!("no condition error in {diagnostics:#?}"));
    assert!(hint(d).contains("admin"), "{d}");
}

#[test]
fn a_contact_budget_is_read_and_its_mistakes_are_reported_at_their_place() {
    let toml = format!("{MINI}\n[budget]\nmax = 3\nper = \"7d\"\n");
    let program = load(&mini_with(&toml)).expect("a valid budget");
    let budget = program.budget.expect("a budget");
    assert_eq!(
        (budget.max, budget.per),
        (3, Duration::parse("7d").expect("a duration"))
    );
    assert_eq!(budget.over, crate::program::OverBudget::Defer);

    let toml = format!("{MINI}\n[budget]\nmax = 0\nper = \"soon\"\nover = \"later\"\n");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"soon\"", 0),
        "not a duration",
    );
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"later\"", 0),
        "neither `defer` nor `drop`",
    );
    assert!(
        diagnostics.iter().any(|d| d.message.contains("max")),
        "{diagnostics:#?}"
    );
}

#[test]
fn an_alert_to_an_undeclared_channel_is_reported_with_the_declared_ones() {
    let toml = format!(
        "{MINI}\n[[channels]]\nname = \"sales\"\nkind = \"slack\"\n\n[[channels]]\nname = \"ops\"\nkind = \"email\"\n"
    )
    .replacen(
        "send = \"welcome\"\nto = \"people\"",
        "alert = \"saels\"\nmessage = \"welcome\"",
        1,
    );
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"saels\"", 0),
        "saels",
    );
    assert!(hint(d).contains("sales"), "{d}");
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"email\"", 0),
        "neither `slack` nor `webhook`",
    );
}

// ------------------------------------------------------------------- milestones and health

#[test]
fn milestones_and_the_health_model_load_into_the_model() {
    let toml = mini_edited(
        "journey = \"basics\"\n",
        "journey = \"basics\"\nmilestones = [\"Pipeline Created\", \"module:start\", \"module:01-start\"]\n",
    )
    .replacen("module:01-start", "Lead Imported", 1)
        + "\n[health]\nwindow = \"4w\"\nkey_features = [\"Lead Imported\", \"Deal Created\"]\n";
    let program = load(&mini_with(&toml)).expect("valid");
    let milestones = &program.personas[0].milestones;
    assert_eq!(milestones.len(), 3);
    assert_eq!(milestones[0].name, "Pipeline Created");
    assert_eq!(
        milestones[1].reached_by,
        MilestoneTrigger::Module {
            journey: "basics".to_owned(),
            slug: "01-start".to_owned()
        }
    );
    assert_eq!(
        program.health.window,
        Duration::parse("28d").expect("valid")
    );
    assert_eq!(
        program.health.key_features,
        ["Lead Imported", "Deal Created"]
    );
}

#[test]
fn without_a_health_table_the_window_is_35_days_and_no_feature_is_key() {
    let program = load(&mini_with(MINI)).expect("valid");
    assert_eq!(
        program.health.window,
        Duration::parse("35d").expect("valid")
    );
    assert!(program.health.key_features.is_empty());
    assert!(program.personas[0].milestones.is_empty());
}

#[test]
fn a_milestone_naming_an_unknown_module_is_reported_with_the_closest_module() {
    let toml = mini_edited(
        "journey = \"basics\"\n",
        "journey = \"basics\"\nmilestones = [\"module:strat\"]\n",
    );
    let diagnostics = errors(&mini_with(&toml));
    let found = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"module:strat\"", 0),
        "unknown module `strat`",
    );
    assert!(
        hint(found).contains("did you mean `module:start`?"),
        "{found}"
    );
}

#[test]
fn a_module_milestone_of_a_persona_without_journey_is_reported() {
    let toml = mini_edited(
        "journey = \"basics\"\n",
        "milestones = [\"module:start\"]\n",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"module:start\"", 0),
        "has no journey",
    );
}

#[test]
fn a_repeated_milestone_or_key_feature_is_reported_at_the_second() {
    let toml = mini_edited(
        "journey = \"basics\"\n",
        "journey = \"basics\"\nmilestones = [\"Lead Imported\", \"Lead Imported\"]\n",
    ) + "\n[health]\nkey_features = [\"Deal Created\", \"Deal Created\"]\n";
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"Lead Imported\"", 1),
        "duplicate milestone `Lead Imported`",
    );
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"Deal Created\"", 1),
        "duplicate key feature `Deal Created`",
    );
}

#[test]
fn a_health_window_that_is_not_whole_days_or_a_field_misspelt_is_reported() {
    let toml = format!("{MINI}\n[health]\nwindow = \"36h\"\nkey_feature = [\"Deal Created\"]\n");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"36h\"", 0),
        "is not a whole number of days",
    );
    let found = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "key_feature =", 0),
        "key_feature",
    );
    assert!(hint(found).contains("key_features"), "{found}");
}

// ---------------------------------------------------------------------------- kickoffs

/// `MINI`'s kickoff task with `kickoff = …` (the text after `kickoff = `).
fn mini_kickoff(kickoff: &str) -> String {
    mini_edited(
        "key = \"kickoff\"\ntitle = \"Kickoff\"\nowner = \"team\"\nassignee = \"csm\"\n",
        &format!(
            "key = \"kickoff\"\ntitle = \"Kickoff\"\nowner = \"team\"\nassignee = \"csm\"\nkickoff = {kickoff}\n"
        ),
    )
}

#[test]
fn a_kickoff_task_loads_its_prerequisites_and_attendees_into_the_model() {
    let toml = mini_kickoff("{ prerequisites = [\"start\"], attendees = [\"admin\"] }");
    let program = load(&mini_with(&toml)).expect("valid");
    let tasks = &program.templates[0].tasks;
    let kickoff = tasks[0].kickoff.as_ref().expect("a kickoff");
    assert_eq!(
        kickoff.prerequisites,
        [crate::program::Prerequisite {
            journey: "basics".to_owned(),
            slug: "01-start".to_owned()
        }]
    );
    assert_eq!(kickoff.attendees, ["admin"]);
    assert_eq!(tasks[1].kickoff, None);
}

#[test]
fn a_kickoff_prerequisite_is_named_by_file_stem_name_or_journey_and_attendees_default_to_everyone()
{
    for written in ["01-start", "start", "basics/start", "basics/01-start"] {
        let toml = mini_kickoff(&format!("{{ prerequisites = [\"{written}\"] }}"));
        let program = load(&mini_with(&toml)).expect("valid");
        let kickoff = program.templates[0].tasks[0]
            .kickoff
            .clone()
            .expect("a kickoff");
        assert_eq!(kickoff.prerequisites[0].slug, "01-start", "{written}");
        assert!(kickoff.attendees.is_empty());
    }
}

#[test]
fn an_unknown_kickoff_prerequisite_is_reported_with_the_closest_module() {
    let toml = mini_kickoff("{ prerequisites = [\"strat\"] }");
    let diagnostics = errors(&mini_with(&toml));
    let found = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"strat\"", 0),
        "unknown Academy module `strat`",
    );
    assert!(hint(found).contains("did you mean `start`?"), "{found}");
    assert!(hint(found).contains("basics/01-start"), "{found}");
}

#[test]
fn a_kickoff_prerequisite_in_another_journey_than_it_says_is_reported() {
    let toml = mini_kickoff("{ prerequisites = [\"advanced/start\"] }");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"advanced/start\"", 0),
        "unknown Academy module `advanced/start`",
    );
}

#[test]
fn a_kickoff_prerequisite_two_journeys_share_is_reported_until_its_journey_is_named() {
    let toml = mini_kickoff("{ prerequisites = [\"start\"] }").replacen(
        "[[journeys]]\nname = \"basics\"\ntitle = \"Basics\"\n",
        "[[journeys]]\nname = \"basics\"\ntitle = \"Basics\"\n\n[[journeys]]\nname = \"more\"\ntitle = \"More\"\n",
        1,
    );
    let mut source = mini_with(&toml);
    source.files.push(SourceFile {
        path: "academy/more/01-start.md".to_owned(),
        contents: MODULE.to_owned(),
    });
    let diagnostics = errors(&source);
    let found = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"start\"", 0),
        "`start` names more than one Academy module",
    );
    assert!(hint(found).contains("more/01-start"), "{found}");

    let fixed = toml.replacen("[\"start\"]", "[\"more/start\"]", 1);
    let mut source = mini_with(&fixed);
    source.files.push(SourceFile {
        path: "academy/more/01-start.md".to_owned(),
        contents: MODULE.to_owned(),
    });
    let program = load(&source).expect("valid");
    let kickoff = program.templates[0].tasks[0]
        .kickoff
        .clone()
        .expect("a kickoff");
    assert_eq!(kickoff.prerequisites[0].journey, "more");
}

#[test]
fn an_unknown_kickoff_attendee_is_reported_with_the_closest_persona() {
    let toml = mini_kickoff("{ prerequisites = [\"start\"], attendees = [\"admn\"] }");
    let diagnostics = errors(&mini_with(&toml));
    let found = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"admn\"", 0),
        "unknown persona `admn`",
    );
    assert!(hint(found).contains("did you mean `admin`?"), "{found}");
}

#[test]
fn a_repeated_kickoff_prerequisite_or_attendee_is_reported_at_the_second() {
    let toml = mini_kickoff(
        "{ prerequisites = [\"start\", \"start\"], attendees = [\"admin\", \"admin\"] }",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"start\"", 1),
        "duplicate prerequisite `start`",
    );
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"admin\"] }", 0),
        "duplicate attendee `admin`",
    );
}

#[test]
fn an_unknown_field_in_a_kickoff_is_reported_with_the_closest_field() {
    let toml = mini_kickoff("{ prerequisites = [\"start\"], atendees = [\"admin\"] }");
    let diagnostics = errors(&mini_with(&toml));
    let found = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "atendees", 0),
        "unknown field `atendees` in `kickoff`",
    );
    assert!(hint(found).contains("did you mean `attendees`?"), "{found}");
}

#[test]
fn a_kickoff_without_prerequisites_or_of_the_wrong_type_is_reported() {
    let toml = mini_kickoff("{ attendees = [\"admin\"] }");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "{ attendees", 0),
        "`kickoff` has no `prerequisites`",
    );
    let toml = mini_kickoff("true");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "true", 0),
        "`kickoff` must be a table",
    );
}

#[test]
fn the_example_program_s_kickoff_expects_the_first_admin_and_executive_modules() {
    let program = load(&example()).expect("valid");
    let onboarding = program.template("onboarding").expect("onboarding");
    let kickoff = onboarding.tasks[0].kickoff.as_ref().expect("a kickoff");
    assert_eq!(onboarding.tasks[0].key, "kickoff");
    let journeys: Vec<&str> = kickoff
        .prerequisites
        .iter()
        .map(|p| p.journey.as_str())
        .collect();
    assert!(journeys.contains(&"admin-essentials"), "{journeys:?}");
    assert!(journeys.contains(&"executive-insights"), "{journeys:?}");
    assert_eq!(kickoff.attendees, ["admin", "executive"]);
    assert!(program.rule("kickoff-brief-csm").is_some());
    assert!(program.messages.contains_key("csm-kickoff-brief"));
}

// ---------------------------------------------------------------------- enrol and set

/// `MINI` with its one action replaced by `action`.
fn mini_action(action: &str) -> String {
    mini_edited("send = \"welcome\"\nto = \"people\"", action)
}

/// The actions of `MINI`'s rule with its one action replaced by `action`.
fn actions_of(action: &str) -> Vec<Action> {
    match load(&mini_with(&mini_action(action))) {
        Ok(program) => program.rules[0].actions.clone(),
        Err(diagnostics) => panic!("{diagnostics:#?}"),
    }
}

#[test]
fn an_enrol_action_names_a_journey_and_defaults_to_the_person() {
    assert_eq!(
        actions_of("enrol = \"basics\""),
        [Action::Enrol {
            journey: "basics".to_owned(),
            to: Recipient::Person,
        }]
    );
}

#[test]
fn an_enrol_action_takes_the_recipients_send_takes_for_people() {
    assert_eq!(
        actions_of("enrol = \"basics\"\nto = \"persona:admin\""),
        [Action::Enrol {
            journey: "basics".to_owned(),
            to: Recipient::People {
                persona: Some("admin".to_owned()),
            },
        }]
    );
}

#[test]
fn an_enrol_in_an_unknown_journey_is_reported_with_did_you_mean() {
    let toml = mini_action("enrol = \"basic\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"basic\"", 0),
        "unknown journey `basic`",
    );
    assert!(hint(d).contains("did you mean `basics`?"), "{d}");
}

#[test]
fn an_enrol_of_the_csm_is_reported_with_a_hint() {
    let toml = mini_action("enrol = \"basics\"\nto = \"csm\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        {
            let (line, column) = position(&toml, "to = \"csm\"", 0);
            (line, column + 5)
        },
        "not the CSM",
    );
    assert!(hint(d).contains("persona:"), "{d}");
}

#[test]
fn an_enrol_of_an_unknown_persona_is_reported() {
    let toml = mini_action("enrol = \"basics\"\nto = \"persona:admn\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"persona:admn\"", 0),
        "unknown persona `admn`",
    );
    assert!(hint(d).contains("did you mean `admin`?"), "{d}");
}

#[test]
fn an_enrol_with_a_key_of_another_action_is_reported_at_the_key() {
    let toml = mini_action("enrol = \"basics\"\nsend = \"welcome\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "send = \"welcome\"", 0),
        "`send` does not go with `enrol`",
    );
}

#[test]
fn a_set_action_writes_an_account_field_with_a_literal_value() {
    use crate::program::{Literal, SetTarget, SetValue};
    for (written, json) in [
        ("true", serde_json::json!(true)),
        ("12", serde_json::json!(12)),
        ("0.5", serde_json::json!(0.5)),
        ("\"gold\"", serde_json::json!("gold")),
    ] {
        assert_eq!(
            actions_of(&format!("set = \"account.fields.tier\"\nvalue = {written}")),
            [Action::Set {
                target: SetTarget::AccountField("tier".to_owned()),
                value: SetValue::Literal(Literal(json)),
                to: None,
            }],
            "{written}"
        );
    }
}

#[test]
fn a_set_action_copies_a_person_property_from_the_event() {
    use crate::program::{SetTarget, SetValue};
    assert_eq!(
        actions_of(
            "set = \"person.properties.plan\"\nvalue_from = \"event.data.plan.tier\"\nto = \"people\""
        ),
        [Action::Set {
            target: SetTarget::PersonProperty("plan".to_owned()),
            value: SetValue::FromEvent("plan.tier".to_owned()),
            to: Some(Recipient::People { persona: None }),
        }]
    );
}

#[test]
fn a_set_of_another_target_is_reported_with_the_two_forms() {
    for target in [
        "account.seats",
        "account.fields.",
        "person.properties.a.b",
        "fields.x",
    ] {
        let toml = mini_action(&format!("set = \"{target}\"\nvalue = 1"));
        let diagnostics = errors(&mini_with(&toml));
        let d = assert_reported(
            &diagnostics,
            "program.toml",
            position(&toml, &format!("\"{target}\""), 0),
            "is not a field `set` can write",
        );
        assert!(hint(d).contains("account.fields.<name>"), "{d}");
        assert!(hint(d).contains("person.properties.<name>"), "{d}");
    }
}

#[test]
fn a_set_without_a_value_is_reported_at_set() {
    let toml = mini_action("set = \"account.fields.tier\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "set = ", 0),
        "has no `value`",
    );
    assert!(hint(d).contains("value_from"), "{d}");
}

#[test]
fn a_set_with_both_value_and_value_from_is_reported_at_value_from() {
    let toml = mini_action(
        "set = \"account.fields.tier\"\nvalue = \"gold\"\nvalue_from = \"event.data.tier\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "value_from", 0),
        "both `value` and `value_from`",
    );
}

#[test]
fn a_value_from_outside_the_event_is_reported() {
    let toml = mini_action("set = \"account.fields.tier\"\nvalue_from = \"account.plan\"");
    let diagnostics = errors(&mini_with(&toml));
    let d = assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"account.plan\"", 0),
        "does not start with `event.`",
    );
    assert!(hint(d).contains("event.data."), "{d}");
}

#[test]
fn a_value_from_the_event_but_not_its_data_is_reported() {
    let toml = mini_action("set = \"account.fields.tier\"\nvalue_from = \"event.type\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"event.type\"", 0),
        "is not under the event's data",
    );
}

#[test]
fn a_set_value_that_is_a_table_or_a_list_is_reported() {
    let toml = mini_action("set = \"account.fields.tier\"\nvalue = [1, 2]");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "[1, 2]", 0),
        "must be a string, a number or a boolean, not an array",
    );
}

#[test]
fn a_set_of_an_account_field_for_a_recipient_is_reported_at_to() {
    let toml = mini_action("set = \"account.fields.tier\"\nvalue = 1\nto = \"people\"");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "\"people\"", 0),
        "`to` does not go with `set` of an account field",
    );
}

#[test]
fn a_value_without_set_is_reported() {
    let toml = mini_edited("to = \"people\"", "to = \"people\"\nvalue = 1");
    let diagnostics = errors(&mini_with(&toml));
    assert_reported(
        &diagnostics,
        "program.toml",
        position(&toml, "value = 1", 0),
        "`value` only goes with `set`",
    );
}

#[test]
fn conditions_read_account_fields_like_person_properties() {
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nwhen = \"account.fields.exec_engaged == true and person.properties.tier == \\\"gold\\\"\"",
    );
    assert!(load(&mini_with(&toml)).is_ok());
    let toml = mini_edited(
        "on = \"deal.won\"",
        "on = \"deal.won\"\nwhen = \"account.feilds.x == 1\"",
    );
    let diagnostics = errors(&mini_with(&toml));
    assert!(
        diagnostics
            .iter()
            .any(|d| hint(d).contains("account.fields.x")),
        "{diagnostics:#?}"
    );
}

// ------------------------------------------------------------------ kickoff availability

#[test]
fn a_team_member_s_availability_is_read_with_its_defaults() {
    let toml = mini_edited(
        "role = \"csm\"\n",
        "role = \"csm\"\navailability = { days = [\"tue\", \"mon\"], from = \"09:30\", to = \"12:00\", utc_offset = \"-05:00\" }\n",
    );
    let program = match load(&mini_with(&toml)) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    };
    let hours = program.team[0].availability.clone().expect("availability");
    assert_eq!(hours.days, vec![0, 1]);
    assert_eq!((hours.from_minute, hours.to_minute), (9 * 60 + 30, 12 * 60));
    assert_eq!(hours.utc_offset_minutes, -300);
    assert_eq!(hours.slot.millis(), 30 * 60_000);
    assert_eq!(hours.days_ahead, 14);
    assert_eq!(hours.notice.millis(), 24 * 3_600_000);
    // The example program's CSMs take kickoff calls.
    let example = match load(&example()) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    };
    assert!(example.csms().all(|m| m.availability.is_some()));
    // A time zone by its IANA name.
    let toml = mini_edited(
        "role = \"csm\"\n",
        "role = \"csm\"\navailability = { days = [\"mon\"], from = \"09:00\", to = \"12:00\", time_zone = \"Europe/Berlin\" }\n",
    );
    let program = match load(&mini_with(&toml)) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    };
    let hours = program.team[0].availability.clone().expect("availability");
    assert_eq!(
        hours.time_zone.map(|z| z.name),
        Some("Europe/Berlin".to_owned())
    );
}

#[test]
fn a_bad_availability_is_reported_at_its_value_with_a_hint() {
    for (availability, says) in [
        (
            "{ days = [\"someday\"], from = \"09:00\", to = \"12:00\" }",
            "not a day of the week",
        ),
        (
            "{ days = [\"mon\"], from = \"9am\", to = \"12:00\" }",
            "not a time of day",
        ),
        (
            "{ days = [\"mon\"], from = \"12:00\", to = \"09:00\" }",
            "`to` must be later",
        ),
        (
            "{ days = [\"mon\"], from = \"09:00\", to = \"12:00\", utc_offset = \"EST\" }",
            "not an offset from UTC",
        ),
        (
            "{ days = [\"mon\"], from = \"09:00\", to = \"12:00\", slot = \"1m\" }",
            "too short",
        ),
        (
            "{ days = [\"mon\"], from = \"09:00\", to = \"12:00\", time_zone = \"Mars/Olympus\" }",
            "`Mars/Olympus` is not a time zone",
        ),
        (
            "{ days = [\"mon\"], from = \"09:00\", to = \"12:00\", time_zone = \"Europe/Berlin\", utc_offset = \"+01:00\" }",
            "both `time_zone` and `utc_offset`",
        ),
        ("{ from = \"09:00\", to = \"12:00\" }", "no `days`"),
        (
            "{ days = [\"mon\"], from = \"09:00\", to = \"12:00\", hours = 3 }",
            "unknown field `hours`",
        ),
    ] {
        let toml = mini_edited(
            "role = \"csm\"\n",
            &format!("role = \"csm\"\navailability = {availability}\n"),
        );
        let diagnostics = errors(&mini_with(&toml));
        let found = diagnostics
            .iter()
            .find(|d| d.message.contains(says))
            .unwrap_or_else(|| panic!("no diagnostic says {says:?}: {diagnostics:?}"));
        assert!(!hint(found).is_empty(), "{found}");
    }
}
