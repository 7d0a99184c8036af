//! The condition language: what parses, what it means, and where errors point.

use ccbt_alerts::condition::{CmpOp, ErrorKind, Expr, MAX_DEPTH, MAX_LEN};
use ccbt_alerts::{parse_quantity, Condition, ConditionError};
use proptest::prelude::*;

fn parse(text: &str) -> Condition {
    Condition::parse(text).unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
}

fn error(text: &str) -> ConditionError {
    match Condition::parse(text) {
        Ok(c) => panic!("`{text}` should be refused, parsed as {:?}", c.expr()),
        Err(e) => e,
    }
}

#[test]
fn every_operator_compares_value_to_the_number() {
    let cases = [
        ("value < 10", CmpOp::Lt, [true, false, false]),
        ("value <= 10", CmpOp::Le, [true, true, false]),
        ("value > 10", CmpOp::Gt, [false, false, true]),
        ("value >= 10", CmpOp::Ge, [false, true, true]),
        ("value == 10", CmpOp::Eq, [false, true, false]),
        ("value != 10", CmpOp::Ne, [true, false, true]),
    ];
    for (text, op, expect) in cases {
        let c = parse(text);
        assert_eq!(c.expr(), &Expr::Cmp(op, 10.0), "{text}");
        assert_eq!([c.matches(9.0), c.matches(10.0), c.matches(11.0)], expect, "{text}");
        assert_eq!(c.as_str(), text);
        assert_eq!(c.to_string(), text);
    }
}

#[test]
fn spacing_is_free() {
    assert_eq!(parse("value<10").expr(), parse("  value   <\t10  ").expr());
    assert_eq!(parse("(value>1)and(value<5)").expr(), parse("( value > 1 ) and ( value < 5 )").expr());
}

#[test]
fn units_multiply_and_may_be_spaced_or_glued() {
    let cases = [
        ("value < 10KiB", 10240.0),
        ("value < 10 KiB", 10240.0),
        ("value < 1.5 MiB", 1.5 * 1_048_576.0),
        ("value < 2GiB", 2.0 * 1_073_741_824.0),
        ("value < 1 TiB", 1_099_511_627_776.0),
        ("value < 10kB", 10_000.0),
        ("value < 10 KB", 10_000.0),
        ("value < 3MB", 3e6),
        ("value < 3 GB", 3e9),
        ("value < 1TB", 1e12),
        ("value < 7 B", 7.0),
        ("value < 10 KiB/s", 10240.0),
        ("value < 10MB/s", 1e7),
        ("value > -5", -5.0),
        ("value > 0.25", 0.25),
    ];
    for (text, number) in cases {
        assert_eq!(
            parse(text).expr(),
            &Expr::Cmp(if text.contains('>') { CmpOp::Gt } else { CmpOp::Lt }, number)
        );
    }
}

#[test]
fn precedence_is_not_then_and_then_or() {
    // a or b and c == a or (b and c)
    let c = parse("value < 1 or value > 5 and value < 10");
    assert_eq!(
        c.expr(),
        &Expr::Or(vec![
            Expr::Cmp(CmpOp::Lt, 1.0),
            Expr::And(vec![Expr::Cmp(CmpOp::Gt, 5.0), Expr::Cmp(CmpOp::Lt, 10.0)]),
        ])
    );
    assert!(c.matches(0.0) && c.matches(7.0) && !c.matches(3.0) && !c.matches(12.0));
    // not binds to the comparison, not to the whole `and`.
    let c = parse("not value < 1 and value < 10");
    assert!(c.matches(5.0) && !c.matches(0.5) && !c.matches(20.0));
    let c = parse("not (value < 1 and value < 10)");
    assert!(c.matches(5.0) && !c.matches(0.5) && c.matches(20.0));
    assert!(parse("not not value == 3").matches(3.0));
}

#[test]
fn chains_are_flat_lists() {
    let c = parse("value > 1 and value > 2 and value > 3");
    assert!(matches!(c.expr(), Expr::And(terms) if terms.len() == 3));
    let c = parse("value == 1 or value == 2 or value == 3 or value == 4");
    assert!(matches!(c.expr(), Expr::Or(terms) if terms.len() == 4));
    assert!(c.matches(4.0) && !c.matches(5.0));
}

#[test]
fn nan_matches_only_not_equal() {
    assert!(!parse("value < 1").matches(f64::NAN));
    assert!(!parse("value >= 1").matches(f64::NAN));
    assert!(parse("value != 1").matches(f64::NAN));
}

#[test]
fn errors_point_at_the_byte_and_say_why() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "the condition is empty"),
        ("   ", 0, "the condition is empty"),
        (
            "value",
            5,
            "expected a comparison (`<`, `<=`, `>`, `>=`, `==` or `!=`), found the end of the condition",
        ),
        ("value <", 7, "expected a number, found the end of the condition"),
        ("value < value", 8, "expected a number, found `value`"),
        ("value <> 3", 7, "expected a number, found `>`"),
        ("value = 3", 6, "`=` is not an operator"),
        ("value ! 3", 6, "`!` is not an operator"),
        ("value < 3 value", 10, "expected `and`, `or` or the end of the condition, found `value`"),
        ("value < 3 and", 13, "expected `value`, `not` or `(`, found the end of the condition"),
        ("value < 3 and or value > 1", 14, "expected `value`, `not` or `(`, found `or`"),
        ("(value < 3", 0, "this `(` is never closed"),
        ("value < 3)", 9, "expected `and`, `or` or the end of the condition, found `)`"),
        ("(value < 3 value", 11, "expected `)`, `and` or `or`, found `value`"),
        ("10 > value", 0, "a comparison is written `value OP number`"),
        ("x < 3", 0, "unknown word `x`"),
        ("value < 3 AND value > 1", 10, "unknown word `AND`"),
        ("value < 10 kib", 11, "unknown unit `kib`; known units: B, kB, KB"),
        ("value < 10 apples", 11, "unknown word `apples`"),
        ("value < 10kib", 10, "unknown unit `kib`; known units: B, kB, KB"),
        ("value < 1e6", 9, "unknown unit `e6`"),
        ("value < 5%", 9, "`%` is not supported"),
        ("value < KiB", 8, "a unit must follow a number"),
        ("value < 1.", 8, "`1.` is not a valid number"),
        ("value < .5", 8, "`.5` is not a valid number"),
        ("value < -", 8, "`-` is not a valid number"),
        ("value < 3 # x", 10, "unexpected character `#`"),
        ("value < 3 && value > 1", 10, "unexpected character `&`"),
        ("value < 3 é", 10, "unexpected character `é`"),
        ("value; rm -rf /", 5, "unexpected character `;`"),
        ("value == __import__", 9, "unknown word `__import__`"),
    ];
    for (text, at, message) in cases {
        let e = error(text);
        assert_eq!(e.at, *at, "`{text}`: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("at byte {at}: ")), "`{text}`: {shown}");
        assert!(shown.contains(message), "`{text}`: {shown} (wanted: {message})");
    }
}

#[test]
fn a_number_too_large_for_its_unit_is_refused() {
    let digits = "9".repeat(308);
    let e = error(&format!("value < {digits} TiB"));
    assert!(matches!(e.kind, ErrorKind::BadNumber(_)), "{e}");
    assert_eq!(e.at, 8);
}

#[test]
fn length_and_depth_are_bounded() {
    let long = format!("value < 1{}", " ".repeat(MAX_LEN));
    let e = error(&long);
    assert!(matches!(e.kind, ErrorKind::TooLong { max: MAX_LEN, .. }), "{e}");

    let nested = |depth: usize| format!("{}value < 1{}", "(".repeat(depth), ")".repeat(depth));
    assert!(parse(&nested(MAX_DEPTH)).matches(0.0));
    let e = error(&nested(MAX_DEPTH + 1));
    assert_eq!(e.kind, ErrorKind::TooDeep { max: MAX_DEPTH });
    assert_eq!(e.at, MAX_DEPTH, "points at the first `(` too deep");

    let nots = |depth: usize| format!("{}value < 1", "not ".repeat(depth));
    assert!(parse(&nots(MAX_DEPTH)).matches(0.0), "an even number of `not`s");
    assert_eq!(error(&nots(MAX_DEPTH + 1)).kind, ErrorKind::TooDeep { max: MAX_DEPTH });
    // Hostile nesting far beyond the limit is refused by length, cheaply.
    assert!(matches!(error(&"(".repeat(100_000)).kind, ErrorKind::TooLong { .. }));
}

#[test]
fn quantities_for_alerts_test() {
    assert_eq!(parse_quantity("10240"), Ok(10240.0));
    assert_eq!(parse_quantity(" 10 KiB "), Ok(10240.0));
    assert_eq!(parse_quantity("1.5MiB/s"), Ok(1.5 * 1_048_576.0));
    assert_eq!(parse_quantity("-3"), Ok(-3.0));
    assert_eq!(parse_quantity("").unwrap_err().kind, ErrorKind::Empty);
    let e = parse_quantity("10 and 3").unwrap_err();
    assert_eq!(e.at, 3);
    assert!(e.to_string().contains("expected a number with an optional unit, found `and 3`"), "{e}");
    let e = parse_quantity("value").unwrap_err();
    assert_eq!(e.at, 0);
    assert!(matches!(parse_quantity("ten").unwrap_err().kind, ErrorKind::UnknownWord(_)));
    assert!(matches!(parse_quantity("5%").unwrap_err().kind, ErrorKind::Percent));
}

proptest! {
    /// Any input up to a few hundred bytes parses or is refused with an offset inside it; never a
    /// panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        if let Err(e) = Condition::parse(&text) {
            prop_assert!(e.at <= text.len());
        }
        let _ = parse_quantity(&text);
    }

    /// Text made of the language's own pieces, in any order.
    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(
        prop_oneof![
            Just("value"), Just("and"), Just("or"), Just("not"), Just("("), Just(")"),
            Just("<"), Just("<="), Just("=="), Just("!="), Just(">"), Just("10"), Just("KiB"),
            Just("-"), Just("."), Just("1.5"), Just(" "), Just("/s"),
        ],
        0..80,
    )) {
        let text = parts.concat();
        if let Err(e) = Condition::parse(&text) {
            prop_assert!(e.at <= text.len());
        }
    }

    /// A simple comparison means what it says for any number.
    #[test]
    fn comparison_matches_rust(n in -1e9f64..1e9, v in -1e9f64..1e9) {
        let text = format!("value <= {n:.3}");
        let bound: f64 = format!("{n:.3}").parse().unwrap();
        prop_assert_eq!(parse(&text).matches(v), v <= bound);
        let text = format!("not (value > {n:.3}) or value == {n:.3}");
        prop_assert_eq!(parse(&text).matches(v), v <= bound);
    }
}
