//! Which searches select a data model record, without asking every search.
//!
//! A rule library holds hundreds of `tstats` over one node, most of them asking for one of
//! a few values of one field (`Processes.process_name IN (…)`) or for runs of text in one
//! (`Processes.process="*-enc*"`). Asking each search of each record cost more than
//! parsing the event. A search's `where` tells what it needs one of (its [`record_guard`]:
//! a whole value, or a run a value holds); the selector keeps, per node and field, the
//! searches needing each value (a hash lookup) and each run (one Aho-Corasick pass over
//! the record's value), so a record's own values name the searches that may select it.
//! Only those, with the searches that need nothing, are asked in full
//! ([`Search::selects`]), so the answer is the one asking all of them gives.
//!
//! Searches over raw events are indexed first by the `EventCode` values their conditions
//! name whole, then by their other guards: a tree's hundreds of `sysmon` and
//! `wineventlog_security` searches each need one of a few codes, and asking each of every
//! event cost more than reading it, as did looking up in every event each field some
//! search guards on. An event is asked its code, then the fields its code's searches need.

use std::collections::{BTreeMap, HashMap};

use crate::datamodel::NodeRecord;
use crate::eval::tstats::record_guard;
use crate::eval::{EventFields, Guard};
use crate::spl::{Input, Needle, PieceIndex, Search, lowercase};

/// The searches of a scan, and what the selector knows of their `where` clauses.
pub(super) struct Selector<'s> {
    pub(super) searches: &'s [&'s Search],
    /// The searches over raw events, ascending: few, and only they are asked of an event.
    event_readers: Vec<usize>,
    /// Every record field some search reads, sorted, and per search which of them it
    /// reads (a bit each).
    fields: Vec<&'s str>,
    reads: Vec<Vec<u64>>,
    /// Per node, the searches that may select its records; `None` asks every search.
    nodes: Option<HashMap<&'s str, NodeSearches<'s>>>,
    /// The searches over raw events that may read an event; `None` asks all of them.
    events: Option<EventSearches>,
}

/// The searches over raw events, by the event code their conditions need, then by what
/// else they need one of. Nearly every one names its `EventCode`; asking an event only for
/// the fields its own code's searches need is what keeps a tree's hundreds of searches,
/// needing dozens of fields, from costing a lookup of each field in every event.
#[derive(Default)]
struct EventSearches {
    /// By `EventCode` value: the searches that need the code to be that value.
    by_code: HashMap<String, EventIndex>,
    /// The searches that need no given `EventCode`.
    any_code: EventIndex,
}

/// Some searches over raw events, by what their conditions need one of.
#[derive(Default)]
struct EventIndex {
    /// Those that may read any event: a condition without a guard, or with a subsearch.
    always: Vec<usize>,
    /// Per event field, those that need its value, lower-cased, to be or hold a needle.
    needing: BTreeMap<String, FieldSearches>,
}

impl EventIndex {
    /// Adds search `at`, which needs one of `guard`, or may read any event without one.
    fn add(&mut self, guard: Option<Guard<'_>>, at: usize) {
        let Some(guard) = guard else {
            self.always.push(at);
            return;
        };
        for (field, needles) in guard {
            let needing = self.needing.entry(field.to_owned()).or_default();
            for needle in needles {
                needing.add(needle, at);
            }
        }
    }

    /// Adds to `asked` the searches that may read `event`.
    fn ask(&self, event: &dyn EventFields, asked: &mut Vec<usize>) {
        asked.extend_from_slice(&self.always);
        for (field, needing) in &self.needing {
            event.any_value(field, &mut |value| {
                needing.add_needed(&lowercase(value), asked);
                false
            });
        }
    }
}

/// The field the event index is keyed by first (see [`EventSearches`]).
const CODE_FIELD: &str = "EventCode";

/// The searches that read records of one node.
#[derive(Default)]
struct NodeSearches<'s> {
    /// Those that may select any record of the node.
    always: Vec<usize>,
    /// Per record field, those that need its value to be or hold some needle.
    needing: BTreeMap<&'s str, FieldSearches>,
}

/// The searches that need a field's value, lower-cased, to be or hold a needle.
#[derive(Default)]
struct FieldSearches {
    /// By whole value.
    is: HashMap<String, Vec<usize>>,
    /// Each run needed, with the search needing it.
    runs: Vec<(String, usize)>,
    /// Over `runs`, built once they are all known; `None` also when it cannot be built,
    /// and every search needing a run is then asked.
    index: Option<PieceIndex>,
}

impl FieldSearches {
    fn add(&mut self, needle: Needle<'_>, search: usize) {
        match needle {
            Needle::Is(value) => self.is.entry(value.to_owned()).or_default().push(search),
            Needle::Holds(run) => self.runs.push((run.to_owned(), search)),
        }
    }

    /// Builds the index over the runs, once they are all added.
    fn index_runs(&mut self) {
        if !self.runs.is_empty() {
            self.index = PieceIndex::new(self.runs.iter().map(|(run, _)| Some(run.as_str())));
        }
    }

    /// Adds to `asked` the searches `lowered` (a value lower-cased) is or holds a needle of.
    fn add_needed(&self, lowered: &str, asked: &mut Vec<usize>) {
        if let Some(searches) = self.is.get(lowered) {
            asked.extend_from_slice(searches);
        }
        if self.runs.is_empty() {
            return;
        }
        let search = |at: usize| self.runs.get(at).map(|(_, search)| *search);
        match &self.index {
            Some(index) => asked.extend(index.candidates(lowered).filter_map(search)),
            None => asked.extend(self.runs.iter().map(|(_, search)| *search)),
        }
    }
}

impl<'s> Selector<'s> {
    /// A selector that asks only the searches a record's values may interest, or, without
    /// `index`, every search.
    pub(super) fn new(searches: &'s [&'s Search], index: bool) -> Self {
        let event_readers = (0..searches.len())
            .filter(|&at| searches.get(at).is_some_and(|search| search.reads_events()))
            .collect();
        let mut fields: Vec<&str> = searches
            .iter()
            .flat_map(|search| search.record_fields().iter().map(String::as_str))
            .collect();
        fields.sort_unstable();
        fields.dedup();
        let reads = searches
            .iter()
            .map(|search| {
                let mut bits = vec![0u64; fields.len().div_ceil(64)];
                for field in search.record_fields() {
                    if let Ok(at) = fields.binary_search(&field.as_str()) {
                        set_bit(&mut bits, at);
                    }
                }
                bits
            })
            .collect();
        let unindexed =
            Selector { searches, event_readers, fields, reads, nodes: None, events: None };
        if !index {
            return unindexed;
        }
        let mut nodes: HashMap<&'s str, NodeSearches<'s>> = HashMap::new();
        for (at, search) in searches.iter().enumerate() {
            for input in search.inputs() {
                let Input::Records(tstats) = input else { continue };
                let node = nodes.entry(tstats.node.as_str()).or_default();
                let Some(guard) = record_guard(tstats) else {
                    node.always.push(at);
                    continue;
                };
                for (field, needles) in guard {
                    let needing = node.needing.entry(field).or_default();
                    for needle in needles {
                        needing.add(needle, at);
                    }
                }
            }
        }
        let fields = nodes.values_mut().flat_map(|node| node.needing.values_mut());
        for field in fields {
            field.index_runs();
        }
        let events = event_searches(searches, &unindexed.event_readers);
        Selector { nodes: Some(nodes), events: Some(events), ..unindexed }
    }

    /// The record fields the `selected` searches read (see [`Search::record_fields`]).
    pub(super) fn fields_read(&self, selected: &[usize]) -> FieldsRead<'_> {
        let mut bits = vec![0u64; self.fields.len().div_ceil(64)];
        for reads in selected.iter().filter_map(|&at| self.reads.get(at)) {
            for (word, read) in bits.iter_mut().zip(reads) {
                *word |= read;
            }
        }
        FieldsRead { fields: &self.fields, bits }
    }

    /// The searches over raw events, ascending.
    pub(super) fn event_readers(&self) -> &[usize] {
        &self.event_readers
    }

    /// The searches over raw events that read `event`, ascending.
    pub(super) fn selecting_event(&self, event: &dyn EventFields) -> Vec<usize> {
        let reads = |at: &usize| self.searches.get(*at).is_some_and(|s| s.selects_event(event));
        let Some(events) = &self.events else {
            return self.event_readers.iter().copied().filter(reads).collect();
        };
        let mut asked = Vec::new();
        events.any_code.ask(event, &mut asked);
        if !events.by_code.is_empty() {
            event.any_value(CODE_FIELD, &mut |code| {
                if let Some(index) = events.by_code.get(lowercase(code).as_ref()) {
                    index.ask(event, &mut asked);
                }
                false
            });
        }
        asked.sort_unstable();
        asked.dedup();
        asked.retain(reads);
        asked
    }

    /// The indices of the searches that select `record`, ascending.
    pub(super) fn selecting(&self, record: &NodeRecord) -> Vec<usize> {
        let Some(nodes) = &self.nodes else {
            return self.asked((0..self.searches.len()).collect(), record);
        };
        let Some(node) = nodes.get(record.node) else { return Vec::new() };
        let mut asked = node.always.clone();
        for (field, needing) in &node.needing {
            if let Some(value) = record.field(field) {
                needing.add_needed(&lowercase(value), &mut asked);
            }
        }
        asked.sort_unstable();
        asked.dedup();
        self.asked(asked, record)
    }

    /// Those of `asked` that select `record`.
    fn asked(&self, mut asked: Vec<usize>, record: &NodeRecord) -> Vec<usize> {
        asked.retain(|&at| self.searches.get(at).is_some_and(|search| search.selects(record)));
        asked
    }
}

/// Some searches' record fields: see [`Selector::fields_read`].
pub(super) struct FieldsRead<'f> {
    fields: &'f [&'f str],
    bits: Vec<u64>,
}

impl FieldsRead<'_> {
    pub(super) fn contains(&self, name: &str) -> bool {
        self.fields
            .binary_search(&name)
            .is_ok_and(|at| self.bits.get(at / 64).is_some_and(|word| word & (1 << (at % 64)) != 0))
    }
}

/// The index of the searches over raw events (`readers`) by the codes their conditions
/// need and their other guards.
fn event_searches(searches: &[&Search], readers: &[usize]) -> EventSearches {
    let mut events = EventSearches::default();
    for &at in readers {
        let Some(search) = searches.get(at) else { continue };
        for input in search.event_inputs() {
            // A subsearch is known only at the end: such a condition passes every event now.
            let Some(matcher) = &input.matcher else {
                events.any_code.always.push(at);
                continue;
            };
            match matcher.values_needed(CODE_FIELD) {
                Some(codes) => {
                    let guard = matcher.guard_avoiding(Some(CODE_FIELD));
                    for code in codes {
                        let index = events.by_code.entry(code.to_owned()).or_default();
                        index.add(guard.clone(), at);
                    }
                }
                None => events.any_code.add(matcher.guard(), at),
            }
        }
    }
    let indexes = events.by_code.values_mut().chain(std::iter::once(&mut events.any_code));
    for field in indexes.flat_map(|index| index.needing.values_mut()) {
        field.index_runs();
    }
    events
}

fn set_bit(bits: &mut [u64], at: usize) {
    if let Some(word) = bits.get_mut(at / 64) {
        *word |= 1 << (at % 64);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::Selector;
    use crate::eval::{EventFields, FieldValue};
    use crate::spl::{MacroTable, Search};

    /// An event as its fields, each with one or more values.
    #[derive(Debug)]
    struct Fields(BTreeMap<&'static str, Vec<String>>);

    impl EventFields for Fields {
        fn time_micros(&self) -> i64 {
            0
        }

        fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
            self.0.get(field).map(|values| values.iter().any(|value| test(value)))
        }

        fn fields(&self) -> Vec<(String, FieldValue)> {
            Vec::new()
        }
    }

    /// A condition over an event's code, source and two other fields: codes named whole,
    /// in lists, by wildcard, in `OR`s with other fields and under `NOT`.
    fn condition() -> impl Strategy<Value = String> {
        let code = proptest::sample::select(&["1", "11", "3", "1*", "\"01\""][..]);
        let value = proptest::sample::select(&["a", "A*", "*b*", "ab", "bb", "x.exe"][..]);
        let field = proptest::sample::select(&["f", "g", "source"][..]);
        let leaf = prop_oneof![
            3 => code.clone().prop_map(|code| format!("EventCode={code}")),
            1 => proptest::collection::vec(code.clone(), 1..3)
                .prop_map(|codes| format!("EventCode IN ({})", codes.join(", "))),
            3 => (code, field.clone(), value.clone())
                .prop_map(|(code, field, value)| format!("(EventCode={code} {field}={value})")),
            4 => (field, value).prop_map(|(field, value)| format!("{field}={value}")),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                2 => proptest::collection::vec(inner.clone(), 1..4)
                    .prop_map(|terms| format!("({})", terms.join(" OR "))),
                3 => proptest::collection::vec(inner.clone(), 1..4)
                    .prop_map(|terms| format!("({})", terms.join(" "))),
                1 => inner.prop_map(|term| format!("NOT {term}")),
            ]
        })
    }

    fn event() -> impl Strategy<Value = Fields> {
        let values = |choices: &'static [&'static str]| {
            proptest::option::of(proptest::collection::vec(proptest::sample::select(choices), 1..3))
        };
        let codes = values(&["1", "11", "3", "01", "4"]);
        let others = values(&["a", "AB", "bb", "x.exe", "c"]);
        (codes, others.clone(), others.clone(), others).prop_map(|(code, f, g, source)| {
            let mut fields = BTreeMap::new();
            let named = [("EventCode", code), ("f", f), ("g", g), ("source", source)];
            for (name, values) in named {
                if let Some(values) = values {
                    fields.insert(name, values.into_iter().map(str::to_owned).collect());
                }
            }
            Fields(fields)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        /// The index asks an event only some searches, and those it leaves out are searches
        /// that do not read it: the searches reading each event are those asking every
        /// search of it finds.
        #[test]
        fn the_index_selects_the_searches_asking_every_one_selects(
            conditions in proptest::collection::vec(condition(), 1..6),
            events in proptest::collection::vec(event(), 1..16),
        ) {
            let searches: Vec<Search> = conditions
                .iter()
                .map(|condition| {
                    let text = format!("search {condition} | stats count");
                    Search::compile(&text, &MacroTable::default(), "none").expect("compiles")
                })
                .collect();
            let searches: Vec<&Search> = searches.iter().collect();
            let indexed = Selector::new(&searches, true);
            let every = Selector::new(&searches, false);
            for event in &events {
                prop_assert_eq!(
                    indexed.selecting_event(event),
                    every.selecting_event(event),
                    "{:?} {:?}",
                    conditions,
                    event
                );
            }
        }
    }
}
