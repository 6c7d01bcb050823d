//! Parsing and validation of a program folder handed in memory as a [`ProgramSource`].
//!
//! [`load`] sorts the files by role (`program.toml`, `academy/<journey>/NN-name.md`,
//! `messages/<name>.md`; anything else is ignored but still counts for the version), reads
//! each one, cross-checks them and only then builds the [`Program`]. It reports every problem
//! it finds, each at its file, line and column with a hint; it never stops at the first.
//!
//! The work is split in submodules: `tree` (TOML with places, front matter), `fields` (typed
//! reading of one table), `sections` (the tables of `program.toml`), `content` (modules and
//! messages) and `check` (cross-references, duplicates, cycles). The format itself is
//! documented at the top of the bundled example, `program/program.toml`.

mod audit;
mod autopilot;
mod check;
mod content;
mod fields;
mod sections;
mod tree;

#[cfg(test)]
mod tests;

use super::{
    Action, Diagnostic, Goal, GoalMetric, Journey, MessageTemplate, Persona, Program,
    ProgramSource, ProgramVersion, Recipient, Rule, SourceFile, TaskTemplate, TeamMember, Template,
};
use content::DraftModule;
use fields::Cx;
use sections::{Draft, DraftAction, DraftMetric, DraftRecipient};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use tree::{LineIndex, Loc};

/// The path of the main file, relative to the program folder.
const PROGRAM_FILE: &str = "program.toml";

/// Parses and validates a program. Returns every problem found, not only the first.
pub fn load(source: &ProgramSource) -> Result<Program, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut files: Vec<&SourceFile> = source.files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let mut program_file: Option<&SourceFile> = None;
    let mut module_files: Vec<(&SourceFile, String, String)> = Vec::new();
    let mut message_files: Vec<(&SourceFile, String)> = Vec::new();
    let mut academy: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for file in files {
        let mut cx = Cx {
            file: &file.path,
            out: &mut out,
        };
        let path = normalize(&file.path);
        if !seen.insert(path.clone()) {
            cx.error(
                Loc::START,
                format!("`{path}` is given twice"),
                "a program folder holds each file once; drop the duplicate",
            );
            continue;
        }
        if path == PROGRAM_FILE {
            program_file = Some(file);
            continue;
        }
        let (area, rest) = if let Some(rest) = path.strip_prefix("academy/") {
            ("academy", rest)
        } else if let Some(rest) = path.strip_prefix("messages/") {
            ("messages", rest)
        } else {
            continue;
        };
        let Some(stem) = rest.strip_suffix(".md") else {
            cx.error(
                Loc::START,
                format!("`{path}` is not a Markdown file"),
                format!(
                    "only `.md` files belong in {area}/; remove this file, or rename it to end in `.md` if it is Markdown"
                ),
            );
            continue;
        };
        let parts: Vec<&str> = stem.split('/').collect();
        match (area, parts.as_slice()) {
            ("academy", [journey, name]) if !journey.is_empty() && !name.is_empty() => {
                academy
                    .entry((*journey).to_owned())
                    .or_default()
                    .push(file.path.clone());
                module_files.push((file, (*journey).to_owned(), (*name).to_owned()));
            }
            ("academy", _) => cx.error(
                Loc::START,
                format!("`{path}` is not in a journey folder"),
                "Academy modules live in one folder per journey: `academy/<journey>/NN-name.md`, e.g. `academy/admin-essentials/01-welcome.md`",
            ),
            (_, [name]) if !name.is_empty() => {
                message_files.push((file, (*name).to_owned()));
            }
            _ => cx.error(
                Loc::START,
                format!("`{path}` is not directly in messages/"),
                "messages live directly in the messages folder as `messages/<name>.md`, e.g. `messages/welcome.md`",
            ),
        }
    }

    // program.toml
    let mut draft = Draft::default();
    let mut program_read = false;
    match program_file {
        None => out.push(Diagnostic {
            file: PROGRAM_FILE.to_owned(),
            line: 1,
            column: 1,
            message: "the program has no program.toml".to_owned(),
            hint: Some(
                "create program.toml at the root of the program folder, starting with [program], `name = \"…\"` and `sender = { name = \"…\", email = \"…\" }`"
                    .to_owned(),
            ),
        }),
        Some(file) => {
            let mut cx = Cx {
                file: &file.path,
                out: &mut out,
            };
            let lines = LineIndex::new(&file.contents);
            match tree::parse(&file.contents, 0, &lines) {
                Ok(root) => {
                    draft = sections::read_program(&mut cx, &root);
                    program_read = true;
                }
                Err(error) => cx.error(
                    error.loc,
                    format!("program.toml is not valid TOML: {}", error.message),
                    "check the TOML syntax here: text goes in double quotes, a table starts with [program], each entry of a list with [[rules]], [[templates.tasks]] and so on",
                ),
            }
        }
    }

    // academy/ and messages/
    let mut modules: Vec<DraftModule> = Vec::new();
    let mut broken_journeys: BTreeSet<String> = BTreeSet::new();
    for (file, journey, name) in module_files {
        let mut cx = Cx {
            file: &file.path,
            out: &mut out,
        };
        match content::read_module(&mut cx, &journey, &name, &file.contents) {
            Some(module) => modules.push(module),
            None => {
                broken_journeys.insert(journey);
            }
        }
    }
    let env = minijinja::Environment::new();
    let mut messages: BTreeMap<String, MessageTemplate> = BTreeMap::new();
    let mut message_names: BTreeSet<String> = BTreeSet::new();
    for (file, name) in message_files {
        let mut cx = Cx {
            file: &file.path,
            out: &mut out,
        };
        message_names.insert(name.clone());
        if let Some(message) = content::read_message(&mut cx, &env, &name, &file.contents) {
            messages.insert(name, message);
        }
    }

    // Cross-checks only make sense once program.toml has been read.
    if program_read {
        let file = program_file.map_or(PROGRAM_FILE, |f| f.path.as_str());
        let folder = check::Folder {
            modules: &modules,
            academy: &academy,
            broken_journeys: &broken_journeys,
            messages: &message_names,
        };
        check::check(file, &draft, &folder, &mut out);
    }

    if out.is_empty() {
        match assemble(draft, modules, messages, version(source)) {
            Some(program) => return Ok(program),
            None => out.push(Diagnostic {
                file: PROGRAM_FILE.to_owned(),
                line: 1,
                column: 1,
                message: "the program is incomplete, but no problem was located".to_owned(),
                hint: Some(
                    "this is a bug in Onboard; please report it with the program".to_owned(),
                ),
            }),
        }
    }
    out.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
    });
    out.dedup();
    Err(out)
}

/// A path with `/` separators and without a leading `./`.
fn normalize(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut rest = path.as_str();
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped;
    }
    rest.to_owned()
}

/// The hex SHA-256 over every file's path and contents, in path order. Each part is
/// preceded by its length so that no two different folders hash the same bytes.
pub(crate) fn version(source: &ProgramSource) -> ProgramVersion {
    let mut files: Vec<&SourceFile> = source.files.iter().collect();
    files.sort_by(|a, b| (&a.path, &a.contents).cmp(&(&b.path, &b.contents)));
    let mut hasher = Sha256::new();
    hasher.update(b"onboard-program-v1\0");
    hasher.update((files.len() as u64).to_le_bytes());
    for file in files {
        hasher.update((file.path.len() as u64).to_le_bytes());
        hasher.update(file.path.as_bytes());
        hasher.update((file.contents.len() as u64).to_le_bytes());
        hasher.update(file.contents.as_bytes());
    }
    ProgramVersion(hex::encode(hasher.finalize()))
}

/// Builds the program from drafts that passed every check (`None` if a part is missing,
/// which the checks should have reported).
fn assemble(
    draft: Draft,
    modules: Vec<DraftModule>,
    messages: BTreeMap<String, MessageTemplate>,
    version: ProgramVersion,
) -> Option<Program> {
    let personas = draft
        .personas
        .into_iter()
        .map(|p| {
            let milestones = p
                .milestones
                .iter()
                .map(|m| milestone(&m.value, p.journey.as_ref(), &modules))
                .collect::<Option<Vec<_>>>()?;
            Some(Persona {
                name: p.name?.value,
                description: p.description,
                journey: p.journey.map(|j| j.value),
                aha_event: p.aha_event,
                milestones,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut crm = crate::program::Crm::default();
    if let Some(stages) = draft.hubspot_won_stages {
        crm.hubspot_won_stages = stages.into_iter().map(|s| s.value).collect();
    }
    for (owner, csm) in draft.owners {
        crm.owners
            .insert(owner.value.to_lowercase(), csm.value.to_lowercase());
    }
    let segments = draft
        .segments
        .into_iter()
        .map(|s| {
            Some(crate::program::Segment {
                persona: s.persona?.value,
                property: s.property?.value,
                matches: s.matches?.1,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let team = draft
        .team
        .into_iter()
        .map(|m| {
            Some(TeamMember {
                name: m.name?,
                email: m.email?.value,
                role: m.role?.value,
                availability: m.availability,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    // Before the modules go to their journeys: kickoffs resolve their prerequisites.
    let templates = draft
        .templates
        .into_iter()
        .map(|t| {
            let tasks = t
                .tasks
                .into_iter()
                .map(|task| {
                    Some(TaskTemplate {
                        key: task.key?.value,
                        title: task.title?,
                        description: task.description,
                        owner: task.owner?,
                        assignee: task.assignee?.value,
                        snooze_days: task.snooze_days,
                        due_days: task.due_days,
                        depends_on: task.depends_on.into_iter().map(|d| d.value).collect(),
                        milestone: task.milestone,
                        kickoff: match task.kickoff {
                            Some(kickoff) => Some(crate::program::Kickoff {
                                prerequisites: kickoff
                                    .prerequisites
                                    .iter()
                                    .map(|p| prerequisite(&p.value, &modules))
                                    .collect::<Option<Vec<_>>>()?,
                                attendees: kickoff.attendees.into_iter().map(|a| a.value).collect(),
                            }),
                            None => None,
                        },
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Template {
                name: t.name?.value,
                title: t.title?,
                completion: t.completion,
                next: t.next.map(|n| n.value),
                draft: t.draft,
                due_days: t.due_days,
                tasks,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut by_journey: BTreeMap<String, Vec<DraftModule>> = BTreeMap::new();
    for module in modules {
        by_journey
            .entry(module.journey.clone())
            .or_default()
            .push(module);
    }
    let journeys = draft
        .journeys
        .into_iter()
        .map(|j| {
            let name = j.name?.value;
            let mut modules = by_journey.remove(&name).unwrap_or_default();
            modules.sort_by(|a, b| (a.number, &a.module.slug).cmp(&(b.number, &b.module.slug)));
            let (library, core): (Vec<_>, Vec<_>) = modules
                .into_iter()
                .map(|m| m.module)
                .partition(|m| m.optional);
            Some(Journey {
                name,
                title: j.title?,
                core,
                library,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let goals = draft
        .goals
        .into_iter()
        .map(|g| {
            Some(Goal {
                name: g.name?.value,
                title: g.title?,
                template: g.template.map(|t| t.value),
                persona: g.persona.map(|p| p.value),
                deadline_days: g.deadline_days?,
                metric: match g.metric? {
                    DraftMetric::ActiveUsers => GoalMetric::ActiveUsers,
                    DraftMetric::SeatShareActive => GoalMetric::SeatShareActive,
                    DraftMetric::EventCount(event) => GoalMetric::EventCount { event },
                    DraftMetric::Task(task) => GoalMetric::Task { task: task.value },
                },
                target: g.target?,
                key_tasks: g.key_tasks.into_iter().map(|t| t.value).collect(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let persona_names: Vec<&str> = personas.iter().map(|p| p.name.as_str()).collect();
    let schema = check::condition_schema(&persona_names);
    let rules = draft
        .rules
        .into_iter()
        .map(|r| {
            Some(Rule {
                name: r.name?.value,
                description: r.description,
                trigger: r.trigger?,
                urgent: r.urgent,
                when: match &r.when {
                    Some(text) => Some(crate::expr::Condition::parse(&text.value, &schema).ok()?),
                    None => None,
                },
                reentry: r.reentry,
                actions: r
                    .actions
                    .into_iter()
                    .map(|a| match a {
                        DraftAction::Send { message, to } => Action::Send {
                            message: message.value,
                            to: recipient(to),
                        },
                        DraftAction::Nudge {
                            message,
                            to,
                            selector,
                            style,
                            expires,
                            frequency,
                        } => Action::Nudge {
                            message: message.value,
                            to: recipient(to),
                            selector: selector.map(|s| s.value),
                            style,
                            expires,
                            frequency,
                        },
                        DraftAction::Emit { event } => Action::Emit { event },
                        DraftAction::Enrol { journey, to } => Action::Enrol {
                            journey: journey.value,
                            to: recipient(to),
                        },
                        DraftAction::Set { target, value, to } => Action::Set {
                            target,
                            value,
                            to: to.map(recipient),
                        },
                        DraftAction::Launch { template, draft } => Action::Launch {
                            template: template.value,
                            draft,
                        },
                        DraftAction::Task {
                            title,
                            assignee,
                            reason,
                        } => Action::Task {
                            title: title.value,
                            assignee: assignee.value,
                            reason: reason.map(|r| r.value),
                        },
                        DraftAction::Alert {
                            channel,
                            message,
                            reason,
                        } => Action::Alert {
                            channel: channel.value,
                            message: message.value,
                            reason: reason.map(|r| r.value),
                        },
                    })
                    .collect(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Program {
        version,
        name: draft.name?,
        sender: draft.sender?,
        personas,
        team,
        journeys,
        templates,
        goals,
        rules,
        messages,
        crm,
        segments,
        default_persona: draft.default_persona.map(|p| p.value),
        budget: draft.budget,
        channels: draft
            .channels
            .iter()
            .map(|(name, kind)| crate::program::Channel {
                name: name.value.clone(),
                kind: kind.value.clone(),
            })
            .collect(),
        health: match draft.health {
            Some(health) => crate::program::HealthModel {
                window: health
                    .window
                    .unwrap_or(crate::program::HealthModel::DEFAULT_WINDOW),
                key_features: health.key_features.into_iter().map(|f| f.value).collect(),
            },
            None => crate::program::HealthModel::default(),
        },
        audit: draft.audit,
        autopilot: match draft.autopilot {
            Some(autopilot) => Some(autopilot::assemble(autopilot, &schema)?),
            None => None,
        },
    })
}

/// A persona's milestone as written, resolved: a `module:<name>` becomes the module of the
/// persona's journey with that name or file stem (`None` if there is none, which the checks
/// reported).
fn milestone(
    written: &str,
    journey: Option<&fields::Text>,
    modules: &[DraftModule],
) -> Option<crate::program::Milestone> {
    use crate::program::{Milestone, MilestoneTrigger};
    let reached_by = match written.strip_prefix(check::MODULE_PREFIX) {
        None => MilestoneTrigger::Event(written.to_owned()),
        Some(name) => {
            let journey = &journey?.value;
            let module = modules.iter().find(|m| {
                &m.journey == journey && (m.short_name == name || m.module.slug == name)
            })?;
            MilestoneTrigger::Module {
                journey: journey.clone(),
                slug: module.module.slug.clone(),
            }
        }
    };
    Some(Milestone {
        name: written.to_owned(),
        reached_by,
    })
}

/// A kickoff prerequisite as written, resolved to its module (`None` unless exactly one
/// module matches, which the checks reported).
fn prerequisite(written: &str, modules: &[DraftModule]) -> Option<crate::program::Prerequisite> {
    match check::prerequisite_modules(written, modules).as_slice() {
        [module] => Some(crate::program::Prerequisite {
            journey: module.journey.clone(),
            slug: module.module.slug.clone(),
        }),
        _ => None,
    }
}

fn recipient(to: DraftRecipient) -> Recipient {
    match to {
        DraftRecipient::Csm => Recipient::Csm,
        DraftRecipient::Person => Recipient::Person,
        DraftRecipient::Assignee => Recipient::Assignee,
        DraftRecipient::People { persona } => Recipient::People {
            persona: persona.map(|p| p.value),
        },
    }
}
