//! Every key refuses a wrong type and an out-of-range value, naming the key, the allowed values
//! and where the value came from; unknown keys get a suggestion.

mod support;

use ccbt_config::{Bounds, Config, ConfigError, Env, Origin, FIELDS};
use support::{load_err, load_ok, FILE};

/// A TOML literal of another type than the key's (integers are refused by every non-integer key).
fn wrong_type_literal(field: &ccbt_config::Field) -> &'static str {
    let default = field.toml_value(&Config::defaults(&Env::new()));
    if default.is_integer() {
        "true"
    } else {
        "7"
    }
}

/// TOML literals of the right type that are outside the key's allowed values.
fn out_of_range_literals(field: &ccbt_config::Field) -> Vec<String> {
    let default = field.toml_value(&Config::defaults(&Env::new()));
    match field.bounds {
        Bounds::Int { min, max } => {
            let mut values = vec![(max + 1).to_string()];
            if min > 0 {
                values.push((min - 1).to_string());
            }
            values
        }
        Bounds::HostPorts => vec!["[]".into(), "[\"no-port\"]".into()],
        // An optional file's "" means none: it is in range.
        Bounds::Any
            if default.is_str()
                && !field.allowed().contains("\"\": none")
                && field.name != "alerts_rules_path" =>
        {
            vec!["\"\"".into()]
        }
        Bounds::Any => Vec::new(),
    }
}

fn in_file(field: &ccbt_config::Field, literal: &str) -> String {
    format!("# comment\n[{}]\n{} = {literal}\n", field.section, field.name)
}

fn file_line_3() -> Origin {
    Origin::File { path: FILE.into(), line: Some(3) }
}

#[test]
fn every_key_refuses_a_wrong_type_in_the_file() {
    for field in FIELDS {
        let errors = load_err(Some(&in_file(field, wrong_type_literal(field))), &[], &[]);
        match &errors.0[..] {
            [ConfigError::WrongType { key, origin, allowed, .. }] => {
                assert_eq!(key, &field.qualified_name());
                assert_eq!(origin, &file_line_3());
                assert_eq!(allowed, &field.allowed());
            }
            other => panic!("{}: {other:?}", field.name),
        }
    }
}

#[test]
fn every_bounded_key_refuses_out_of_range_values_in_the_file() {
    let mut checked = 0;
    for field in FIELDS {
        for literal in out_of_range_literals(field) {
            let errors = load_err(Some(&in_file(field, &literal)), &[], &[]);
            match &errors.0[..] {
                [ConfigError::OutOfRange { key, origin, allowed, .. }] => {
                    assert_eq!(key, &field.qualified_name());
                    assert_eq!(origin, &file_line_3());
                    assert_eq!(allowed, &field.allowed());
                }
                // IP addresses are strings of a form: a malformed one is the wrong kind of string.
                [ConfigError::WrongType { key, .. }]
                    if matches!(field.name, "listen_host" | "api_host" | "metrics_host") =>
                {
                    assert_eq!(key, &field.qualified_name())
                }
                other => panic!("{} = {literal}: {other:?}", field.name),
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} out-of-range cases");
}

#[test]
fn every_integer_key_accepts_both_ends_of_its_range() {
    for field in FIELDS {
        if let Bounds::Int { min, max } = field.bounds {
            for value in [min, max] {
                // The pipeline bounds are tied (max_pipeline_depth >= pipeline_depth): give the
                // other one room so each end of the range is tested alone.
                let room = match field.name {
                    "pipeline_depth" => ("max_pipeline_depth", "4096"),
                    "max_pipeline_depth" => ("pipeline_depth", "1"),
                    _ => ("log_level", "warn"),
                };
                let effective = load_ok(None, &[], &[room, (field.name, &value.to_string())]);
                assert_eq!(effective.get(field.name), Some(value.to_string()), "{}", field.name);
            }
        }
    }
}

#[test]
fn every_key_refuses_a_wrong_type_from_env_and_cli() {
    for field in FIELDS.iter().filter(|f| matches!(f.bounds, Bounds::Int { .. })) {
        let var = field.env_var();
        let errors = load_err(None, &[(&var, "lots")], &[]);
        match &errors.0[..] {
            [ConfigError::WrongType { key, origin: Origin::Env { var: named }, found, .. }] => {
                assert_eq!((key, named, found.as_str()), (&field.qualified_name(), &var, "`lots`"));
            }
            other => panic!("{var}: {other:?}"),
        }
        let errors = load_err(None, &[], &[(field.name, "lots")]);
        assert!(
            matches!(&errors.0[..], [ConfigError::WrongType { origin: Origin::Cli, .. }]),
            "{}",
            field.name
        );
    }
}

#[test]
fn messages_name_key_allowed_values_and_origin() {
    let errors = load_err(Some("[network]\n\nlisten_port = 70000\n"), &[], &[]);
    assert_eq!(
        errors.to_string(),
        "`network.listen_port` (/etc/test/ccbt.toml:3): 70000 is out of range; allowed: integer from 0 to 65535"
    );
    let errors = load_err(None, &[("CCBT_PIECE_SELECTION", "random")], &[]);
    assert_eq!(
        errors.to_string(),
        "`strategy.piece_selection` (environment variable CCBT_PIECE_SELECTION): \"random\" is out of range; \
         allowed: one of \"rarest_first\", \"sequential\", \"round_robin\""
    );
    let errors = load_err(Some("[disk]\nuse_mmap = \"yes\"\n"), &[], &[]);
    assert_eq!(
        errors.to_string(),
        "`disk.use_mmap` (/etc/test/ccbt.toml:2): expected boolean, found string \"yes\""
    );
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let text =
        "[network]\nlisten_prot = 1\n[disk]\nlisten_port = 2\n[netwrok]\nx = 1\nlog_level = \"info\"\n";
    let errors = load_err(Some(text), &[], &[]);
    let messages: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "unknown key `network.listen_prot` (/etc/test/ccbt.toml:2); did you mean `network.listen_port`?",
            "unknown key `disk.listen_port` (/etc/test/ccbt.toml:4); did you mean `network.listen_port`?",
            "unknown key `[netwrok]` (/etc/test/ccbt.toml:5); did you mean `network`?",
        ]
    );
    // `log_level` sits inside [netwrok] here (TOML tables run to the next header); at the top it
    // would be a key outside any section:
    let errors = load_err(Some("log_level = \"info\"\n"), &[], &[]);
    assert_eq!(
        errors.to_string(),
        "unknown key `log_level` (/etc/test/ccbt.toml:1); did you mean `observability.log_level`?"
    );
    let errors = load_err(None, &[], &[("max_peers_per_torrnt", "3")]);
    assert_eq!(
        errors.to_string(),
        "unknown key `max_peers_per_torrnt` (command line); did you mean `network.max_peers_per_torrent`?"
    );
    let errors = load_err(None, &[], &[("completely_unrelated", "3")]);
    assert_eq!(errors.to_string(), "unknown key `completely_unrelated` (command line)");
}

#[test]
fn a_table_where_a_value_belongs_is_a_wrong_type() {
    let errors = load_err(Some("[network.listen_port]\nx = 1\n"), &[], &[]);
    assert!(
        matches!(&errors.0[..], [ConfigError::WrongType { key, found, .. }] if key == "network.listen_port" && found == "a table"),
        "{errors:?}"
    );
}

#[test]
fn a_section_written_as_a_value_is_named() {
    let errors = load_err(Some("# limits\nlimits = 5\n"), &[], &[]);
    assert_eq!(
        errors.to_string(),
        "`limits` (/etc/test/ccbt.toml:2) must be a table of settings: `[limits]`"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let errors = load_err(Some("[network]\nlisten_port = = 3\n"), &[], &[]);
    match &errors.0[..] {
        [ConfigError::Syntax { origin: Origin::File { line, .. }, .. }] => assert_eq!(*line, Some(2)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn max_pipeline_depth_must_not_be_below_pipeline_depth() {
    let errors = load_err(Some("[network]\npipeline_depth = 64\n"), &[], &[("max_pipeline_depth", "32")]);
    assert_eq!(
        errors.to_string(),
        "`network.max_pipeline_depth` (command line) is 32, below `network.pipeline_depth` \
         (64, /etc/test/ccbt.toml:2); it must be at least that"
    );
    load_ok(Some("[network]\npipeline_depth = 64\nmax_pipeline_depth = 64\n"), &[], &[]);
}

#[test]
fn every_problem_of_a_file_is_listed() {
    let text = "[network]\nlisten_port = 70000\nmax_global_peers = \"many\"\n[disk]\nuse_mmapp = true\n";
    assert_eq!(load_err(Some(text), &[], &[]).0.len(), 3);
}
