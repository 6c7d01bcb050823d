//! Behaviour of the condition language: precedence, each operator and function, durations
//! and timestamps, missing values and data of the wrong type, what an evaluation records,
//! every kind of error with its exact span and hint, and that no input makes parsing or
//! evaluation panic.

use super::*;
use crate::time::Duration;
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;

// ------------------------------------------------------------------------------ fixtures

/// 2026-01-01T00:00:00Z, the evaluation time of every test.
const NOW: Timestamp = Timestamp(1_767_225_600_000);

/// The standard schema with the personas and event types a program would add.
fn schema() -> Schema {
    Schema::standard()
        .with_values("person.persona", ["admin", "end_user", "executive"])
        .with_values("event.type", ["deal.won", "academy.login", "lead.imported"])
}

fn condition(source: &str) -> Condition {
    Condition::parse(source, &schema()).unwrap_or_else(|e| panic!("`{source}`: {e:#?}"))
}

fn errors(source: &str) -> Vec<ExprError> {
    match Condition::parse(source, &schema()) {
        Ok(_) => panic!("`{source}` should be refused"),
        Err(errors) => errors,
    }
}

/// The one error of `source`.
fn error(source: &str) -> ExprError {
    let mut errors = errors(source);
    assert_eq!(errors.len(), 1, "`{source}`: {errors:#?}");
    errors.remove(0)
}

fn hint(e: &ExprError) -> &str {
    e.hint.as_deref().unwrap_or("")
}

/// `(offset, len)` of an error.
fn span(e: &ExprError) -> (usize, usize) {
    (e.offset, e.len)
}

fn days(n: i64) -> Duration {
    Duration(n * Duration::DAY.millis())
}

fn before_now(d: Duration) -> Value {
    Value::Timestamp(Timestamp(NOW.millis() - d.millis()))
}

/// Acme: a pro account with 12 seats won a week ago; the person is Ada, an admin and VP
/// of Sales; the event is `deal.won`, now, with some nested data.
fn acme() -> BTreeMap<String, Value> {
    let mut env = BTreeMap::new();
    let mut set = |path: &str, value: Value| {
        env.insert(path.to_owned(), value);
    };
    set("account.name", "Acme".into());
    set("account.plan", "pro".into());
    set("account.seats", 12u32.into());
    set("account.status", "active".into());
    set("account.won_at", before_now(days(7)));
    set("person.email", "ada@acme.example".into());
    set("person.persona", "admin".into());
    set("person.title", "VP of Sales".into());
    set("event.type", "deal.won".into());
    set("event.at", NOW.into());
    set(
        "event.data",
        json!({
            "plan": { "tier": "gold" },
            "seats": "ten",
            "tags": ["beta", "emea"],
            "items": [{ "sku": "crm-pro" }],
            "trial_ends_at": "2026-01-15T00:00:00Z",
            "verified": true,
        })
        .into(),
    );
    set("account.properties", json!({ "industry": "Retail" }).into());
    env
}

fn eval(source: &str) -> Evaluation {
    condition(source).eval(&acme(), NOW)
}

fn is_true(source: &str) -> bool {
    eval(source).result
}

fn assert_all_true(sources: &[&str]) {
    for source in sources {
        let evaluation = eval(source);
        assert!(evaluation.result, "`{source}`: {evaluation}");
    }
}

fn assert_all_false(sources: &[&str]) {
    for source in sources {
        let evaluation = eval(source);
        assert!(!evaluation.result, "`{source}`: {evaluation}");
    }
}

// ------------------------------------------------------------------------------ precedence

#[test]
fn and_binds_tighter_than_or() {
    assert!(is_true("true or false and false"));
    assert!(!is_true("(true or false) and false"));
    assert!(is_true("false and false or true"));
}

#[test]
fn not_applies_to_a_whole_comparison() {
    assert!(is_true("not account.seats > 20"));
    assert!(!is_true("not account.plan == \"pro\""));
}

#[test]
fn not_binds_tighter_than_and() {
    assert!(!is_true("not true and false"));
    assert!(is_true("not (true and false)"));
}

#[test]
fn multiplication_binds_tighter_than_addition() {
    assert_all_true(&["2 + 3 * 4 == 14", "(2 + 3) * 4 == 20", "10 - 6 / 2 == 7"]);
}

#[test]
fn subtraction_and_division_group_to_the_left() {
    assert_all_true(&["10 - 4 - 3 == 3", "24 / 4 / 2 == 3"]);
}

#[test]
fn unary_minus_binds_tightest() {
    assert_all_true(&["-2 * 3 == -6", "10 - -2 == 12", "- -4 == 4"]);
}

#[test]
fn arithmetic_binds_tighter_than_comparison() {
    assert!(is_true("account.seats + 1 > 12"));
}

// ------------------------------------------------------------------------------ operators

#[test]
fn equality_compares_values_of_one_type() {
    assert_all_true(&[
        "account.plan == \"pro\"",
        "account.plan != \"free\"",
        "account.seats == 12",
        "account.seats != 12.5",
        "true == true",
        "3d == 72h",
        "[\"a\", \"b\"] == [\"a\", \"b\"]",
        "event.data.plan == event.data.plan",
    ]);
    assert_all_false(&["account.plan == \"Pro\"", "[\"a\"] == [\"a\", \"b\"]"]);
}

#[test]
fn ordering_works_on_numbers_strings_timestamps_and_durations() {
    assert_all_true(&[
        "account.seats > 10",
        "account.seats >= 12",
        "account.seats < 12.5",
        "account.seats <= 12",
        "account.name < \"Beta\"",
        "account.won_at < event.at",
        "30m < 1h",
    ]);
    assert_all_false(&["account.seats > 12", "account.seats < 12"]);
}

#[test]
fn in_tests_membership_of_a_list() {
    assert_all_true(&[
        "account.plan in [\"pro\", \"enterprise\"]",
        "account.seats in [10, 12]",
        "account.plan not in [\"free\", \"trial\"]",
        "\"emea\" in event.data.tags",
    ]);
    assert_all_false(&[
        "account.plan in [\"free\"]",
        "account.plan not in [\"pro\"]",
        "account.plan in []",
    ]);
}

#[test]
fn contains_looks_into_strings_case_sensitively() {
    assert!(is_true("person.title contains \"Sales\""));
    assert!(!is_true("person.title contains \"sales\""));
    assert!(is_true("lower(person.title) contains \"sales\""));
}

#[test]
fn contains_looks_into_lists() {
    assert!(is_true("event.data.tags contains \"beta\""));
    assert!(!is_true("event.data.tags contains \"apac\""));
}

#[test]
fn matches_searches_a_regular_expression_ignoring_case() {
    assert_all_true(&[
        "person.title matches \"vp|director\"",
        "person.title matches \"\\bsales\\b\"",
        "person.email matches \"@acme\\.example$\"",
    ]);
    assert_all_false(&[
        "person.title matches \"^sales\"",
        "person.title matches \"cto\"",
    ]);
}

#[test]
fn strings_escape_quotes_and_backslashes_and_keep_other_backslashes() {
    let mut env = BTreeMap::new();
    env.insert("person.title".to_owned(), Value::from("say \"hi\" \\ \\d"));
    let c = condition("person.title == \"say \\\"hi\\\" \\\\ \\d\"");
    assert!(c.eval(&env, NOW).result);
}

#[test]
fn arithmetic_works_on_numbers() {
    assert_all_true(&[
        "account.seats + 3 == 15",
        "account.seats - 2 == 10",
        "account.seats * 2 == 24",
        "account.seats / 8 == 1.5",
    ]);
}

#[test]
fn division_by_zero_gives_null() {
    assert!(is_true("account.seats / 0 == null"));
    assert!(!is_true("account.seats / 0 > 1"));
}

#[test]
fn booleans_combine_with_and_or_not() {
    assert_all_true(&[
        "event.data.verified",
        "event.data.verified and account.seats > 3",
        "not false",
    ]);
}

// ------------------------------------------------------------------------------ functions

#[test]
fn len_counts_characters_items_and_keys() {
    assert_all_true(&[
        "len(account.plan) == 3",
        "len(\"héllo\") == 5",
        "len(event.data.tags) == 2",
        "len(event.data.plan) == 1",
        "len([1, 2, 3]) == 3",
    ]);
}

#[test]
fn lower_turns_a_string_to_lower_case() {
    assert!(is_true("lower(account.name) == \"acme\""));
}

#[test]
fn exists_says_whether_a_field_has_a_value() {
    assert!(is_true("exists(account.plan)"));
    assert!(!is_true("exists(account.domain)"));
    assert!(is_true("exists(event.data.plan.tier)"));
    assert!(!is_true("exists(event.data.plan.colour)"));
}

#[test]
fn days_and_hours_since_count_whole_units_up_to_the_evaluation_time() {
    assert!(is_true("days_since(account.won_at) == 7"));
    assert!(is_true("hours_since(account.won_at) == 168"));
    let mut env = acme();
    env.insert(
        "person.enrolled_at".to_owned(),
        before_now(Duration(36 * 3_600_000)),
    );
    let c =
        condition("days_since(person.enrolled_at) == 1 and hours_since(person.enrolled_at) == 36");
    assert!(c.eval(&env, NOW).result);
}

#[test]
fn days_since_is_negative_for_a_later_time() {
    assert!(is_true("days_since(event.data.trial_ends_at) == -14"));
}

#[test]
fn days_since_depends_only_on_the_time_passed_in() {
    let c = condition("days_since(account.won_at) > 7");
    assert!(!c.eval(&acme(), NOW).result);
    assert!(c.eval(&acme(), NOW.plus(days(1))).result);
}

// ------------------------------------------------------------------------------ durations and timestamps

#[test]
fn durations_are_written_with_units() {
    assert_all_true(&["72h == 3d", "1h30m == 90m", "1w == 7d", "90s == 1m + 30s"]);
}

#[test]
fn a_timestamp_minus_a_timestamp_is_a_duration() {
    assert_all_true(&[
        "event.at - account.won_at == 7d",
        "event.at - account.won_at > 72h",
        "account.won_at - event.at < -1d",
    ]);
}

#[test]
fn a_timestamp_plus_or_minus_a_duration_is_a_timestamp() {
    assert_all_true(&[
        "account.won_at + 7d == event.at",
        "7d + account.won_at == event.at",
        "event.at - 7d == account.won_at",
        "account.won_at + 3d < event.at",
    ]);
}

#[test]
fn durations_add_subtract_and_negate() {
    assert_all_true(&["1d - 12h == 12h", "1h + 30m == 90m", "-1d < 1s"]);
}

#[test]
fn a_string_compared_with_a_timestamp_is_read_as_one() {
    assert_all_true(&[
        "account.won_at < \"2026-01-01T00:00:00Z\"",
        "account.won_at == \"2025-12-25T00:00:00Z\"",
        "\"2025-12-01T00:00:00+01:00\" < account.won_at",
        "account.won_at in [\"2025-12-25T00:00:00Z\"]",
        "account.won_at == \"2025-12-25\"",
        "days_since(\"2025-12-31T00:00:00Z\") == 1",
    ]);
}

#[test]
fn a_string_in_dynamic_data_is_read_as_a_timestamp_where_one_is_compared() {
    assert_all_true(&[
        "event.data.trial_ends_at > event.at",
        "event.data.trial_ends_at - event.at == 14d",
        "hours_since(event.data.trial_ends_at) == -336",
    ]);
}

// ------------------------------------------------------------------------------ missing values

#[test]
fn a_missing_field_equals_null() {
    assert!(is_true("account.domain == null"));
    assert!(is_true("null == account.domain"));
    assert!(!is_true("account.plan == null"));
}

#[test]
fn a_missing_field_is_unequal_to_any_value() {
    assert!(is_true("account.domain != \"acme.example\""));
    assert!(!is_true("account.domain == \"acme.example\""));
}

#[test]
fn comparisons_with_a_missing_field_other_than_equality_are_false() {
    assert_all_false(&[
        "project.progress > 0.5",
        "project.progress <= 0.5",
        "person.last_login_at < event.at",
        "account.domain contains \"acme\"",
        "account.domain matches \"acme\"",
        "\"pro\" in event.data.missing",
        "\"pro\" not in event.data.missing",
    ]);
}

#[test]
fn not_in_is_the_negation_of_in_even_for_a_missing_value() {
    assert!(!is_true("account.domain in [\"acme.example\"]"));
    assert!(is_true("account.domain not in [\"acme.example\"]"));
}

#[test]
fn arithmetic_and_functions_on_null_give_null() {
    assert_all_true(&[
        "project.progress + 1 == null",
        "len(account.domain) == null",
        "lower(account.domain) == null",
        "days_since(person.last_login_at) == null",
        "person.last_login_at + 1d == null",
    ]);
}

#[test]
fn null_counts_as_false_where_true_or_false_is_expected() {
    assert!(!is_true("event.data.flag"));
    assert!(is_true("not event.data.flag"));
    assert!(is_true("event.data.flag or true"));
}

#[test]
fn a_condition_on_an_empty_env_is_false_without_problems() {
    let evaluation =
        condition("account.seats > 3 and person.persona == \"admin\"").eval(&BTreeMap::new(), NOW);
    assert!(!evaluation.result);
    assert!(evaluation.problems.is_empty(), "{evaluation}");
}

// ------------------------------------------------------------------------------ dynamic data

#[test]
fn dynamic_data_is_looked_up_at_any_depth() {
    assert_all_true(&[
        "event.data.plan.tier == \"gold\"",
        "event.data.items.0.sku == \"crm-pro\"",
        "event.data.items.1.sku == null",
        "account.properties.industry == \"Retail\"",
        "person.properties.region == null",
    ]);
}

#[test]
fn data_of_the_wrong_type_makes_a_comparison_false_and_is_recorded() {
    let evaluation = eval("event.data.seats > 10");
    assert!(!evaluation.result);
    assert_eq!(
        evaluation.problems,
        ["`event.data.seats` is a string, compared with a number"]
    );
}

#[test]
fn a_mismatch_is_neither_true_nor_false_so_not_does_not_make_it_true() {
    assert_all_false(&[
        "not (event.data.seats > 10)",
        "event.data.seats == 10",
        "event.data.seats != 10",
        "event.data.plan + 1 > 0",
        "len(event.data.verified) > 0",
    ]);
}

#[test]
fn and_and_or_decide_past_a_mismatch_when_their_other_side_decides() {
    assert!(is_true("event.data.seats > 10 or account.plan == \"pro\""));
    assert!(is_true("account.plan == \"pro\" or event.data.seats > 10"));
    assert!(!is_true(
        "event.data.seats > 10 and account.plan == \"free\""
    ));
    let evaluation = eval("event.data.seats > 10 and account.plan == \"pro\"");
    assert!(!evaluation.result);
    assert_eq!(evaluation.problems.len(), 1, "{evaluation}");
}

#[test]
fn a_map_env_looks_inside_the_longest_key_holding_data() {
    let mut env = BTreeMap::new();
    env.insert(
        "event.data".to_owned(),
        Value::from(json!({ "a": { "b": 1 } })),
    );
    env.insert("event.data.a".to_owned(), Value::from(json!({ "b": 2 })));
    assert_eq!(env.value("event.data.a.b"), Value::Number(2.0));
    assert_eq!(env.value("event.data.x"), Value::Null);
    assert_eq!(env.value("account.plan"), Value::Null);
}

#[test]
fn lookup_json_finds_nested_values_and_list_items() {
    let data = json!({ "plan": { "tier": "gold" }, "items": [{ "sku": "a" }], "n": 3 });
    assert_eq!(lookup_json(&data, "plan.tier"), Value::from("gold"));
    assert_eq!(lookup_json(&data, "items.0.sku"), Value::from("a"));
    assert_eq!(lookup_json(&data, "n"), Value::Number(3.0));
    assert_eq!(lookup_json(&data, "n.x"), Value::Null);
    assert_eq!(lookup_json(&data, "items.7"), Value::Null);
    assert_eq!(lookup_json(&data, ""), Value::from(&data));
}

// ------------------------------------------------------------------------------ what an evaluation records

#[test]
fn seen_records_every_field_read_once_in_the_order_read() {
    let evaluation =
        eval("account.seats > 3 and person.persona == \"admin\" and account.seats < 100");
    assert_eq!(
        evaluation.seen,
        [
            ("account.seats".to_owned(), Value::Number(12.0)),
            ("person.persona".to_owned(), Value::from("admin")),
        ]
    );
}

#[test]
fn seen_records_a_missing_field_as_null() {
    let evaluation = eval("account.domain == \"acme.example\"");
    assert_eq!(
        evaluation.seen,
        [("account.domain".to_owned(), Value::Null)]
    );
}

#[test]
fn parts_skipped_because_the_result_is_known_read_nothing() {
    let evaluation = eval("account.seats > 100 and person.persona == \"admin\"");
    assert_eq!(evaluation.seen.len(), 1);
    let evaluation = eval("account.seats < 100 or person.persona == \"admin\"");
    assert_eq!(evaluation.seen.len(), 1);
}

#[test]
fn an_evaluation_reads_as_a_trace_line() {
    let evaluation = eval("account.seats > 20 and person.persona == \"admin\"");
    assert_eq!(
        evaluation.to_string(),
        "condition false with account.seats = 12"
    );
    let evaluation = eval("account.seats > 3 and person.persona == \"admin\"");
    assert_eq!(
        evaluation.to_string(),
        "condition true with account.seats = 12, person.persona = \"admin\""
    );
    let evaluation = eval("event.data.seats > 10");
    assert_eq!(
        evaluation.to_string(),
        "condition false with event.data.seats = \"ten\"; `event.data.seats` is a string, compared with a number"
    );
}

#[test]
fn values_display_as_conditions_write_them() {
    let cases = [
        (Value::Null, "null"),
        (Value::Bool(true), "true"),
        (Value::Number(3.0), "3"),
        (Value::Number(2.5), "2.5"),
        (Value::from("say \"hi\""), "\"say \\\"hi\\\"\""),
        (Value::Duration(Duration(90 * 60_000)), "1h30m"),
        (Value::Duration(Duration(-Duration::DAY.millis())), "-1d"),
        (NOW.into(), "2026-01-01T00:00:00Z"),
        (Value::from(vec!["a", "b"]), "[\"a\", \"b\"]"),
        (Value::from(json!({ "k": 1 })), "{\"k\": 1}"),
    ];
    for (value, text) in cases {
        assert_eq!(value.to_string(), text);
    }
}

#[test]
fn values_serialise_as_plain_json() {
    let evaluation = eval("days_since(account.won_at) > 3 and event.data.tags contains \"beta\"");
    let json = serde_json::to_value(&evaluation).expect("serialisable");
    assert_eq!(
        json,
        json!({
            "result": true,
            "seen": [
                ["account.won_at", "2025-12-25T00:00:00Z"],
                ["event.data.tags", ["beta", "emea"]],
            ],
            "problems": [],
        })
    );
    assert_eq!(
        serde_json::to_value(Value::Duration(days(3))).expect("serialisable"),
        json!("3d")
    );
    assert_eq!(
        serde_json::to_value(Value::Number(2.5)).expect("serialisable"),
        json!(2.5)
    );
}

#[test]
fn values_deserialise_from_plain_json() {
    let value: Value = serde_json::from_str(r#"{"a": [1, "x", null, true]}"#).expect("json");
    assert_eq!(value, Value::from(json!({ "a": [1, "x", null, true] })));
}

// ------------------------------------------------------------------------------ schema and API

#[test]
fn the_standard_schema_types_known_fields_and_dynamic_prefixes() {
    let schema = Schema::standard();
    assert_eq!(schema.type_of("account.seats"), Some(Type::Number));
    assert_eq!(schema.type_of("account.won_at"), Some(Type::Timestamp));
    assert_eq!(schema.type_of("person.persona"), Some(Type::String));
    assert_eq!(schema.type_of("goal.deadline"), Some(Type::Timestamp));
    assert_eq!(schema.type_of("event.data"), Some(Type::Any));
    assert_eq!(schema.type_of("event.data.a.b.c"), Some(Type::Any));
    assert_eq!(schema.type_of("person.properties.x"), Some(Type::Any));
    assert_eq!(schema.type_of("event.database"), None);
    assert_eq!(schema.type_of("account.seat"), None);
}

#[test]
fn callers_can_add_fields_of_their_own() {
    let schema = Schema::new()
        .with_field("account.tags", Type::List(Box::new(Type::String)))
        .with_field("account.trial", Type::Bool);
    let c = Condition::parse(
        "account.tags contains \"vip\" and not account.trial",
        &schema,
    )
    .expect("valid");
    let mut env = BTreeMap::new();
    env.insert("account.tags".to_owned(), Value::from(vec!["vip"]));
    env.insert("account.trial".to_owned(), Value::Bool(false));
    assert!(c.eval(&env, NOW).result);
    let errors = Condition::parse("account.tags contains 3", &schema).expect_err("refused");
    assert_eq!(
        errors[0].message,
        "`account.tags` is a list of strings, so `contains` needs a string after it, found a number"
    );
}

#[test]
fn a_condition_knows_its_source_and_the_fields_it_reads() {
    let c = condition("account.seats > 3 and (account.seats < 10 or exists(person.title))");
    assert_eq!(
        c.source(),
        "account.seats > 3 and (account.seats < 10 or exists(person.title))"
    );
    assert_eq!(c.paths(), ["account.seats", "person.title"]);
    assert_eq!(c, condition(c.source()));
}

#[test]
fn keywords_may_be_segments_of_dynamic_paths() {
    assert!(is_true("event.data.in == null and event.data.not == null"));
}

// ------------------------------------------------------------------------------ errors: fields and values

#[test]
fn an_unknown_field_gets_a_did_you_mean_hint() {
    let e = error("acount.seats > 3");
    assert_eq!(e.message, "unknown field `acount.seats`");
    assert_eq!(hint(&e), "did you mean `account.seats`?");
    assert_eq!(span(&e), (0, 12));
}

#[test]
fn a_misspelt_dynamic_prefix_suggests_the_prefix() {
    let e = error("account.plan == \"pro\" and event.dta.plan == \"pro\"");
    assert_eq!(e.message, "unknown field `event.dta.plan`");
    assert_eq!(hint(&e), "did you mean `event.data.plan`?");
    assert_eq!(span(&e), (26, 14));
}

#[test]
fn a_field_far_from_all_others_lists_where_fields_start() {
    let e = error("company.size > 3");
    assert_eq!(e.message, "unknown field `company.size`");
    assert_eq!(
        hint(&e),
        "fields start with `account.`, `event.`, `goal.`, `person.` and `project.`"
    );
}

#[test]
fn the_last_part_of_a_field_alone_suggests_the_fields_ending_so() {
    let e = error("seats > 10");
    assert_eq!(hint(&e), "did you mean `account.seats`?");
    let e = error("status == \"active\"");
    assert_eq!(
        hint(&e),
        "did you mean `account.status`, `goal.status` or `project.status`?"
    );
}

#[test]
fn a_bare_word_hints_that_strings_go_in_quotes() {
    let e = error("account.plan == enterprise");
    assert_eq!(e.message, "unknown field `enterprise`");
    assert!(
        hint(&e).ends_with("if you meant a string, write `\"enterprise\"`"),
        "{e:?}"
    );
    assert_eq!(span(&e), (16, 10));
}

#[test]
fn a_group_of_fields_is_not_a_value() {
    let e = error("goal == \"x\"");
    assert_eq!(e.message, "`goal` is a group of fields, not a value");
    assert_eq!(
        hint(&e),
        "write one of its fields, e.g. `goal.deadline`, `goal.name`, `goal.progress` or `goal.status`"
    );
    assert_eq!(span(&e), (0, 4));
}

#[test]
fn a_field_that_is_not_data_has_no_fields() {
    let e = error("account.plan.name == \"x\"");
    assert_eq!(e.message, "`account.plan` is a string and has no fields");
    assert_eq!(hint(&e), "write `account.plan`");
    assert_eq!(span(&e), (0, 17));
}

#[test]
fn an_unknown_value_of_a_field_with_known_values_gets_a_did_you_mean_hint() {
    let e = error("person.persona == \"admn\"");
    assert_eq!(
        e.message,
        "\"admn\" is not a known value of `person.persona`"
    );
    assert_eq!(hint(&e), "did you mean `admin`?");
    assert_eq!(span(&e), (18, 6));
    let e = error("\"Admin\" != person.persona");
    assert_eq!(hint(&e), "did you mean `admin`?");
    assert_eq!(span(&e), (0, 7));
}

#[test]
fn unknown_values_in_a_list_are_reported_each() {
    let errors = errors("event.type in [\"deal.won\", \"deal.wan\", \"lead.imprted\"]");
    let found: Vec<_> = errors.iter().map(|e| (span(e), hint(e))).collect();
    assert_eq!(
        found,
        [
            ((27, 10), "did you mean `deal.won`?"),
            ((39, 14), "did you mean `lead.imported`?"),
        ]
    );
}

#[test]
fn an_unknown_value_far_from_all_lists_the_known_values() {
    let e = error("account.status == \"gone\"");
    assert_eq!(
        hint(&e),
        "the known values are `active`, `churned` and `paused`"
    );
}

#[test]
fn fields_without_known_values_accept_any_string() {
    condition("account.plan == \"anything\" and event.data.kind == \"x\"");
    let open = Condition::parse("person.persona == \"anyone\"", &Schema::standard());
    assert!(open.is_ok());
}

// ------------------------------------------------------------------------------ errors: types

#[test]
fn comparing_a_number_with_a_string_is_refused() {
    let e = error("account.seats == \"ten\"");
    assert_eq!(
        e.message,
        "`account.seats` is a number, compared with a string"
    );
    assert_eq!(span(&e), (0, 22));
    let e = error("\"ten\" < account.seats");
    assert_eq!(
        e.message,
        "`account.seats` is a number, compared with a string"
    );
}

#[test]
fn a_number_in_quotes_gets_a_hint_to_drop_them() {
    let e = error("account.seats > \"10\"");
    assert_eq!(hint(&e), "write numbers without quotes: `10`");
}

#[test]
fn a_timestamp_compared_with_a_number_hints_at_days_since() {
    let e = error("account.won_at > 3");
    assert_eq!(
        e.message,
        "`account.won_at` is a timestamp, compared with a number"
    );
    assert!(
        hint(&e).contains("`days_since(account.won_at) > 3`"),
        "{e:?}"
    );
}

#[test]
fn a_string_that_is_not_a_time_compared_with_a_timestamp_is_refused() {
    let e = error("account.won_at < \"last week\"");
    assert_eq!(e.message, "\"last week\" is not a timestamp");
    assert_eq!(span(&e), (17, 11));
}

#[test]
fn the_condition_must_be_true_or_false() {
    let e = error("account.seats");
    assert_eq!(e.message, "condition must be true or false, found a number");
    assert_eq!(
        hint(&e),
        "compare it with something, e.g. `account.seats > 0`"
    );
    assert_eq!(span(&e), (0, 13));
    let e = error("account.seats + 1");
    assert_eq!(span(&e), (0, 17));
    let e = error("null");
    assert_eq!(e.message, "condition must be true or false, found null");
}

#[test]
fn and_or_not_need_true_or_false() {
    let e = error("account.seats and true");
    assert_eq!(
        e.message,
        "`account.seats` is a number, but `and` needs true or false"
    );
    assert_eq!(span(&e), (0, 13));
    let e = error("true or account.plan");
    assert_eq!(
        e.message,
        "`account.plan` is a string, but `or` needs true or false"
    );
    assert_eq!(span(&e), (8, 12));
    let e = error("not account.plan");
    assert_eq!(
        e.message,
        "`account.plan` is a string, but `not` needs true or false"
    );
}

#[test]
fn ordering_with_null_is_refused() {
    let e = error("account.seats > null");
    assert_eq!(e.message, "`>` cannot compare with `null`");
    assert!(hint(&e).contains("`account.seats == null`"), "{e:?}");
    assert_eq!(span(&e), (0, 20));
}

#[test]
fn ordering_of_true_false_values_is_refused() {
    let e = error("true < false");
    assert_eq!(
        e.message,
        "`<` orders numbers, strings, timestamps and durations; `true` is a true/false value"
    );
}

#[test]
fn in_needs_a_list_of_the_same_type() {
    let e = error("\"pro\" in account.plan");
    assert_eq!(e.message, "`in` needs a list on its right, found a string");
    assert_eq!(
        hint(&e),
        "to look for text inside a string, write `account.plan contains \"pro\"`"
    );
    assert_eq!(span(&e), (9, 12));
    let e = error("account.seats in [\"10\", \"20\"]");
    assert_eq!(
        e.message,
        "`account.seats` is a number, but the list holds strings"
    );
    assert_eq!(span(&e), (0, 29));
}

#[test]
fn contains_needs_a_string_or_a_list() {
    let e = error("account.seats contains 1");
    assert_eq!(
        e.message,
        "`contains` looks inside a string or a list; `account.seats` is a number"
    );
    let e = error("account.plan contains 1");
    assert_eq!(
        e.message,
        "`account.plan` is a string, so `contains` needs a string after it, found a number"
    );
}

#[test]
fn matches_needs_a_string_on_its_left() {
    let e = error("account.seats matches \"1\"");
    assert_eq!(
        e.message,
        "`matches` needs a string on its left; `account.seats` is a number"
    );
    assert_eq!(span(&e), (0, 25));
}

#[test]
fn arithmetic_on_the_wrong_types_is_refused() {
    let e = error("account.plan + 1 > 3");
    assert_eq!(e.message, "`+` cannot combine a string and a number");
    assert_eq!(span(&e), (0, 16));
    let e = error("account.won_at + account.won_at > event.at");
    assert_eq!(e.message, "`+` cannot combine a timestamp and a timestamp");
    let e = error("2 * 3d > 1d");
    assert_eq!(e.message, "`*` cannot combine a number and a duration");
    let e = error("account.seats + null == null");
    assert_eq!(e.message, "`+` cannot be used with `null`");
}

#[test]
fn a_list_holds_values_of_one_type() {
    let e = error("account.plan in [\"pro\", 3]");
    assert_eq!(
        e.message,
        "a list holds values of one type: this is a number, the first item is a string"
    );
    assert_eq!(span(&e), (24, 1));
}

#[test]
fn functions_check_their_arguments() {
    let e = error("len() > 3");
    assert_eq!(e.message, "`len` takes one argument, found 0");
    assert_eq!(span(&e), (0, 5));
    let e = error("days_since(account.plan) > 3");
    assert_eq!(e.message, "`days_since` takes a timestamp, found a string");
    assert_eq!(span(&e), (11, 12));
    let e = error("exists(\"x\")");
    assert_eq!(e.message, "`exists` takes a field");
    assert_eq!(span(&e), (7, 3));
    let e = error("exists(acount.plan)");
    assert_eq!(e.message, "unknown field `acount.plan`");
    let e = error("len(account.seats) > 3");
    assert_eq!(e.message, "`len` takes a string or a list, found a number");
    let e = error("lower(account.seats) == \"x\"");
    assert_eq!(e.message, "`lower` takes a string, found a number");
}

#[test]
fn an_unknown_function_gets_a_did_you_mean_hint() {
    let e = error("lowwer(person.title) == \"vp\"");
    assert_eq!(e.message, "unknown function `lowwer`");
    assert_eq!(
        hint(&e),
        "did you mean `lower`? the functions are `len`, `days_since`, `hours_since`, `exists` and `lower`"
    );
    assert_eq!(span(&e), (0, 6));
    let e = error("account.plan(1)");
    assert_eq!(e.message, "`account.plan` is a field, not a function");
}

#[test]
fn several_errors_are_reported_together_in_order() {
    let errors = errors("acount.seats > 3 and person.persona == \"admn\" and account.plan == 3");
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.offset, e.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (0, "unknown field `acount.seats`"),
            (39, "\"admn\" is not a known value of `person.persona`"),
            (50, "`account.plan` is a string, compared with a number"),
        ]
    );
}

// ------------------------------------------------------------------------------ errors: syntax

#[test]
fn an_operator_without_its_right_side_is_refused() {
    let e = error("account.seats > 3 and");
    assert_eq!(e.message, "expected an expression after `and`");
    assert_eq!(span(&e), (21, 0));
    let e = error("account.seats >");
    assert_eq!(e.message, "expected an expression after `>`");
    assert_eq!(span(&e), (15, 0));
}

#[test]
fn a_missing_expression_names_what_was_found_instead() {
    let e = error("account.seats > 3 and )");
    assert_eq!(e.message, "expected an expression after `and`, found `)`");
    assert_eq!(span(&e), (22, 1));
    let e = error("or true");
    assert_eq!(e.message, "expected an expression, found `or`");
    assert_eq!(span(&e), (0, 2));
}

#[test]
fn an_empty_condition_is_refused() {
    let e = error("");
    assert_eq!(e.message, "the condition is empty");
    assert_eq!(span(&e), (0, 0));
    let e = error("   ");
    assert_eq!(span(&e), (0, 3));
}

#[test]
fn an_unterminated_string_is_refused() {
    let e = error("account.plan == \"pro");
    assert_eq!(e.message, "unterminated string");
    assert_eq!(span(&e), (16, 4));
    let e = error("account.plan == \"pro\\\"");
    assert_eq!(e.message, "unterminated string");
}

#[test]
fn an_unexpected_character_is_refused() {
    let e = error("account.seats > 3 # big ones");
    assert_eq!(e.message, "unexpected character `#`");
    assert_eq!(span(&e), (18, 1));
    let e = error("account.seats > 3 ✓");
    assert_eq!(span(&e), (18, 3));
}

#[test]
fn operators_from_other_languages_are_named_with_their_spelling_here() {
    let cases = [
        (
            "true && false",
            (5, 2),
            "`&&` is not an operator",
            "write `and`",
        ),
        (
            "true || false",
            (5, 2),
            "`||` is not an operator",
            "write `or`",
        ),
        (
            "account.seats = 3",
            (14, 1),
            "`=` alone does not compare",
            "write `==` to compare two values",
        ),
        (
            "account.seats <> 3",
            (14, 2),
            "`<>` is not an operator",
            "write `!=` for \"not equal\"",
        ),
        (
            "!true",
            (0, 1),
            "`!` is not an operator",
            "write `not` before a condition to negate it, or `!=` for \"not equal\"",
        ),
    ];
    for (source, expected_span, message, expected_hint) in cases {
        let e = error(source);
        assert_eq!(
            (span(&e), e.message.as_str(), hint(&e)),
            (expected_span, message, expected_hint),
            "{source}"
        );
    }
}

#[test]
fn every_lexical_error_is_reported() {
    let errors = errors("a && b || c");
    let spans: Vec<_> = errors.iter().map(span).collect();
    assert_eq!(spans, [(2, 2), (7, 2)]);
}

#[test]
fn single_and_curly_quotes_get_a_hint_with_double_quotes() {
    let e = error("account.plan == 'pro'");
    assert_eq!(
        e.message,
        "strings are written between straight double quotes"
    );
    assert_eq!(hint(&e), "write `\"pro\"`");
    assert_eq!(span(&e), (16, 5));
    let e = error("account.plan == “pro”");
    assert_eq!(hint(&e), "write `\"pro\"`");
    assert_eq!(span(&e), (16, 9));
}

#[test]
fn a_malformed_duration_is_refused() {
    let e = error("event.at - account.won_at > 72x");
    assert_eq!(e.message, "`72x` is not a duration");
    assert_eq!(span(&e), (28, 3));
    let e = error("event.at - account.won_at > 1.5h");
    assert_eq!(e.message, "`1.5h` is not a duration");
    assert!(hint(&e).contains("`90m`"), "{e:?}");
    let e = error("event.at - account.won_at > 0h");
    assert_eq!(e.message, "`0h` is not a duration");
}

#[test]
fn a_number_too_large_is_refused() {
    let source = format!("account.seats > {}", "9".repeat(400));
    let e = error(&source);
    assert!(e.message.ends_with("is too large a number"), "{e:?}");
    assert_eq!(span(&e), (16, 400));
}

#[test]
fn a_path_ending_in_a_dot_is_refused() {
    let e = error("account. == 3");
    assert_eq!(e.message, "expected a field name after `.`");
    assert_eq!(span(&e), (7, 1));
}

#[test]
fn a_bad_regular_expression_is_a_check_error() {
    let e = error("person.title matches \"[vp\"");
    assert!(
        e.message
            .starts_with("\"[vp\" is not a regular expression: "),
        "{e:?}"
    );
    assert_eq!(span(&e), (21, 5));
}

#[test]
fn matches_takes_a_pattern_written_in_the_condition() {
    let e = error("person.title matches account.plan");
    assert_eq!(
        e.message,
        "`matches` takes a pattern in double quotes, found `account.plan`"
    );
    assert_eq!(span(&e), (21, 12));
}

#[test]
fn comparisons_do_not_chain() {
    let e = error("1 < account.seats < 30");
    assert_eq!(e.message, "comparisons cannot be chained");
    assert_eq!(hint(&e), "join them with `and`, e.g. `1 < x and x < 10`");
    assert_eq!(span(&e), (18, 1));
}

#[test]
fn not_goes_before_the_whole_comparison() {
    let e = error("person.title not contains \"vp\"");
    assert_eq!(e.message, "`not` cannot go before `contains`");
    assert_eq!(
        hint(&e),
        "put `not` before the whole comparison: `not (a contains b)`"
    );
    assert_eq!(span(&e), (13, 12));
}

#[test]
fn parentheses_and_brackets_must_match() {
    let e = error("(account.seats > 3");
    assert_eq!(e.message, "`(` is never closed");
    assert_eq!(span(&e), (0, 1));
    let e = error("(account.seats > 3 account.plan");
    assert_eq!(e.message, "expected `)`, found `account.plan`");
    assert_eq!(span(&e), (19, 12));
    let e = error("account.seats > 3)");
    assert_eq!(e.message, "`)` has no matching `(`");
    assert_eq!(span(&e), (17, 1));
    let e = error("account.plan in [\"a\", \"b\"");
    assert_eq!(e.message, "`[` is never closed");
    assert_eq!(span(&e), (16, 1));
    let e = error("account.plan in [\"a\" \"b\"]");
    assert_eq!(e.message, "expected `,` or `]`, found `\"b\"`");
}

#[test]
fn words_after_a_complete_condition_are_refused() {
    let e = error("account.seats > 3 account.plan == \"pro\"");
    assert_eq!(
        e.message,
        "expected `and`, `or` or the end of the condition, found `account.plan`"
    );
    assert_eq!(hint(&e), "join two conditions with `and` or `or`");
    assert_eq!(span(&e), (18, 12));
}

#[test]
fn upper_case_keywords_get_a_hint() {
    let e = error("account.seats > 3 AND true");
    assert_eq!(hint(&e), "keywords are written in lower case: `and`");
    assert_eq!(span(&e), (18, 3));
    let e = error("event.data.verified == TRUE");
    assert_eq!(hint(&e), "write `true` in lower case");
}

#[test]
fn nesting_is_limited() {
    let deep = format!("{}true{}", "(".repeat(200), ")".repeat(200));
    let e = error(&deep);
    assert!(
        e.message.starts_with("the condition is nested too deeply"),
        "{e:?}"
    );
    let long = format!("{} == 200", vec!["1"; 200].join(" + "));
    let e = error(&long);
    assert!(
        e.message.starts_with("the condition is nested too deeply"),
        "{e:?}"
    );
    let not = format!("{}true", "not ".repeat(200));
    assert!(error(&not)
        .message
        .starts_with("the condition is nested too deeply"));
    condition(&format!("{}true{}", "(".repeat(50), ")".repeat(50)));
}

#[test]
fn the_deepest_condition_allowed_parses_and_evaluates() {
    let deepest = format!("{}true", "not ".repeat(MAX_DEPTH - 1));
    assert!(!is_true(&deepest));
    let deepest = format!(
        "{}account.seats{} == 12",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    assert!(is_true(&deepest));
}

#[test]
fn errors_display_as_their_message() {
    let e = error("acount.seats > 3");
    assert_eq!(e.to_string(), "unknown field `acount.seats`");
}

// ------------------------------------------------------------------------------ never panics

/// Pieces of conditions, right and wrong, for random sentences.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "account.seats",
        "account.plan",
        "account.won_at",
        "person.persona",
        "event.at",
        "event.data.seats",
        "event.data.tags",
        "event.data.plan.tier",
        "event.data.trial_ends_at",
        "acount.plan",
        "account",
        "12",
        "0",
        "2.5",
        "\"pro\"",
        "\"admn\"",
        "\"2026-01-01T00:00:00Z\"",
        "3d",
        "72h",
        "true",
        "false",
        "null",
        "[",
        "]",
        "(",
        ")",
        ",",
        "and",
        "or",
        "not",
        "in",
        "contains",
        "matches",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "len(",
        "days_since(",
        "hours_since(",
        "exists(",
        "lower(",
        "\"[a\"",
        "\"",
        "&&",
        "'",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_text_never_makes_parsing_panic(source in "\\PC{0,80}") {
        if let Err(errors) = Condition::parse(&source, &schema()) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.offset + e.len <= source.len(), "{:?}", e);
                prop_assert!(source.is_char_boundary(e.offset), "{:?}", e);
                prop_assert!(source.is_char_boundary(e.offset + e.len), "{:?}", e);
            }
        }
    }

    #[test]
    fn random_sentences_never_make_parsing_or_evaluation_panic(
        pieces in proptest::collection::vec(piece(), 0..24)
    ) {
        let source = pieces.join(" ");
        match Condition::parse(&source, &schema()) {
            Ok(c) => {
                let first = c.eval(&acme(), NOW);
                let second = c.eval(&acme(), NOW);
                prop_assert_eq!(first, second);
                let _ = c.eval(&BTreeMap::new(), NOW);
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.offset + e.len <= source.len(), "{:?}", e);
                }
            }
        }
    }
}
