use super::*;

fn port(oper_st: &str, speed: &str) -> Attrs {
    Attrs::from_pairs([
        ("dn", "sys/intf/phys-[eth1/3]/phys"),
        ("operSt", oper_st),
        ("operSpeed", speed),
        ("mtu", "9216"),
    ])
}

#[test]
fn parses_nested_expressions() {
    let filter =
        Filter::parse(r#"and(eq(ethpmPhysIf.operSt,"down"), or(ne(ethpmPhysIf.operSpeed,"10G"),not(wcard(ethpmPhysIf.dn,"eth1/3"))))"#)
            .unwrap();
    let Filter::And(terms) = &filter else {
        panic!("{filter:?}")
    };
    assert_eq!(terms.len(), 2);
    assert_eq!(
        terms[0],
        Filter::Compare {
            op: CompareOp::Eq,
            class: "ethpmPhysIf".into(),
            attribute: "operSt".into(),
            value: "down".into()
        }
    );
    assert!(matches!(&terms[1], Filter::Or(inner) if inner.len() == 2));
}

#[test]
fn and_or_are_n_ary() {
    let filter = Filter::parse(r#"or(eq(a.x,"1"),eq(a.x,"2"),eq(a.x,"3"))"#).unwrap();
    assert!(matches!(&filter, Filter::Or(terms) if terms.len() == 3));
    assert!(filter.matches("a", &Attrs::from_pairs([("x", "3")])));
    assert!(!filter.matches("a", &Attrs::from_pairs([("x", "4")])));
}

#[test]
fn evaluates_comparisons() {
    let down = port("down", "10G");
    let check = |text: &str| Filter::parse(text).unwrap().matches("ethpmPhysIf", &down);
    assert!(check(r#"eq(ethpmPhysIf.operSt,"down")"#));
    assert!(!check(r#"ne(ethpmPhysIf.operSt,"down")"#));
    assert!(
        check(r#"gt(ethpmPhysIf.mtu,"1500")"#),
        "numeric, not lexical"
    );
    assert!(check(r#"lt(ethpmPhysIf.mtu,"10000")"#));
    assert!(check(r#"ge(ethpmPhysIf.mtu,"9216")"#));
    assert!(check(r#"le(ethpmPhysIf.mtu,"9216")"#));
    assert!(
        check(r#"eq(ethpmPhysIf.missing,"")"#),
        "missing attributes are empty"
    );
    assert!(
        check("eq(ethpmPhysIf.operSt, down )"),
        "bare values are trimmed"
    );
    assert!(
        !check(r#"eq(l1PhysIf.operSt,"down")"#),
        "another class never matches"
    );
    assert!(check(r#"not(eq(l1PhysIf.operSt,"down"))"#));
}

#[test]
fn wcard_is_a_regex_ish_substring_match() {
    assert!(wildcard_match("sys/intf/phys-[eth1/3]", "eth1/3"));
    assert!(wildcard_match("uni/tn-a/brc-__ui_x", "__ui_"));
    assert!(!wildcard_match("abc", "abd"));
    assert!(wildcard_match("10.1.2.3", "10.1.*"));
    assert!(wildcard_match("10.1.2.3", "^10.*3$"));
    assert!(!wildcard_match("110.1.2.3", "^10.1"));
    assert!(wildcard_match("abc", "^abc$"));
    assert!(!wildcard_match("abcd", "^abc$"));
    assert!(wildcard_match("a-x-b", "a*b"));
    assert!(
        !wildcard_match("ab", "^ab*b$"),
        "prefix and suffix must not overlap"
    );
    assert!(wildcard_match("anything", ""));
}

#[test]
fn reports_malformed_filters_with_position() {
    let cases = [
        ("", "expected an operator"),
        (
            r#"eq(ethpmPhysIf.operSt,"down)"#,
            "unterminated quoted value at position 23",
        ),
        (
            r#"eq(ethpmPhysIf.operSt,"down""#,
            "expected ')' at position 28",
        ),
        (r#"eq(operSt,"down")"#, "class.attribute"),
        (r#"foo(a.b,"c")"#, "unknown filter operator \"foo\""),
        (r#"eq(a.b,"c"))"#, "unexpected text"),
        (r#"and(eq(a.b,"c")"#, "expected ')'"),
        (r#"not(eq(a.b,"c"),eq(a.b,"d"))"#, "expected ')'"),
        ("eq(a.,x)", "attribute name"),
    ];
    for (text, expected) in cases {
        let error = Filter::parse(text).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{text:?} gave {error:?}, wanted {expected:?}"
        );
    }
}

#[test]
fn tolerates_whitespace() {
    let filter = Filter::parse(r#" and ( eq ( a.b , "c" ) , eq(a.d,"e") ) "#).unwrap();
    assert!(filter.matches("a", &Attrs::from_pairs([("b", "c"), ("d", "e")])));
}
