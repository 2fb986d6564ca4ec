//! Which searches select a data model record, without asking every search.
//!
//! A rule library holds hundreds of `tstats` over one node, most of them asking for one of
//! a few values of one field (`Processes.process_name IN (…)`, `Processes.process_name=x OR
//! Processes.original_file_name=y`). Asking each search of each record cost more than
//! parsing the event. A search's `where` tells which values it needs one of (its
//! [`record_guard`]); the selector keeps, per node and field, the searches needing each
//! value, so a record's own values name the searches that may select it, and only those,
//! with the searches that need no value, are asked. The searches asked are then asked in
//! full ([`Search::selects`]), so the answer is the one asking all of them gives.

use std::collections::HashMap;

use crate::datamodel::NodeRecord;
use crate::eval::tstats::record_guard;
use crate::spl::{Input, Search, lowercase};

/// The searches of a scan, and what the selector knows of their `where` clauses.
pub(super) struct Selector<'s> {
    pub(super) searches: &'s [&'s Search],
    /// Per node, the searches that may select its records; `None` asks every search.
    nodes: Option<HashMap<&'s str, NodeSearches<'s>>>,
}

/// The searches that read records of one node.
#[derive(Default)]
struct NodeSearches<'s> {
    /// Those that may select any record of the node.
    always: Vec<usize>,
    /// Per record field, per lower-cased value, those that need it (or another value).
    needing: Vec<(&'s str, HashMap<&'s str, Vec<usize>>)>,
}

impl<'s> Selector<'s> {
    /// A selector that asks only the searches a record's values may interest, or, without
    /// `index`, every search.
    pub(super) fn new(searches: &'s [&'s Search], index: bool) -> Self {
        if !index {
            return Selector { searches, nodes: None };
        }
        let mut nodes: HashMap<&'s str, NodeSearches<'s>> = HashMap::new();
        for (at, search) in searches.iter().enumerate() {
            for input in search.inputs() {
                let Input::Records(tstats) = input else { continue };
                let node = nodes.entry(tstats.node.as_str()).or_default();
                match record_guard(tstats) {
                    None => node.always.push(at),
                    Some(guard) => {
                        for (field, values) in guard {
                            let known = node.needing.iter().position(|(f, _)| *f == field);
                            let place = known.unwrap_or_else(|| {
                                node.needing.push((field, HashMap::new()));
                                node.needing.len() - 1
                            });
                            let Some((_, needing)) = node.needing.get_mut(place) else { continue };
                            for value in values {
                                needing.entry(value).or_default().push(at);
                            }
                        }
                    }
                }
            }
        }
        Selector { searches, nodes: Some(nodes) }
    }

    /// The indices of the searches that select `record`, ascending.
    pub(super) fn selecting(&self, record: &NodeRecord) -> Vec<usize> {
        let Some(nodes) = &self.nodes else {
            return self.asked((0..self.searches.len()).collect(), record);
        };
        let Some(node) = nodes.get(record.node) else { return Vec::new() };
        let mut asked = node.always.clone();
        for (field, needing) in &node.needing {
            let Some(value) = record.field(field) else { continue };
            if let Some(searches) = needing.get(lowercase(value).as_ref()) {
                asked.extend_from_slice(searches);
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
