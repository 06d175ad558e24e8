//! Property-based fuzzing of what reads client input: the XML and JSON readers (round trips
//! through the writers), the search parser and dates. Every property is named `fuzz_*`.
//!
//! `make test` runs proptest's default number of cases (256 per property, `PROPTEST_CASES`
//! overrides); `make fuzz` runs 10⁷ in a release build (figures in docs/BENCHMARKS.md).
//! A failing case is shrunk and printed; proptest keeps it in `proptest-regressions/` next to
//! this file, to be committed with the fix.

use oxvirt_ovirt::date::{format_date, from_epoch_millis, parse_date};
use oxvirt_ovirt::json::parse_json;
use oxvirt_ovirt::tree::{Element, Value};
use oxvirt_ovirt::xml::parse_xml;
use oxvirt_ovirt::{parse_body, parse_search, to_json, to_xml};
use proptest::prelude::*;

/// XML names as the model uses them (no `xml…` prefixes: `xmlns` is a namespace declaration).
fn name() -> impl Strategy<Value = String> {
    "[a-wyz_][a-z0-9_.-]{0,7}"
}

/// Text XML 1.0 can carry: any character but the C0 controls other than tab, LF and CR (the
/// writer replaces those with U+FFFD, see `escape_into`) and U+FFFE/U+FFFF.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_map(|c| {
                if matches!(c as u32, 0..=8 | 0x0b | 0x0c | 0x0e..=0x1f | 0xfffe | 0xffff) { '\u{FFFD}' } else { c }
            }),
            1 => prop_oneof![Just('&'), Just('<'), Just('>'), Just('"'), Just('\''), Just('\r'), Just('\n'), Just('\t')],
        ],
        0..12,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn attributes() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map(name(), text(), 0..3).prop_map(|m| m.into_iter().collect())
}

/// Trees the XML reader gives back exactly: a leaf has its text (none when empty); an element
/// with children may have text too, then non-blank and trimmed (what the reader keeps).
fn tree() -> impl Strategy<Value = Element> {
    let leaf = (name(), attributes(), text()).prop_map(|(n, attrs, t)| {
        let mut el = Element::new(n);
        for (a, v) in attrs {
            el.set_attr(&a, v);
        }
        if t.is_empty() { el } else { el.value(Value::Text(t)) }
    });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (name(), attributes(), text(), proptest::collection::vec(inner, 1..6)).prop_map(|(n, attrs, t, children)| {
            let mut el = Element::new(n);
            for (a, v) in attrs {
                el.set_attr(&a, v);
            }
            let t = t.trim();
            if !t.is_empty() {
                el = el.value(Value::Text(t.to_owned()));
            }
            for c in children {
                el.push(c);
            }
            el
        })
    })
}

/// Any tree the engine could render: typed scalars, list wrappers, any text.
fn rendered_tree() -> impl Strategy<Value = Element> {
    let scalar = prop_oneof![
        any::<String>().prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Integer(i128::from(i))),
        (-253_402_300_799_999i64..=253_402_300_799_999).prop_map(|ms| Value::Date(from_epoch_millis(ms))),
    ];
    let leaf = (name(), proptest::option::of(scalar)).prop_map(|(n, v)| match v {
        Some(v) => Element::leaf(n, v),
        None => Element::new(n),
    });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (name(), attributes(), any::<bool>(), proptest::collection::vec(inner, 0..6)).prop_map(
            |(n, attrs, list, children)| {
                // A list wrapper holds items of one kind, and nothing else (as rendered).
                let mut el = Element::new(n).as_list(list);
                if !list {
                    for (a, v) in attrs {
                        el.set_attr(&a, v);
                    }
                }
                let item = children.first().map(|c| c.name().to_owned());
                for c in children {
                    el.push(match &item {
                        Some(item) if list => rename(c, item),
                        _ => c,
                    });
                }
                el
            },
        )
    })
}

/// `el` under another name.
fn rename(el: Element, name: &str) -> Element {
    let mut out = match el.get_value() {
        Some(v) => Element::leaf(name, v.clone()),
        None => Element::new(name),
    }
    .as_list(el.is_list());
    for (a, v) in el.attributes() {
        out.set_attr(a, v.clone());
    }
    for c in el.children() {
        out.push(c.clone());
    }
    out
}

fn numbers_as_text(json: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match json {
        J::Number(n) => J::String(n.to_string()),
        J::Array(items) => J::Array(items.into_iter().map(numbers_as_text).collect()),
        J::Object(map) => J::Object(map.into_iter().map(|(k, v)| (k, numbers_as_text(v))).collect()),
        other => other,
    }
}

proptest! {
    #[test]
    fn fuzz_xml_round_trips(t in tree()) {
        let xml = to_xml(&t);
        let back = parse_xml(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(back, t, "{}", xml);
    }

    #[test]
    fn fuzz_xml_written_from_any_tree_parses(t in rendered_tree()) {
        let xml = to_xml(&t);
        prop_assert!(parse_xml(&xml).is_ok(), "{}", xml);
    }

    #[test]
    fn fuzz_json_read_back_renders_the_same(t in rendered_tree()) {
        let json = to_json(&t);
        if json.is_object() {
            let bytes = serde_json::to_vec(&json).expect("serialises");
            let back = parse_json(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
            // Parsed scalars are text: a date (epoch milliseconds) comes back as a string.
            prop_assert_eq!(numbers_as_text(to_json(&back)), numbers_as_text(json));
        }
    }

    #[test]
    fn fuzz_bodies_of_any_bytes_are_a_result(body in proptest::collection::vec(any::<u8>(), 0..256), xml in any::<bool>()) {
        let content_type = if xml { "application/xml" } else { "application/json" };
        let _ = parse_body(Some(content_type), &body);
    }

    #[test]
    fn fuzz_xml_like_text_is_a_result(s in "[<>/a-z =\"'&;#x0-9!\\[\\]-]{0,64}") {
        let _ = parse_xml(&s);
    }

    #[test]
    fn fuzz_search_parses_any_text_to_a_result(q in any::<String>()) {
        let _ = parse_search(&q);
    }

    #[test]
    fn fuzz_search_accepts_what_clients_write(
        conditions in proptest::collection::vec(
            ("[A-Za-z_][A-Za-z0-9_.]{0,8}", prop_oneof![Just("="), Just("!="), Just("<"), Just("<="), Just(">"), Just(">=")], "[A-Za-z0-9*._-]{1,8}"),
            1..5,
        ),
        joins in proptest::collection::vec(prop_oneof![Just(" and "), Just(" or "), Just(" ")], 4),
        page in proptest::option::of(1u32..1000),
    ) {
        let keywords = ["and", "or", "sortby", "asc", "desc", "page"];
        prop_assume!(conditions.iter().all(|(f, _, v)| !keywords.contains(&f.to_lowercase().as_str())
            && !keywords.contains(&v.to_lowercase().as_str())));
        let mut q = String::new();
        for (i, (field, op, value)) in conditions.iter().enumerate() {
            if i > 0 {
                q.push_str(joins[i - 1]);
            }
            // Wildcards only go with = and !=.
            let value = if matches!(*op, "=" | "!=") { value.clone() } else { value.replace('*', "x") };
            q.push_str(&format!("{field}{op}{value}"));
        }
        if let Some(p) = page {
            q.push_str(&format!(" page {p}"));
        }
        let parsed = parse_search(&q).map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
        prop_assert_eq!(parsed.any_of.iter().map(Vec::len).sum::<usize>(), conditions.len(), "{}", q);
        prop_assert_eq!(parsed.page, page);
    }

    #[test]
    fn fuzz_search_parentheses_mean_what_they_group(tree in filter_tree(), bits in any::<u8>()) {
        let q = filter_text(&tree, true);
        let parsed = parse_search(&q).map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
        let holds = |c: &oxvirt_ovirt::search::Condition| {
            let i: u32 = c.field[1..].parse().expect("f<i>");
            bits & (1 << i) != 0
        };
        let dnf = parsed.any_of.iter().any(|g| g.iter().all(holds));
        prop_assert_eq!(dnf, filter_holds(&tree, bits), "{}", q);
    }

    #[test]
    fn fuzz_dates_round_trip(ms in -62_135_596_800_000i64..=253_402_300_799_999) {
        let t = from_epoch_millis(ms);
        let text = format_date(t);
        prop_assert_eq!(parse_date(&text), Some(t), "{}", text);
    }

    #[test]
    fn fuzz_dates_of_any_text_are_an_option(s in "[0-9T:.+Z-]{0,32}|\\PC{0,32}") {
        let _ = parse_date(&s);
    }
}

/// A filter as a tree: conditions `f<i>=1` joined by `and` / `or`.
#[derive(Debug, Clone)]
enum FilterTree {
    Leaf(u8),
    And(Box<FilterTree>, Box<FilterTree>),
    Or(Box<FilterTree>, Box<FilterTree>),
}

fn filter_tree() -> impl Strategy<Value = FilterTree> {
    (0u8..8).prop_map(FilterTree::Leaf).prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| FilterTree::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| FilterTree::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// The tree as search text, every inner node in parentheses (the top one too when `top`).
fn filter_text(t: &FilterTree, top: bool) -> String {
    let join = |a: &FilterTree, b: &FilterTree, op: &str| {
        let text = format!("{} {op} {}", filter_text(a, false), filter_text(b, false));
        if top { text } else { format!("({text})") }
    };
    match t {
        FilterTree::Leaf(i) => format!("f{i}=1"),
        FilterTree::And(a, b) => join(a, b, "and"),
        FilterTree::Or(a, b) => join(a, b, "or"),
    }
}

fn filter_holds(t: &FilterTree, bits: u8) -> bool {
    match t {
        FilterTree::Leaf(i) => bits & (1 << i) != 0,
        FilterTree::And(a, b) => filter_holds(a, bits) && filter_holds(b, bits),
        FilterTree::Or(a, b) => filter_holds(a, bits) || filter_holds(b, bits),
    }
}
