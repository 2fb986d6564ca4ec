//! Evaluating search conditions (`search`, `tstats … where`, a raw event search) against one
//! row, record or event, through a field lookup so that all of them share the semantics:
//!
//! - `field=value`: the value matches the pattern, case-insensitively, `*` for any run;
//!   a multivalue field matches when one of its values does.
//! - `field!=value`: the field exists and no value matches; `NOT field=value` also holds when
//!   the field is missing (Search Reference, search: "NOT fieldA="value2" … returns
//!   everything except fieldA="value2""; "fieldA!="value2" … returns events where fieldA
//!   exists and does not have the value").
//! - `<`, `<=`, `>`, `>=`: "numerically compare two numbers and lexicographically compare
//!   other values".
//! - A free-text term matches `_raw` on Splunk's segment boundaries (see [`term_matches`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::expr::{Env, Fields};
use super::value::{Value, compare_text};
use crate::spl::{CompareOp, Condition, Needle, Pattern, PatternSet};

/// Calls `test` on the values of `field` and says whether one passed; `None` when the field
/// is null (absent).
pub(crate) trait FieldLookup {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool>;
}

/// Fields of an eval expression's row, seen as a condition does.
pub(crate) struct ExprFields<'a>(pub(crate) &'a dyn Fields);

impl FieldLookup for ExprFields<'_> {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        match self.0.value(field) {
            Value::Null | Value::Bool(_) => None,
            Value::Multi(values) => Some(values.iter().any(|v| test(v))),
            other => other.as_text().map(|text| test(&text)),
        }
    }
}

/// Whether `condition` holds.
pub(crate) fn condition_holds(condition: &Condition, fields: &dyn FieldLookup) -> bool {
    match condition {
        // Subsearches are replaced by their rows' condition before a row is tested
        // (`combine::resolve`); one left is taken as holding, as preselection does.
        Condition::Any | Condition::Subsearch(_) => true,
        Condition::Compare { field, op: CompareOp::Eq | CompareOp::EqEq, value } => {
            fields.any_value(field, &mut |v| value.matches(v)) == Some(true)
        }
        Condition::Compare { field, op: CompareOp::NotEq, value } => {
            fields.any_value(field, &mut |v| value.matches(v)) == Some(false)
        }
        Condition::Compare { field, op, value } => {
            fields.any_value(field, &mut |v| ordering_satisfies(*op, compare_text(v, value.text())))
                == Some(true)
        }
        Condition::In { field, values } => {
            fields.any_value(field, &mut |v| values.iter().any(|p| p.matches(v))) == Some(true)
        }
        Condition::Term(pattern) => {
            fields.any_value("_raw", &mut |raw| term_matches(raw, pattern)) == Some(true)
        }
        Condition::Not(inner) => !condition_holds(inner, fields),
        Condition::And(terms) => terms.iter().all(|t| condition_holds(t, fields)),
        Condition::Or(terms) => terms.iter().any(|t| condition_holds(t, fields)),
    }
}

/// A condition made ready for many records: within each `OR`, the `field=value` terms and
/// `IN` lists of one field become one [`PatternSet`], so a list of thousands of values costs
/// about what one value does. It holds exactly when [`condition_holds`] holds: a field
/// matches one of several terms when one of its values matches one of their patterns, and
/// that is what the set asks (a null field matches none of them either way).
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// Evaluated as written.
    Condition(Condition),
    /// `field=a OR field=b …`, `field IN (a, b, …)`: a value of the field matches one.
    AnyOf {
        field: String,
        patterns: PatternSet,
    },
    Not(Box<Matcher>),
    And(Vec<Matcher>),
    Or(Vec<Matcher>),
}

impl Matcher {
    pub(crate) fn new(condition: &Condition) -> Self {
        match condition {
            Condition::In { field, values } => {
                Matcher::AnyOf { field: field.clone(), patterns: PatternSet::new(values) }
            }
            Condition::Not(inner) => Matcher::Not(Box::new(Matcher::new(inner))),
            Condition::And(terms) => Self::all_of(terms),
            Condition::Or(terms) => Self::any_of(terms),
            other => Matcher::Condition(other.clone()),
        }
    }

    /// An `AND`, its terms in the order that fails most records soonest: first those whose
    /// guard no common value satisfies (see [`is_weak`]), then the others as written. A
    /// rule over raw events names its source and event code first (`` `sysmon`
    /// EventCode=1 ``), and nearly every event of that source and code passes them, then
    /// fails on what the rule looks for. Terms have no effects, so their order does not
    /// change the outcome.
    fn all_of(terms: &[Condition]) -> Self {
        let mut matchers: Vec<Matcher> = terms.iter().map(Matcher::new).collect();
        // Each term's guard is worked out once, not at every comparison; the sort keeps
        // the written order among equals.
        matchers.sort_by_cached_key(|matcher| matcher.guard().is_none_or(|guard| has_weak(&guard)));
        Matcher::And(matchers)
    }

    /// An `OR` (with the `OR`s nested in it, as `OR` is associative): the value terms
    /// grouped by field (in order of first use), then the rest. Terms have no effects, so
    /// the order they are tried in does not change the outcome.
    fn any_of(terms: &[Condition]) -> Self {
        fn flatten<'c>(terms: &'c [Condition], into: &mut Vec<&'c Condition>) {
            for term in terms {
                match term {
                    Condition::Or(inner) => flatten(inner, into),
                    other => into.push(other),
                }
            }
        }
        let mut flat = Vec::new();
        flatten(terms, &mut flat);
        let mut by_field: BTreeMap<&str, (usize, Vec<&Pattern>)> = BTreeMap::new();
        let mut others = Vec::new();
        for term in flat {
            let (field, values) = match term {
                Condition::Compare { field, op: CompareOp::Eq | CompareOp::EqEq, value } => {
                    (field, std::slice::from_ref(value))
                }
                Condition::In { field, values } => (field, values.as_slice()),
                other => {
                    others.push(Matcher::new(other));
                    continue;
                }
            };
            let first_use = by_field.len();
            by_field.entry(field).or_insert_with(|| (first_use, Vec::new())).1.extend(values);
        }
        let mut sets: Vec<(usize, Matcher)> = by_field
            .into_iter()
            .map(|(field, (first_use, patterns))| {
                let patterns = PatternSet::new(patterns);
                (first_use, Matcher::AnyOf { field: field.to_owned(), patterns })
            })
            .collect();
        sets.sort_by_key(|(first_use, _)| *first_use);
        let mut matchers: Vec<Matcher> = sets.into_iter().map(|(_, matcher)| matcher).collect();
        matchers.append(&mut others);
        if matchers.len() == 1 {
            return matchers.pop().unwrap_or(Matcher::Or(Vec::new()));
        }
        Matcher::Or(matchers)
    }

    /// Whether the condition holds for `fields`.
    pub(crate) fn holds(&self, fields: &dyn FieldLookup) -> bool {
        match self {
            Matcher::Condition(condition) => condition_holds(condition, fields),
            Matcher::AnyOf { field, patterns } => {
                fields.any_value(field, &mut |value| patterns.matches(value)) == Some(true)
            }
            Matcher::Not(inner) => !inner.holds(fields),
            Matcher::And(terms) => terms.iter().all(|term| term.holds(fields)),
            Matcher::Or(terms) => terms.iter().any(|term| term.holds(fields)),
        }
    }
}

/// What a record must hold for a [`Matcher`] to hold: a value of one of these fields that,
/// lower-cased by [`crate::spl::lowercase`], is or holds one of the field's needles. A
/// record holding none fails the matcher.
pub(crate) type Guard<'m> = Vec<(&'m str, Vec<Needle<'m>>)>;

impl Matcher {
    /// The needles the matcher needs one of (see [`Guard`]), or `None` when it can hold
    /// without any: a negation, a comparison, a free-text term, a `*` alone.
    pub(crate) fn guard(&self) -> Option<Guard<'_>> {
        self.guard_avoiding(None)
    }

    /// [`Matcher::guard`] among the terms that do not test field `avoid`: what else a
    /// record needs, once what `avoid` needs is known to hold.
    pub(crate) fn guard_avoiding(&self, avoid: Option<&str>) -> Option<Guard<'_>> {
        match self {
            Matcher::AnyOf { field, patterns } if avoid != Some(field.as_str()) => {
                Some(vec![(field.as_str(), patterns.needles()?)])
            }
            Matcher::Condition(Condition::Compare {
                field,
                op: CompareOp::Eq | CompareOp::EqEq,
                value,
            }) if avoid != Some(field.as_str()) => {
                Some(vec![(field.as_str(), vec![value.needle()?])])
            }
            // Every term holds, so any term's guard is one: the one that lets the fewest
            // records through, as far as can be told: none of its needles common (see
            // [`is_weak`]) before some, then whole values before runs, then the longest
            // shortest run, then the fewest needles.
            Matcher::And(terms) => {
                let guards = terms.iter().filter_map(|term| term.guard_avoiding(avoid));
                guards.min_by_key(|guard| {
                    let needles = guard.iter().flat_map(|(_, needles)| needles);
                    let shortest_run = needles
                        .clone()
                        .filter_map(|needle| match needle {
                            Needle::Is(_) => None,
                            Needle::Holds(piece) => Some(piece.len()),
                        })
                        .min();
                    let runs = (shortest_run.is_some(), std::cmp::Reverse(shortest_run));
                    (has_weak(guard), runs, needles.count())
                })
            }
            // Some term holds: each needs a guard, and the guard is all of theirs.
            Matcher::Or(terms) => {
                let guards = terms.iter().map(|term| term.guard_avoiding(avoid));
                let guards = guards.collect::<Option<Vec<_>>>()?;
                Some(guards.into_iter().flatten().collect())
            }
            Matcher::AnyOf { .. } | Matcher::Condition(_) | Matcher::Not(_) => None,
        }
    }

    /// The whole values, lower-cased, one of which `field` must have for the matcher to
    /// hold; `None` when it may hold with another value, or none.
    pub(crate) fn values_needed(&self, field: &str) -> Option<Vec<&str>> {
        fn whole(needle: Needle<'_>) -> Option<&str> {
            match needle {
                Needle::Is(value) => Some(value),
                Needle::Holds(_) => None,
            }
        }
        match self {
            Matcher::AnyOf { field: tested, patterns } if tested == field => {
                patterns.needles()?.into_iter().map(whole).collect()
            }
            Matcher::Condition(Condition::Compare {
                field: tested,
                op: CompareOp::Eq | CompareOp::EqEq,
                value,
            }) if tested == field => Some(vec![whole(value.needle()?)?]),
            // Every term holds: the fewest values any of them allows.
            Matcher::And(terms) => {
                terms.iter().filter_map(|term| term.values_needed(field)).min_by_key(Vec::len)
            }
            // Some term holds: each must name its values, and any of them may be had.
            Matcher::Or(terms) => {
                let values = terms.iter().map(|term| term.values_needed(field));
                let values = values.collect::<Option<Vec<_>>>()?;
                Some(values.into_iter().flatten().collect())
            }
            _ => None,
        }
    }
}

/// Whether many records are likely to have `field` hold `needle`: any value of a field
/// that says where an event comes from or what kind it is ([`KIND_FIELDS`]), a whole value
/// of digits (a logon type, an access mask), or a run shorter than [`WEAK_RUN`] (`-e` is
/// in many command lines).
fn is_weak(field: &str, needle: Needle<'_>) -> bool {
    if KIND_FIELDS.iter().any(|kind| kind.eq_ignore_ascii_case(field)) {
        return true;
    }
    match needle {
        Needle::Is(value) => value.bytes().all(|byte| byte.is_ascii_digit()),
        Needle::Holds(run) => run.len() < WEAK_RUN,
    }
}

/// Whether some needle of `guard` is weak (see [`is_weak`]).
fn has_weak(guard: &Guard<'_>) -> bool {
    guard.iter().any(|(field, needles)| needles.iter().any(|needle| is_weak(field, *needle)))
}

/// Fields whose values name an event's source or kind: Splunk's default fields that do,
/// and the Windows event's log and code.
const KIND_FIELDS: [&str; 8] =
    ["index", "source", "sourcetype", "eventtype", "tag", "Channel", "EventCode", "EventID"];

/// Length below which a run a value must hold is too common to fail many records on (see
/// [`is_weak`]).
const WEAK_RUN: usize = 4;

fn ordering_satisfies(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq | CompareOp::EqEq => ordering == Ordering::Equal,
        CompareOp::NotEq => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
}

/// Splunk's breakers (segmenters.conf defaults): major — blanks and `[ ] < > ( ) { } | ! ; ,
/// ' " * & ? +` — and minor — `/ : = @ . - $ # % \ _`. A term is found where it starts and
/// ends on a breaker (or the text's ends).
fn is_breaker(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '[' | ']'
                | '<'
                | '>'
                | '('
                | ')'
                | '{'
                | '}'
                | '|'
                | '!'
                | ';'
                | ','
                | '\''
                | '"'
                | '*'
                | '&'
                | '?'
                | '+'
                | '/'
                | ':'
                | '='
                | '@'
                | '.'
                | '-'
                | '$'
                | '#'
                | '%'
                | '\\'
                | '_'
        )
}

/// Whether the free-text `pattern` occurs in `raw` as Splunk's segmentation finds terms:
/// case-insensitively, starting and ending on segment boundaries unless a `*` stands at that
/// end ("for each minor breaker found, Splunk indexes the token from the last major breaker
/// to the current minor breaker and from the last minor breaker to the current minor
/// breaker", segmenters.conf). A phrase (several segments) matches where it occurs whole.
pub(crate) fn term_matches(raw: &str, pattern: &Pattern) -> bool {
    let pieces: Vec<&str> = pattern.literals().collect();
    if pieces.is_empty() {
        return true;
    }
    let text = pattern.text();
    let open_start = text.starts_with('*');
    let open_end = text.ends_with('*');
    let raw = raw.to_lowercase();
    let boundary_before =
        |at: usize| at == 0 || raw[..at].chars().next_back().is_some_and(is_breaker);
    let boundary_after =
        |at: usize| at >= raw.len() || raw[at..].chars().next().is_some_and(is_breaker);
    let (first, rest) = (pieces[0], &pieces[1..]);
    let mut from = 0;
    while let Some(found) = raw[from..].find(first) {
        let start = from + found;
        from = start + first.len().max(1);
        if !open_start && !boundary_before(start) {
            continue;
        }
        // The remaining pieces follow in order, the last one ending on a boundary.
        let mut end = start + first.len();
        let mut matched = true;
        for piece in rest {
            let Some(offset) = raw[end..].find(piece) else {
                matched = false;
                break;
            };
            end += offset + piece.len();
        }
        if !matched {
            return false;
        }
        if open_end || boundary_after(end) {
            return true;
        }
    }
    false
}

/// `searchmatch(text)`: whether the row matches `text` read as a search condition.
pub(crate) fn search_matches(
    text: &str,
    fields: &dyn Fields,
    env: &Env<'_>,
) -> Result<bool, String> {
    let condition =
        crate::spl::parse_condition(text).map_err(|err| format!("searchmatch(): {err}"))?;
    let _ = env;
    Ok(condition_holds(&condition, &ExprFields(fields)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Fields by name; a multivalue field has several values.
    #[derive(Debug)]
    struct Record(BTreeMap<&'static str, Vec<String>>);

    impl FieldLookup for Record {
        fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
            self.0.get(field).map(|values| values.iter().any(|v| test(v)))
        }
    }

    /// A quoted value over letters whose case folds differently (`İ` lower-cases to two
    /// characters, `ǅ` is title case), with `*` wildcards; or a number, which an `AND`
    /// tries last.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[aAbBéÉİǅ *]{0,4}".prop_map(|text| format!("\"{text}\"")),
            1 => "[12]{1,2}",
        ]
    }

    /// Conditions heavy in `OR` lists over two fields and a kind field (whose terms an
    /// `AND` tries last), nested in `AND` and `NOT`.
    fn condition() -> impl Strategy<Value = String> {
        let field = proptest::sample::select(&["f", "g", "EventCode"][..]);
        let op = proptest::sample::select(&["=", "=", "!=", "<"][..]);
        let leaf = prop_oneof![
            4 => (field.clone(), op, value()).prop_map(|(f, op, v)| format!("{f}{op}{v}")),
            2 => (field, proptest::collection::vec(value(), 1..12))
                .prop_map(|(f, vs)| format!("{f} IN ({})", vs.join(", "))),
            1 => value(),
        ];
        leaf.prop_recursive(3, 40, 12, |inner| {
            prop_oneof![
                3 => proptest::collection::vec(inner.clone(), 1..12)
                    .prop_map(|terms| format!("({})", terms.join(" OR "))),
                1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
                1 => inner.prop_map(|a| format!("NOT ({a})")),
            ]
        })
    }

    fn record() -> impl Strategy<Value = Record> {
        let values = proptest::option::of(proptest::collection::vec("[aAbBéÉİǅi̇ 12]{0,4}", 1..3));
        let codes = proptest::option::of(proptest::collection::vec("[12]{1,2}", 1..3));
        (values.clone(), values, codes, "[aAbB ]{0,6}").prop_map(|(f, g, code, raw)| {
            let mut fields = BTreeMap::new();
            fields.extend(f.map(|f| ("f", f)));
            fields.extend(g.map(|g| ("g", g)));
            fields.extend(code.map(|code| ("EventCode", code)));
            fields.insert("_raw", vec![raw]);
            Record(fields)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        /// The sets a long `OR` becomes decide as the terms one by one do. Search Reference,
        /// search: "use error IN (400, 402, 404, 500) instead of error=400 OR error=402 OR
        /// error=404 OR error=500" — so an `IN` list and an `OR` of `=` terms of one field
        /// are one set; and "By default, searches are case-insensitive", which the set keeps
        /// by lower-casing as each pattern does.
        #[test]
        fn matcher_holds_where_the_condition_holds(text in condition(), records in proptest::collection::vec(record(), 1..8)) {
            let condition = crate::spl::parse_condition(&text).expect("generated conditions parse");
            let matcher = Matcher::new(&condition);
            for record in &records {
                prop_assert_eq!(matcher.holds(record), condition_holds(&condition, record), "{}", text);
            }
        }

        /// A record holding none of a matcher's guard values fails it, however the values
        /// lower-case (`İ` becomes two characters), so a scan may skip asking it.
        #[test]
        fn a_record_outside_the_guard_fails_the_matcher(text in condition(), records in proptest::collection::vec(record(), 1..8)) {
            let condition = crate::spl::parse_condition(&text).expect("generated conditions parse");
            let matcher = Matcher::new(&condition);
            let Some(guard) = matcher.guard() else { return Ok(()) };
            for record in &records {
                let inside = guard.iter().any(|(field, needles)| {
                    record.0.get(field).is_some_and(|values| {
                        values.iter().any(|value| {
                            let lowered = crate::spl::lowercase(value);
                            needles.iter().any(|needle| needle.found_in(&lowered))
                        })
                    })
                });
                prop_assert!(inside || !matcher.holds(record), "{} {:?}", text, record);
            }
        }
    }

    #[test]
    fn a_guard_names_the_values_every_match_needs_one_of() {
        let guard = |text: &str| {
            let condition = crate::spl::parse_condition(text).expect("parses");
            let matcher = Matcher::new(&condition);
            matcher.guard().map(|guard| {
                guard
                    .into_iter()
                    .map(|(field, needles)| {
                        let mut needles: Vec<String> = needles
                            .into_iter()
                            .map(|needle| match needle {
                                Needle::Is(value) => value.to_owned(),
                                Needle::Holds(piece) => format!("~{piece}"),
                            })
                            .collect();
                        needles.sort_unstable();
                        format!("{field}:{}", needles.join("|"))
                    })
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(guard("f=A"), Some(vec!["f:a".to_owned()]));
        assert_eq!(guard("f IN (A, b) OR g=C"), Some(vec!["f:a|b".to_owned(), "g:c".to_owned()]));
        // A wildcard pattern's longest run.
        assert_eq!(guard("f=a OR g=*Bc*d*"), Some(vec!["f:a".to_owned(), "g:~bc".to_owned()]));
        // Of an `AND`, whole values before runs, the longest shortest run, the fewest.
        assert_eq!(guard("f IN (a, b) g=c h=*x*"), Some(vec!["g:c".to_owned()]));
        assert_eq!(guard("h=*xyz* f IN (a, b)"), Some(vec!["f:a|b".to_owned()]));
        assert_eq!(guard("h=*xyz* g=*x*"), Some(vec!["h:~xyz".to_owned()]));
        // Every term of an `OR` needs one; `*` alone, negations, comparisons and free
        // text hold without a given value.
        assert_eq!(guard("f=a OR g=*"), None);
        assert_eq!(guard("NOT f=a"), None);
        assert_eq!(guard("f!=a"), None);
        assert_eq!(guard("f<a"), None);
        assert_eq!(guard("a"), None);
    }

    #[test]
    fn the_codes_a_condition_needs_and_what_else_it_needs() {
        let matcher =
            |text: &str| Matcher::new(&crate::spl::parse_condition(text).expect("parses"));
        let codes = |text: &str| {
            matcher(text).values_needed("EventCode").map(|mut codes| {
                codes.sort_unstable();
                codes.join(",")
            })
        };
        // `=` compares string values (Search Reference, search), so a code named whole is
        // one the event must have; with a `*`, or under `NOT`, it is not.
        assert_eq!(codes("EventCode=1 f=a").as_deref(), Some("1"));
        assert_eq!(codes("EventCode IN (1, 4688) f=a").as_deref(), Some("1,4688"));
        assert_eq!(codes("(EventCode=1 f=a) OR (EventCode=2 g=b)").as_deref(), Some("1,2"));
        assert_eq!(codes("(EventCode=1 OR EventCode=3) EventCode=3").as_deref(), Some("3"));
        assert_eq!(codes("EventCode=1 OR f=a"), None);
        assert_eq!(codes("EventCode=4*"), None);
        assert_eq!(codes("NOT EventCode=1"), None);
        assert_eq!(codes("eventcode=1"), None);
        // Past the code, the guard is taken among the other terms, the source's last.
        let rest = |text: &str| {
            let matcher = matcher(text);
            let guard = matcher.guard_avoiding(Some("EventCode"));
            guard
                .map(|guard| guard.iter().map(|(field, _)| (*field).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(
            rest("EventCode=1 (source=a OR source=b) Image=*\\x.exe"),
            Some(vec!["Image".to_owned()])
        );
        assert_eq!(rest("EventCode=1 source=a"), Some(vec!["source".to_owned()]));
        assert_eq!(rest("EventCode=1"), None);
        assert_eq!(rest("(EventCode=1 f=a) OR EventCode=2"), None);
    }

    /// Splunk's documentation does not say in which order it tries the terms of an `AND`;
    /// they have no effects, so any order gives the same answer (the property above holds
    /// the matcher to the terms tried as written). The matcher tries first the terms a
    /// common value cannot satisfy, so that the events of a rule's source and code that
    /// lack what it looks for fail on the first term tried.
    #[test]
    fn an_and_tries_its_source_and_code_terms_last() {
        let order = |text: &str| {
            let condition = crate::spl::parse_condition(text).expect("parses");
            let Matcher::And(terms) = Matcher::new(&condition) else { panic!("an AND") };
            terms
                .iter()
                .map(|term| match term {
                    Matcher::Condition(Condition::Compare { field, .. })
                    | Matcher::AnyOf { field, .. } => field.clone(),
                    Matcher::Not(_) => "NOT".to_owned(),
                    Matcher::Or(_) => "OR".to_owned(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            order("(sourcetype=a OR source=b) EventCode=1 Image=*\\rundll32.exe f=*comsvcs*"),
            ["Image", "f", "OR", "EventCode"]
        );
        // Short runs and numbers are common too; a term without a guard is tried after the
        // terms with a strong one.
        assert_eq!(
            order("EventCode=4688 NOT user=system g=*-e* LogonType=3 f=cmd.exe"),
            ["f", "EventCode", "NOT", "g", "LogonType"]
        );
    }

    #[test]
    fn a_long_or_list_of_one_field_is_one_set() {
        let terms: Vec<String> = (0..5000).map(|n| format!("f=v{n}")).collect();
        let condition = crate::spl::parse_condition(&format!("({}) OR g=x*", terms.join(" OR ")))
            .expect("parses");
        let matcher = Matcher::new(&condition);
        let Matcher::Or(parts) = &matcher else { panic!("an OR: {matcher:?}") };
        assert!(
            matches!(parts.as_slice(), [Matcher::AnyOf { field, .. }, Matcher::AnyOf { .. }] if field == "f")
        );
        let record = |f: &str| Record([("f", vec![f.to_owned()])].into_iter().collect());
        assert!(matcher.holds(&record("V4999")));
        assert!(!matcher.holds(&record("v5000")));
        assert!(!matcher.holds(&Record(BTreeMap::new())));
    }

    fn term(raw: &str, pattern: &str) -> bool {
        term_matches(raw, &Pattern::new(pattern))
    }

    #[test]
    fn terms_match_on_segment_boundaries() {
        let raw = r"<Data Name='Image'>C:\Windows\System32\rundll32.exe</Data>";
        assert!(term(raw, "rundll32.exe"));
        assert!(term(raw, "RUNDLL32"));
        assert!(term(raw, "exe"));
        assert!(!term(raw, "dll32"));
        assert!(term(raw, "*dll32*"));
        assert!(term(raw, "rund*"));
        assert!(!term(raw, "und*"));
        assert!(term(raw, "system32\\rundll32.exe"));
        assert!(term("web error here", "web error"));
        assert!(!term("web errors", "web error"));
    }
}
