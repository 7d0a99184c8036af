//! The rules file: parsing, every mistake reported with its line, and edits that keep comments.

use ccbt_alerts::{
    add_rule, parse_rules, remove_rule, Metrics, NewRule, RuleProblem, RulesErrors, Severity, TestError,
    DEFAULT_COOLDOWN_SECS, MAX_RULES, MAX_SECS,
};
use ccbt_core::InfoHash;

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

fn metrics() -> Metrics {
    Metrics::new([
        ("ccbt_download_rate_bytes_per_second", true),
        ("ccbt_upload_rate_bytes_per_second", true),
        ("ccbt_connected_peers", true),
        ("ccbt_pieces_completed", true),
        ("ccbt_disk_queue_depth", false),
        ("ccbt_hash_queue_depth", false),
    ])
}

fn errors(text: &str) -> RulesErrors {
    match parse_rules(text, &metrics()) {
        Ok(set) => panic!("should be refused, parsed {} rules", set.len()),
        Err(e) => e,
    }
}

/// The one error of `text`, as `(line, message)`.
fn one_error(text: &str) -> (Option<usize>, String) {
    let e = errors(text);
    assert_eq!(e.0.len(), 1, "{e}");
    (e.0[0].line, e.0[0].problem.to_string())
}

const FULL: &str = r#"# Alerts of my seedbox.
[[rule]]
name = "slow-download"
metric = "ccbt_download_rate_bytes_per_second"
condition = "value < 10 KiB"   # per torrent
severity = "critical"
cooldown_secs = 60
for_secs = 30
torrent = "0123456789ABCDEF0123456789abcdef01234567"
enabled = false

[[rule]]
name = "disk.backlog_1"
metric = "ccbt_disk_queue_depth"
condition = "value > 100"
"#;

#[test]
fn a_full_file_parses_with_defaults_for_missing_keys() {
    let set = parse_rules(FULL, &metrics()).unwrap();
    assert_eq!(set.len(), 2);
    let slow = set.get("slow-download").unwrap();
    assert_eq!(slow.metric, "ccbt_download_rate_bytes_per_second");
    assert_eq!(slow.condition.as_str(), "value < 10 KiB");
    assert_eq!(slow.severity, Severity::Critical);
    assert_eq!((slow.cooldown_secs, slow.for_secs), (60, 30));
    assert_eq!(slow.torrent, Some(HASH.parse::<InfoHash>().unwrap()), "upper-case hex accepted");
    assert!(!slow.enabled);
    assert!(slow.test(10239.0) && !slow.test(10240.0));

    let disk = set.get("disk.backlog_1").unwrap();
    assert_eq!(disk.severity, Severity::Warning);
    assert_eq!(
        (disk.cooldown_secs, disk.for_secs, disk.torrent, disk.enabled),
        (DEFAULT_COOLDOWN_SECS, 0, None, true)
    );
    let names: Vec<&str> = set.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["slow-download", "disk.backlog_1"], "file order");
}

#[test]
fn an_empty_file_is_an_empty_set() {
    assert!(parse_rules("", &metrics()).unwrap().is_empty());
    assert!(parse_rules("# nothing yet\n\n", &metrics()).unwrap().is_empty());
}

#[test]
fn each_mistake_names_its_line_and_reason() {
    let rule =
        |body: &str| format!("# header\n[[rule]]\nname = \"r\"\nmetric = \"ccbt_connected_peers\"\n{body}");
    let cases: &[(&str, usize, &str)] = &[
        ("condition = \"value <> 3\"\n", 5, "condition `value <> 3` at byte 7: expected a number, found `>`"),
        (
            "condition = \"value < 1\"\nseverity = \"high\"\n",
            6,
            "unknown severity `high`; use info, warning or critical",
        ),
        (
            "condition = \"value < 1\"\ncooldown_secs = -1\n",
            6,
            "`cooldown_secs` = -1 is out of range; allowed: 0 to 2592000",
        ),
        ("condition = \"value < 1\"\nfor_secs = 99999999\n", 6, "`for_secs` = 99999999 is out of range"),
        ("condition = \"value < 1\"\nfor_secs = \"60\"\n", 6, "`for_secs` must be a whole number of seconds"),
        ("condition = \"value < 1\"\nenabled = \"yes\"\n", 6, "`enabled` must be true or false"),
        ("condition = 3\n", 5, "`condition` must be a string"),
        (
            "condition = \"value < 1\"\ntorrent = \"abc\"\n",
            6,
            "torrent `abc` is not an info hash (40 hex characters)",
        ),
        (
            "condition = \"value < 1\"\ncoldown_secs = 5\n",
            6,
            "unknown key `coldown_secs` in a rule; did you mean `cooldown_secs`?",
        ),
        ("condition = \"value < 1\"\n[rule.sub]\nx = 1\n", 6, "unknown key `sub` in a rule"),
        ("", 2, "the rule has no `condition`"),
    ];
    for (body, line, message) in cases {
        let (at, shown) = one_error(&rule(body));
        assert_eq!(at, Some(*line), "{body}: {shown}");
        assert!(shown.contains(message), "{body}: {shown} (wanted: {message})");
    }
}

#[test]
fn metric_and_name_mistakes_point_at_their_keys() {
    let text = "[[rule]]\nname = \"a b\"\nmetric = \"ccbt_conected_peers\"\ncondition = \"value < 1\"\n";
    let e = errors(text);
    let shown: Vec<String> = e.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "line 2: invalid rule name `a b`: use only letters, digits, `_`, `-` and `.`",
            "line 3: unknown metric `ccbt_conected_peers`; did you mean `ccbt_connected_peers`?",
        ]
    );
    let text = format!("[[rule]]\nname = \"d\"\nmetric = \"ccbt_disk_queue_depth\"\ncondition = \"value > 1\"\ntorrent = \"{HASH}\"\n");
    assert_eq!(
        one_error(&text),
        (
            Some(3),
            "metric `ccbt_disk_queue_depth` is session-wide; `torrent` applies only to per-torrent metrics"
                .into()
        )
    );
    for (name, reason) in [("", "it is empty"), ("-x", "must start with a letter or a digit")] {
        let text = format!(
            "[[rule]]\nname = \"{name}\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value > 1\"\n"
        );
        let (line, shown) = one_error(&text);
        assert_eq!(line, Some(2));
        assert!(shown.contains(reason), "{shown}");
    }
    let long = "n".repeat(65);
    let text = format!(
        "[[rule]]\nname = \"{long}\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value > 1\"\n"
    );
    assert!(one_error(&text).1.contains("longer than 64 bytes"));
}

#[test]
fn duplicates_name_both_lines() {
    let r = "[[rule]]\nname = \"same\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value < 1\"\n";
    let (line, shown) = one_error(&format!("{r}\n{r}"));
    assert_eq!(line, Some(7));
    assert_eq!(shown, "rule `same` is defined twice (first on line 2)");
}

#[test]
fn every_problem_of_a_file_is_reported_in_line_order() {
    let text =
        "[[rule]]\nname = \"a\"\nmetric = \"nope\"\ncondition = \"value <\"\n\n[[rule]]\nname = \"b\"\n";
    let e = errors(text);
    let lines: Vec<Option<usize>> = e.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(3), Some(4), Some(6), Some(6)], "{e}");
    assert!(e.to_string().contains("line 6: the rule has no `metric`"), "{e}");
}

#[test]
fn file_shape_errors() {
    assert_eq!(
        one_error("x = 1\n"),
        (Some(1), "unexpected top-level key `x`; a rules file holds only `[[rule]]` tables".into())
    );
    assert_eq!(one_error("[rule]\nname = \"a\"\n").0, Some(1));
    assert!(one_error("[rule]\nname = \"a\"\n").1.contains("write each rule under a `[[rule]]` header"));
    assert!(one_error("rule = [{ name = \"a\" }]\n").1.contains("`rule` must be an array of tables"));
    let (line, shown) = one_error("[[rule]]\nname = \"a\nmetric = 3\n");
    assert_eq!(line, Some(2));
    assert!(shown.starts_with("invalid TOML: "), "{shown}");
}

#[test]
fn too_many_rules_are_refused() {
    let mut text = String::new();
    for i in 0..=MAX_RULES {
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value < 1\"\n"
        ));
    }
    let (line, shown) = one_error(&text);
    assert_eq!(line, Some(MAX_RULES * 4 + 2));
    assert_eq!(shown, format!("more than {MAX_RULES} rules"));
}

fn new_rule(name: &str) -> NewRule {
    NewRule {
        name: name.into(),
        metric: "ccbt_download_rate_bytes_per_second".into(),
        condition: "value < 1 MiB".into(),
        ..NewRule::default()
    }
}

#[test]
fn add_keeps_comments_and_the_result_loads() {
    let rule = NewRule { severity: Some("info".into()), for_secs: Some(10), ..new_rule("new") }
        .validate(&metrics())
        .unwrap();
    let text = add_rule(FULL, &rule, &metrics()).unwrap();
    assert!(text.starts_with(FULL), "the old text is kept byte for byte:\n{text}");
    assert_eq!(
        &text[FULL.len()..],
        "\n[[rule]]\nname = \"new\"\nmetric = \"ccbt_download_rate_bytes_per_second\"\n\
         condition = \"value < 1 MiB\"\nseverity = \"info\"\nfor_secs = 10\n"
    );
    let set = parse_rules(&text, &metrics()).unwrap();
    assert_eq!(set.get("new"), Some(&rule));

    // Into an empty (or missing) file, with every optional key.
    let full = NewRule {
        severity: Some("critical".into()),
        cooldown_secs: Some(5),
        torrent: Some(HASH.to_uppercase()),
        ..new_rule("first")
    }
    .validate(&metrics())
    .unwrap();
    let text = add_rule("", &full, &metrics()).unwrap();
    assert!(text.starts_with("[[rule]]\n"), "{text}");
    assert!(text.contains(&format!("torrent = \"{HASH}\"")), "{text}");
    assert_eq!(parse_rules(&text, &metrics()).unwrap().get("first"), Some(&full));
}

#[test]
fn add_refuses_duplicates_and_broken_files() {
    let rule = new_rule("slow-download").validate(&metrics()).unwrap();
    let e = add_rule(FULL, &rule, &metrics()).unwrap_err();
    assert_eq!(e.to_string(), "a rule named `slow-download` already exists");
    let broken = "[[rule]]\nname = \"x\"\nmetric = \"gone\"\ncondition = \"value < 1\"\n";
    let e = add_rule(broken, &new_rule("ok").validate(&metrics()).unwrap(), &metrics()).unwrap_err();
    assert_eq!(e.0[0].line, Some(3), "{e}");
}

#[test]
fn new_rules_are_checked_like_the_file() {
    let m = metrics();
    let problem = |r: NewRule| r.validate(&m).unwrap_err();
    assert!(matches!(problem(new_rule("bad name")), RuleProblem::BadName { .. }));
    assert!(matches!(
        problem(NewRule { metric: "x".into(), ..new_rule("a") }),
        RuleProblem::UnknownMetric { .. }
    ));
    let e = problem(NewRule { condition: "value <".into(), ..new_rule("a") });
    assert_eq!(
        e.to_string(),
        "condition `value <` at byte 7: expected a number, found the end of the condition"
    );
    assert!(matches!(
        problem(NewRule { severity: Some("loud".into()), ..new_rule("a") }),
        RuleProblem::BadSeverity(_)
    ));
    let e = problem(NewRule { cooldown_secs: Some(MAX_SECS + 1), ..new_rule("a") });
    assert!(matches!(e, RuleProblem::OutOfRange { key: "cooldown_secs", .. }), "{e}");
    assert!(matches!(
        problem(NewRule { torrent: Some("zz".into()), ..new_rule("a") }),
        RuleProblem::BadTorrent(_)
    ));
    let rule = new_rule("a").validate(&m).unwrap();
    assert_eq!(
        (rule.severity, rule.cooldown_secs, rule.for_secs, rule.enabled),
        (Severity::Warning, 300, 0, true)
    );
}

#[test]
fn remove_keeps_the_rest_and_works_on_a_broken_file() {
    let text = remove_rule(FULL, "disk.backlog_1").unwrap();
    let set = parse_rules(&text, &metrics()).unwrap();
    assert_eq!(set.len(), 1);
    assert!(text.starts_with("# Alerts of my seedbox.\n[[rule]]\nname = \"slow-download\""), "{text}");
    assert!(text.contains("# per torrent"), "{text}");

    let text = remove_rule(&text, "slow-download").unwrap();
    assert!(parse_rules(&text, &metrics()).unwrap().is_empty(), "{text}");

    let broken = "[[rule]]\nname = \"x\"\nmetric = \"gone\"\ncondition = \"value <\"\n\n[[rule]]\nname = \"y\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value < 1\"\n";
    let repaired = remove_rule(broken, "x").unwrap();
    assert_eq!(parse_rules(&repaired, &metrics()).unwrap().len(), 1);

    let e = remove_rule(FULL, "slow-downlod").unwrap_err();
    assert_eq!(e.to_string(), "no rule named `slow-downlod`; did you mean `slow-download`?");
    assert_eq!(remove_rule("", "a").unwrap_err().to_string(), "no rule named `a`");
    assert_eq!(remove_rule("[[rule]\n", "a").unwrap_err().0[0].line, Some(1));
}

#[test]
fn test_evaluates_one_rule_on_a_value() {
    let set = parse_rules(FULL, &metrics()).unwrap();
    let outcome = set.test("slow-download", "9 KiB").unwrap();
    assert_eq!((outcome.value, outcome.holds), (9216.0, true));
    assert!(!set.test("slow-download", "10240").unwrap().holds);
    assert!(set.test("disk.backlog_1", "101").unwrap().holds);
    match set.test("slow", "1") {
        Err(TestError::Rule(RuleProblem::UnknownRule { name, .. })) => assert_eq!(name, "slow"),
        other => panic!("{other:?}"),
    }
    let e = set.test("disk.backlog_1", "lots").unwrap_err();
    assert_eq!(e.to_string(), "value `lots` at byte 0: unknown word `lots`; a condition uses only `value`, `and`, `or`, `not`, numbers and units");
}

#[test]
fn hostile_files_are_refused_without_a_crash() {
    let deep_array = format!("x = {}", "[".repeat(100_000));
    assert!(errors(&deep_array).0[0].problem.to_string().starts_with("invalid TOML"));
    let deep_table = format!("x = {}", "{ a = ".repeat(100_000));
    assert!(errors(&deep_table).0[0].problem.to_string().starts_with("invalid TOML"));
    let long_condition = format!(
        "[[rule]]\nname = \"a\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"{}value < 1\"\n",
        "(".repeat(10_000)
    );
    let (line, shown) = one_error(&long_condition);
    assert_eq!(line, Some(4));
    assert!(shown.ends_with("bytes long; at most 512 are allowed"), "{shown}");
    assert!(shown.len() < 300, "the condition is not repeated whole: {shown}");
}

#[test]
fn rules_serialise_with_the_file_keys() {
    let set = parse_rules(FULL, &metrics()).unwrap();
    let json = serde_json::to_value(set.get("slow-download").unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "name": "slow-download",
            "metric": "ccbt_download_rate_bytes_per_second",
            "condition": "value < 10 KiB",
            "severity": "critical",
            "cooldown_secs": 60,
            "for_secs": 30,
            "torrent": HASH,
            "enabled": false,
        })
    );
    assert!(serde_json::to_value(set.get("disk.backlog_1").unwrap()).unwrap().get("torrent").is_none());
}

#[test]
fn comments_stay_with_what_they_describe() {
    let r = |name: &str| {
        format!("[[rule]]\nname = \"{name}\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value < 1\"\n")
    };
    let text = format!(
        "# File header.\n\n# About a.\n{}\n# About b.\n{}\n{}\n# Closing note.\n",
        r("a"),
        r("b"),
        r("c")
    );

    // The header is separated by a blank line: it stays; "About a" goes with a.
    let without_a = remove_rule(&text, "a").unwrap();
    assert_eq!(without_a, format!("# File header.\n\n# About b.\n{}\n{}\n# Closing note.\n", r("b"), r("c")));
    // A middle rule: one blank line remains between its neighbours.
    let without_b = remove_rule(&text, "b").unwrap();
    assert_eq!(without_b, format!("# File header.\n\n# About a.\n{}\n{}\n# Closing note.\n", r("a"), r("c")));
    // The last rule: the closing note stays.
    let without_c = remove_rule(&text, "c").unwrap();
    assert_eq!(
        without_c,
        format!("# File header.\n\n# About a.\n{}\n# About b.\n{}\n# Closing note.\n", r("a"), r("b"))
    );
    // Everything removed: the file header and the closing note remain.
    let empty = ["a", "b", "c"].iter().fold(text.clone(), |t, n| remove_rule(&t, n).unwrap());
    assert_eq!(empty, "# File header.\n\n# Closing note.\n");

    // Adding after a closing note keeps the note where it was, before the new rule.
    let m = Metrics::new([("ccbt_connected_peers", true)]);
    let d = NewRule {
        name: "d".into(),
        metric: "ccbt_connected_peers".into(),
        condition: "value < 1".into(),
        ..NewRule::default()
    }
    .validate(&m)
    .unwrap();
    let added = add_rule(&text, &d, &m).unwrap();
    assert!(added.starts_with(&text), "{added}");
    assert!(added[text.len()..].starts_with("\n[[rule]]\nname = \"d\""), "{added}");
    // A file without a final newline still gets a blank line before the new rule.
    let added = add_rule(r("a").trim_end(), &d, &m).unwrap();
    assert!(added.starts_with(&format!("{}\n[[rule]]\nname = \"d\"", r("a"))), "{added}");
}
