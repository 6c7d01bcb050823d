//! Cross-checks of a drafted program: unique names, references that point at something
//! declared (with the closest known name suggested for typos), no cycles in template
//! chaining or task dependencies, assignees that exist on the right side, and Academy
//! folders that match declared journeys. Every problem is reported; nothing is built here.

use super::content::DraftModule;
use super::fields::{closest, list, Cx, Text};
use super::sections::{Draft, DraftAction, DraftMetric, DraftRecipient, DraftTemplate};
use super::tree::Loc;
use crate::program::{Completion, Diagnostic, Side};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the rest of the folder holds, for checking `program.toml` against it.
pub(crate) struct Folder<'a> {
    /// Academy modules that were read, in path order.
    pub modules: &'a [DraftModule],
    /// Paths of the Academy files by journey folder, in path order, read or not.
    pub academy: &'a BTreeMap<String, Vec<String>>,
    /// Journeys with an Academy file that could not be read.
    pub broken_journeys: &'a BTreeSet<String>,
    /// Names of all message files, read or not.
    pub messages: &'a BTreeSet<String>,
}

/// Runs every cross-check; `file` is the path of `program.toml` as given.
pub(crate) fn check(file: &str, draft: &Draft, folder: &Folder<'_>, out: &mut Vec<Diagnostic>) {
    let mut cx = Cx { file, out };
    let cx = &mut cx;

    let persona_names = names(draft.personas.iter().map(|p| &p.name));
    let journey_names = names(draft.journeys.iter().map(|j| &j.name));
    let template_names = names(draft.templates.iter().map(|t| &t.name));
    let roles: BTreeSet<&str> = draft
        .team
        .iter()
        .filter_map(|m| m.role.as_ref())
        .map(|r| r.value.as_str())
        .collect();
    let roles: Vec<&str> = roles.into_iter().collect();
    let message_names: Vec<&str> = folder.messages.iter().map(String::as_str).collect();

    unique(
        cx,
        "persona",
        "",
        draft.personas.iter().filter_map(|p| p.name.as_ref()),
    );
    unique_emails(cx, draft);
    unique(
        cx,
        "journey",
        "",
        draft.journeys.iter().filter_map(|j| j.name.as_ref()),
    );
    unique(
        cx,
        "template",
        "",
        draft.templates.iter().filter_map(|t| t.name.as_ref()),
    );
    unique(
        cx,
        "goal",
        "",
        draft.goals.iter().filter_map(|g| g.name.as_ref()),
    );
    unique(
        cx,
        "rule",
        "",
        draft.rules.iter().filter_map(|r| r.name.as_ref()),
    );

    for persona in &draft.personas {
        if let Some(journey) = &persona.journey {
            reference(
                cx,
                journey,
                "journey",
                &journey_names,
                "declare it with [[journeys]]",
            );
        }
    }

    check_milestones(cx, draft, folder);
    if let Some(health) = &draft.health {
        check_key_features(cx, &health.key_features);
    }

    check_journeys(cx, draft, folder, &journey_names);

    for template in &draft.templates {
        if let Some(next) = &template.next {
            reference(
                cx,
                next,
                "template",
                &template_names,
                "declare it with [[templates]]",
            );
        }
        check_tasks(cx, template, &roles, &persona_names);
        check_kickoffs(cx, template, folder, &persona_names);
    }
    check_chaining(cx, draft);

    for goal in &draft.goals {
        let mut template_known = true;
        if let Some(template) = &goal.template {
            template_known = reference(
                cx,
                template,
                "template",
                &template_names,
                "declare it with [[templates]]",
            );
        }
        if let Some(persona) = &goal.persona {
            reference(
                cx,
                persona,
                "persona",
                &persona_names,
                "declare it with [[personas]]",
            );
        }
        if !template_known {
            continue;
        }
        let scope = goal.template.as_ref().and_then(|name| {
            draft
                .templates
                .iter()
                .find(|t| t.name.as_ref().map(|n| &n.value) == Some(&name.value))
        });
        let task_keys: Vec<&str> = match scope {
            Some(template) => template
                .tasks
                .iter()
                .filter_map(|t| t.key.as_ref())
                .map(|k| k.value.as_str())
                .collect(),
            None => {
                let keys: BTreeSet<&str> = draft
                    .templates
                    .iter()
                    .flat_map(|t| &t.tasks)
                    .filter_map(|t| t.key.as_ref())
                    .map(|k| k.value.as_str())
                    .collect();
                keys.into_iter().collect()
            }
        };
        let declare = match &goal.template {
            Some(name) => format!(
                "add it to template `{}` with [[templates.tasks]]",
                name.value
            ),
            None => "declare it in a template with [[templates.tasks]]".to_owned(),
        };
        if let Some(DraftMetric::Task(task)) = &goal.metric {
            reference(cx, task, "task", &task_keys, &declare);
        }
        for task in &goal.key_tasks {
            reference(cx, task, "task", &task_keys, &declare);
        }
    }

    let schema = condition_schema(&persona_names);
    if let Some(autopilot) = &draft.autopilot {
        let channels: Vec<&str> = draft
            .channels
            .iter()
            .map(|(n, _)| n.value.as_str())
            .collect();
        let known = super::autopilot::Known {
            messages: &message_names,
            roles: &roles,
            channels: &channels,
            schema: &schema,
        };
        super::autopilot::check(cx, autopilot, &known);
    }
    for rule in &draft.rules {
        if let Some(when) = &rule.when {
            check_condition(cx, when, &schema);
        }
        for action in &rule.actions {
            match action {
                DraftAction::Launch { template, .. } => {
                    reference(
                        cx,
                        template,
                        "template",
                        &template_names,
                        "declare it with [[templates]]",
                    );
                }
                DraftAction::Alert {
                    channel, message, ..
                } => {
                    let channels: Vec<&str> = draft
                        .channels
                        .iter()
                        .map(|(n, _)| n.value.as_str())
                        .collect();
                    reference(
                        cx,
                        channel,
                        "channel",
                        &channels,
                        "declare it with [[channels]] (`name`, `kind = \"slack\"` or `\"webhook\"`)",
                    );
                    reference(
                        cx,
                        message,
                        "message",
                        &message_names,
                        &format!("create `messages/{}.md`", message.value),
                    );
                }
                DraftAction::Task { assignee, .. } => {
                    reference(
                        cx,
                        assignee,
                        "team role",
                        &roles,
                        "add a [[team]] member with this `role`",
                    );
                }
                DraftAction::Enrol { journey, .. } => {
                    reference(
                        cx,
                        journey,
                        "journey",
                        &journey_names,
                        "declare it with [[journeys]]",
                    );
                }
                _ => {}
            }
            let people = match action {
                DraftAction::Enrol { to, .. } | DraftAction::Set { to: Some(to), .. } => Some(to),
                _ => None,
            };
            if let Some(DraftRecipient::People {
                persona: Some(persona),
            }) = people
            {
                reference(
                    cx,
                    persona,
                    "persona",
                    &persona_names,
                    "declare it with [[personas]]",
                );
            }
            if let DraftAction::Send { message, to } | DraftAction::Nudge { message, to, .. } =
                action
            {
                reference(
                    cx,
                    message,
                    "message",
                    &message_names,
                    &format!("create `messages/{}.md`", message.value),
                );
                if let DraftRecipient::People {
                    persona: Some(persona),
                } = to
                {
                    reference(
                        cx,
                        persona,
                        "persona",
                        &persona_names,
                        "declare it with [[personas]]",
                    );
                }
            }
        }
    }

    let csm_emails: Vec<&str> = draft
        .team
        .iter()
        .filter(|m| m.role.as_ref().is_some_and(|r| r.value == "csm"))
        .filter_map(|m| m.email.as_ref())
        .map(|e| e.value.as_str())
        .collect();
    let mut owners_seen: Vec<String> = Vec::new();
    for (owner, csm) in &draft.owners {
        let key = owner.value.to_lowercase();
        if owners_seen.contains(&key) {
            cx.error(
                owner.loc,
                format!("CRM owner `{}` is mapped twice", owner.value),
                "keep one [[crm.owners]] entry per owner",
            );
        }
        owners_seen.push(key);
        if !csm_emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(&csm.value))
        {
            cx.error(
                csm.loc,
                format!("`{}` is not the email of a CSM in [[team]]", csm.value),
                if csm_emails.is_empty() {
                    "add a [[team]] member with `role = \"csm\"` and this email".to_owned()
                } else {
                    format!("use one of {}", list(csm_emails.iter().copied()))
                },
            );
        }
    }
    if let Some(default) = &draft.default_persona {
        reference(
            cx,
            default,
            "persona",
            &persona_names,
            "declare it with [[personas]]",
        );
    }
    for segment in &draft.segments {
        if let Some(persona) = &segment.persona {
            reference(
                cx,
                persona,
                "persona",
                &persona_names,
                "declare it with [[personas]]",
            );
        }
    }
}

/// The declared names among `items` (those that were read), once each, in declaration order.
fn names<'a>(items: impl Iterator<Item = &'a Option<Text>>) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for text in items.flatten() {
        if !names.contains(&text.value.as_str()) {
            names.push(&text.value);
        }
    }
    names
}

/// Reports a reference to an undeclared name; says whether it was found.
fn reference(cx: &mut Cx<'_>, text: &Text, kind: &str, known: &[&str], declare: &str) -> bool {
    if known.contains(&text.value.as_str()) {
        return true;
    }
    let hint = if known.is_empty() {
        format!("no {kind}s are declared; {declare}")
    } else {
        let mut hint = match closest(&text.value, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? "),
            None => String::new(),
        };
        hint.push_str(&format!(
            "known {kind}s: {}; or {declare}",
            list(known.iter().copied())
        ));
        hint
    };
    cx.error(text.loc, format!("unknown {kind} `{}`", text.value), hint);
    false
}

/// Each persona's milestones: not empty, each once, and a `module:<name>` names a module of
/// the persona's journey (by its name, `import-your-leads`, or its file stem,
/// `02-import-your-leads`).
fn check_milestones(cx: &mut Cx<'_>, draft: &Draft, folder: &Folder<'_>) {
    for persona in &draft.personas {
        let persona_name = persona.name.as_ref().map_or("?", |n| n.value.as_str());
        let scope = format!(" in the milestones of persona `{persona_name}`");
        unique(cx, "milestone", &scope, persona.milestones.iter());
        for milestone in &persona.milestones {
            let Some(module) = milestone.value.strip_prefix(MODULE_PREFIX) else {
                if milestone.value.trim().is_empty() {
                    cx.error(
                        milestone.loc,
                        "a milestone is empty",
                        "write a product event name, e.g. \"Pipeline Created\", or `module:<name>` for a module of the persona's journey",
                    );
                }
                continue;
            };
            let Some(journey) = &persona.journey else {
                cx.error(
                    milestone.loc,
                    format!("milestone `{}` names a module, but persona `{persona_name}` has no journey", milestone.value),
                    "give the persona a `journey`, or use a product event name as the milestone",
                );
                continue;
            };
            // An unknown or unreadable journey is reported on its own.
            let declared = draft
                .journeys
                .iter()
                .any(|j| j.name.as_ref().map(|n| &n.value) == Some(&journey.value));
            if !declared || folder.broken_journeys.contains(&journey.value) {
                continue;
            }
            let modules: Vec<&super::content::DraftModule> = folder
                .modules
                .iter()
                .filter(|m| m.journey == journey.value)
                .collect();
            let found = modules
                .iter()
                .any(|m| m.short_name == module || m.module.slug == module);
            if found {
                continue;
            }
            let known: Vec<&str> = modules.iter().map(|m| m.short_name.as_str()).collect();
            let hint = if known.is_empty() {
                format!(
                    "journey `{}` has no modules; add academy/{}/NN-<name>.md or use a product event name",
                    journey.value, journey.value
                )
            } else {
                let mut hint = match closest(module, known.iter().copied()) {
                    Some(near) => format!("did you mean `{MODULE_PREFIX}{near}`? "),
                    None => String::new(),
                };
                hint.push_str(&format!(
                    "modules of journey `{}`: {}",
                    journey.value,
                    list(known.iter().copied())
                ));
                hint
            };
            cx.error(
                milestone.loc,
                format!(
                    "unknown module `{module}` in journey `{}` of persona `{persona_name}`",
                    journey.value
                ),
                hint,
            );
        }
    }
}

/// `[health] key_features`: product event names, each once.
fn check_key_features(cx: &mut Cx<'_>, features: &[Text]) {
    unique(cx, "key feature", " in [health]", features.iter());
    for feature in features {
        if feature.value.trim().is_empty() {
            cx.error(
                feature.loc,
                "a key feature is empty",
                "write the product event name that shows the feature in use, e.g. \"Deal Created\"",
            );
        }
    }
}

/// The modules a kickoff prerequisite names: `<module>` (its file stem, `01-welcome`, or its
/// name, `welcome`) in any journey, or `<journey>/<module>` in that one.
pub(crate) fn prerequisite_modules<'m>(
    written: &str,
    modules: &'m [DraftModule],
) -> Vec<&'m DraftModule> {
    let (journey, name) = match written.split_once('/') {
        Some((journey, name)) => (Some(journey), name),
        None => (None, written),
    };
    modules
        .iter()
        .filter(|m| journey.is_none_or(|j| m.journey == j))
        .filter(|m| m.short_name == name || m.module.slug == name)
        .collect()
}

/// Each kickoff task's prerequisites name exactly one Academy module of a declared journey,
/// and its attendees are declared personas; neither repeats.
fn check_kickoffs(
    cx: &mut Cx<'_>,
    template: &DraftTemplate,
    folder: &Folder<'_>,
    personas: &[&str],
) {
    for task in &template.tasks {
        let Some(kickoff) = &task.kickoff else {
            continue;
        };
        let key = task.key.as_ref().map_or("?", |k| k.value.as_str());
        let scope = format!(" in the kickoff of task `{key}`");
        unique(cx, "prerequisite", &scope, kickoff.prerequisites.iter());
        unique(cx, "attendee", &scope, kickoff.attendees.iter());
        for attendee in &kickoff.attendees {
            reference(
                cx,
                attendee,
                "persona",
                personas,
                "declare it with [[personas]]; leave `attendees` out to brief on every person of the account",
            );
        }
        for prerequisite in &kickoff.prerequisites {
            check_prerequisite(cx, prerequisite, folder);
        }
    }
}

fn check_prerequisite(cx: &mut Cx<'_>, prerequisite: &Text, folder: &Folder<'_>) {
    let written = prerequisite.value.as_str();
    let found = prerequisite_modules(written, folder.modules);
    match found.as_slice() {
        [_] => {}
        [] => {
            let journey = written.split_once('/').map(|(j, _)| j);
            // A journey with an unreadable module is reported on its own.
            let broken = match journey {
                Some(journey) => folder.broken_journeys.contains(journey),
                None => !folder.broken_journeys.is_empty(),
            };
            if broken {
                return;
            }
            let candidates: Vec<&DraftModule> = folder
                .modules
                .iter()
                .filter(|m| journey.is_none_or(|j| m.journey == j))
                .collect();
            let known: Vec<String> = candidates
                .iter()
                .map(|m| format!("{}/{}", m.journey, m.module.slug))
                .collect();
            let hint = if known.is_empty() {
                match journey {
                    Some(journey) => format!("journey `{journey}` has no modules; add academy/{journey}/NN-<name>.md, or name a module of another journey"),
                    None => "the program has no Academy modules; add academy/<journey>/NN-<name>.md".to_owned(),
                }
            } else {
                let name = written.split_once('/').map_or(written, |(_, n)| n);
                let names = candidates
                    .iter()
                    .flat_map(|m| [m.module.slug.as_str(), m.short_name.as_str()]);
                let mut hint = match closest(name, names) {
                    Some(near) => match journey {
                        Some(journey) => format!("did you mean `{journey}/{near}`? "),
                        None => format!("did you mean `{near}`? "),
                    },
                    None => String::new(),
                };
                hint.push_str(&format!(
                    "Academy modules: {}",
                    list(known.iter().map(String::as_str))
                ));
                hint
            };
            cx.error(
                prerequisite.loc,
                format!("unknown Academy module `{written}`"),
                hint,
            );
        }
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|m| format!("{}/{}", m.journey, m.module.slug))
                .collect();
            cx.error(
                prerequisite.loc,
                format!("`{written}` names more than one Academy module"),
                format!(
                    "name one by its journey and file name: {}",
                    list(names.iter().map(String::as_str))
                ),
            );
        }
    }
}

/// The prefix of a milestone that is a module of the persona's journey.
pub(crate) const MODULE_PREFIX: &str = "module:";

/// Reports the second and later uses of each name.
fn unique<'a>(cx: &mut Cx<'_>, kind: &str, scope: &str, items: impl Iterator<Item = &'a Text>) {
    let mut seen: HashMap<&str, Loc> = HashMap::new();
    for text in items {
        match seen.get(text.value.as_str()) {
            Some(first) => cx.error(
                text.loc,
                format!("duplicate {kind} `{}`{scope}", text.value),
                format!(
                    "{kind} names must be unique{scope} and `{}` is already used on line {}; rename or remove one of them",
                    text.value, first.line
                ),
            ),
            None => {
                seen.insert(&text.value, text.loc);
            }
        }
    }
}

fn unique_emails(cx: &mut Cx<'_>, draft: &Draft) {
    let mut seen: HashMap<String, Loc> = HashMap::new();
    for email in draft.team.iter().filter_map(|m| m.email.as_ref()) {
        let folded = email.value.to_lowercase();
        match seen.get(&folded) {
            Some(first) => cx.error(
                email.loc,
                format!("duplicate team member email `{}`", email.value),
                format!(
                    "each team member needs their own email and this one is already used on line {}; remove the duplicate [[team]] entry",
                    first.line
                ),
            ),
            None => {
                seen.insert(folded, email.loc);
            }
        }
    }
}

fn check_journeys(cx: &mut Cx<'_>, draft: &Draft, folder: &Folder<'_>, journey_names: &[&str]) {
    // Academy folders must belong to declared journeys (reported once per folder).
    for (journey, files) in folder.academy {
        if journey_names.contains(&journey.as_str()) {
            continue;
        }
        let Some(first) = files.first() else { continue };
        let mut hint = match closest(journey, journey_names.iter().copied()) {
            Some(near) => format!("did you mean `academy/{near}/`? "),
            None => String::new(),
        };
        hint.push_str(&format!(
            "declare the journey with [[journeys]] and `name = \"{journey}\"` in program.toml, or move the files{}",
            if journey_names.is_empty() {
                String::new()
            } else {
                format!(" to one of {}", list(journey_names.iter().copied()))
            }
        ));
        Cx {
            file: first,
            out: &mut *cx.out,
        }
        .error(
            Loc::START,
            format!("`academy/{journey}/` is not a declared journey"),
            hint,
        );
    }

    // Within a journey, numbers and names of modules are unique.
    let mut by_journey: BTreeMap<&str, Vec<&DraftModule>> = BTreeMap::new();
    for module in folder.modules {
        by_journey.entry(&module.journey).or_default().push(module);
    }
    for modules in by_journey.values() {
        let mut numbers: HashMap<u32, &DraftModule> = HashMap::new();
        let mut short_names: HashMap<&str, &DraftModule> = HashMap::new();
        for module in modules {
            let mut cx = Cx {
                file: &module.file,
                out: &mut *cx.out,
            };
            if let Some(first) = numbers.get(&module.number) {
                cx.error(
                    Loc::START,
                    format!(
                        "modules `{}` and `{}` have the same number, so their order is unclear",
                        first.module.slug, module.module.slug
                    ),
                    "give every module of a journey its own number (01-, 02-, …)",
                );
            } else {
                numbers.insert(module.number, module);
            }
            if let Some(first) = short_names.get(module.short_name.as_str()) {
                cx.error(
                    Loc::START,
                    format!(
                        "duplicate module `{}`: `{}` has the same name",
                        module.short_name, first.module.slug
                    ),
                    "give each module of a journey its own name, or remove one of them",
                );
            } else {
                short_names.insert(&module.short_name, module);
            }
        }
    }

    // Every declared journey has a core path.
    for journey in &draft.journeys {
        let Some(name) = &journey.name else { continue };
        if folder.broken_journeys.contains(&name.value) {
            continue;
        }
        let modules = by_journey
            .get(name.value.as_str())
            .map_or(&[][..], Vec::as_slice);
        if modules.is_empty() {
            cx.error(
                name.loc,
                format!("journey `{}` has no modules", name.value),
                format!(
                    "add Markdown files such as `academy/{}/01-welcome.md` (with `title` in their +++ front matter), or remove the journey",
                    name.value
                ),
            );
        } else if modules.iter().all(|m| m.module.optional) {
            cx.error(
                name.loc,
                format!("journey `{}` has only optional modules", name.value),
                "a journey needs at least one core module: remove `optional = true` from one of them",
            );
        }
    }
}

fn check_tasks(cx: &mut Cx<'_>, template: &DraftTemplate, roles: &[&str], personas: &[&str]) {
    let template_name = template.name.as_ref().map_or("?", |n| n.value.as_str());
    unique(
        cx,
        "task",
        &format!(" in template `{template_name}`"),
        template.tasks.iter().filter_map(|t| t.key.as_ref()),
    );
    let keys: Vec<&str> = template
        .tasks
        .iter()
        .filter_map(|t| t.key.as_ref())
        .map(|k| k.value.as_str())
        .collect();
    let declare = format!("add it to template `{template_name}` with [[templates.tasks]]");
    for task in &template.tasks {
        for dependency in &task.depends_on {
            reference(cx, dependency, "task", &keys, &declare);
        }
        let Some(assignee) = &task.assignee else {
            continue;
        };
        let value = assignee.value.as_str();
        match task.owner {
            Some(Side::Team) if !roles.contains(&value) => {
                let hint = if roles.is_empty() {
                    "no team roles are declared; add members with [[team]] and `role = \"csm\"`"
                        .to_owned()
                } else {
                    let near = closest(value, roles.iter().copied())
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    format!(
                        "{near}a team task is assigned to a role held by someone in [[team]]: {}; or set `owner = \"customer\"` to assign it to a persona",
                        list(roles.iter().copied())
                    )
                };
                cx.error(
                    assignee.loc,
                    format!("no team member has the role `{value}`"),
                    hint,
                );
            }
            Some(Side::Customer) if !personas.contains(&value) => {
                let hint = if personas.is_empty() {
                    "no personas are declared; a customer task is assigned to a persona declared with [[personas]]".to_owned()
                } else {
                    let near = closest(value, personas.iter().copied())
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    format!(
                        "{near}a customer task is assigned to a persona: {}; or set `owner = \"team\"` to assign it to a team role",
                        list(personas.iter().copied())
                    )
                };
                cx.error(assignee.loc, format!("unknown persona `{value}`"), hint);
            }
            _ => {}
        }
    }
    check_dependency_cycles(cx, template, &keys);
    if template.completion == Completion::FinalTask {
        if let Some(last) = template.tasks.last().and_then(|t| t.key.as_ref()) {
            for task in &template.tasks {
                for dependency in task.depends_on.iter().filter(|d| d.value == last.value) {
                    cx.error(
                        dependency.loc,
                        format!(
                            "this task depends on `{}`, the final task of template `{template_name}`",
                            last.value
                        ),
                        "the project completes when its final (last) task is done, so nothing can wait for it; move the final task to the end of the list, or set `completion = \"all_tasks\"`",
                    );
                }
            }
        }
    }
}

/// Reports each cycle of `depends_on` once, at the dependency that closes it.
fn check_dependency_cycles(cx: &mut Cx<'_>, template: &DraftTemplate, keys: &[&str]) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    // Edges by task index (first declaration of each key wins).
    let index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .rev()
        .map(|(i, &k)| (k, i))
        .collect();
    let tasks: Vec<_> = template.tasks.iter().filter(|t| t.key.is_some()).collect();
    let edges: Vec<Vec<(usize, &Text)>> = tasks
        .iter()
        .map(|t| {
            t.depends_on
                .iter()
                .filter_map(|d| index.get(d.value.as_str()).map(|&j| (j, d)))
                .collect()
        })
        .collect();
    let mut marks = vec![Mark::New; tasks.len()];
    for root in 0..tasks.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (task, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::Active;
        while let Some(&mut (task, ref mut next)) = stack.last_mut() {
            let Some(&(dependency, text)) = edges[task].get(*next) else {
                marks[task] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            match marks[dependency] {
                Mark::New => {
                    marks[dependency] = Mark::Active;
                    stack.push((dependency, 0));
                }
                Mark::Active => {
                    let from = stack
                        .iter()
                        .position(|&(t, _)| t == dependency)
                        .unwrap_or(0);
                    let mut path: Vec<&str> = stack[from..].iter().map(|&(t, _)| keys[t]).collect();
                    path.push(keys[dependency]);
                    cx.error(
                        text.loc,
                        format!("tasks depend on each other in a cycle: {}", path.join(" -> ")),
                        "remove one of these `depends_on` entries so that the tasks can be done in some order",
                    );
                }
                Mark::Done => {}
            }
        }
    }
}

/// Reports each cycle of templates chained by `next` once, at the `next` of its first
/// template in declaration order.
fn check_chaining(cx: &mut Cx<'_>, draft: &Draft) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, template) in draft.templates.iter().enumerate() {
        if let Some(name) = &template.name {
            index.entry(&name.value).or_insert(i);
        }
    }
    let next_of = |i: usize| -> Option<usize> {
        let next = draft.templates.get(i)?.next.as_ref()?;
        index.get(next.value.as_str()).copied()
    };
    let mut reported: BTreeSet<usize> = BTreeSet::new();
    for start in 0..draft.templates.len() {
        let mut path = vec![start];
        let mut at = start;
        while let Some(next) = next_of(at) {
            if let Some(from) = path.iter().position(|&p| p == next) {
                let cycle = &path[from..];
                let first = cycle.iter().copied().min().unwrap_or(next);
                if reported.insert(first) {
                    let from_first = cycle.iter().position(|&p| p == first).unwrap_or(0);
                    let mut names: Vec<&str> = cycle[from_first..]
                        .iter()
                        .chain(&cycle[..from_first])
                        .filter_map(|&i| draft.templates.get(i)?.name.as_ref())
                        .map(|n| n.value.as_str())
                        .collect();
                    if let Some(&head) = names.first() {
                        names.push(head);
                    }
                    let loc = draft
                        .templates
                        .get(first)
                        .and_then(|t| t.next.as_ref())
                        .map_or(Loc::START, |n| n.loc);
                    cx.error(
                        loc,
                        format!("templates chain in a cycle: {}", names.join(" -> ")),
                        "a project chains into the `next` template when it completes, so a cycle would never end; remove `next` from one of these templates",
                    );
                }
                break;
            }
            if path.len() > draft.templates.len() {
                break;
            }
            path.push(next);
            at = next;
        }
    }
}

/// The fields a rule's `when` may read: the standard ones, with the program's persona names
/// as the known values of `person.persona` (so a misspelt persona gets a hint).
pub(crate) fn condition_schema(personas: &[&str]) -> crate::expr::Schema {
    crate::expr::Schema::standard().with_values("person.persona", personas.iter().copied())
}

/// Reports every problem of a rule's condition at its place in the file. The place is exact
/// for a condition written on one line without escapes (the usual case); otherwise it is
/// counted from the start of the string.
pub(crate) fn check_condition(cx: &mut Cx<'_>, when: &Text, schema: &crate::expr::Schema) {
    let Err(errors) = crate::expr::Condition::parse(&when.value, schema) else {
        return;
    };
    for error in errors {
        let before = when.value.get(..error.offset).unwrap_or(&when.value);
        let lines = before.matches('\n').count();
        let column = match before.rfind('\n') {
            // The first line starts after the opening quote.
            None => when.loc.column + 1 + u32::try_from(before.chars().count()).unwrap_or(0),
            Some(newline) => 1 + u32::try_from(before[newline + 1..].chars().count()).unwrap_or(0),
        };
        let loc = Loc {
            line: when.loc.line + u32::try_from(lines).unwrap_or(0),
            column,
        };
        let hint = error.hint.unwrap_or_else(|| {
            "see the condition language in the program format: fields such as `account.seats`, operators such as `and`, `==`, `in`".to_owned()
        });
        cx.error(loc, format!("in `when`: {}", error.message), hint);
    }
}
