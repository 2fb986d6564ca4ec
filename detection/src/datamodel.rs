//! CIM data model records: the rows `tstats … from datamodel=…` reads. Events become records
//! here; the SPL evaluator reads only records, never raw events.

use std::collections::BTreeMap;

/// One row of a CIM data model node, e.g. one `Endpoint.Processes` process launch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeRecord {
    /// The node's dataset name: the prefix of its fields in SPL (`Processes` in
    /// `Processes.process_name`).
    pub node: &'static str,
    /// `_time`: microseconds since the Unix epoch, UTC (Splunk keeps sub-second time to the
    /// microsecond).
    pub time_micros: i64,
    /// Field name without the node prefix (`process_name`) to the value as Splunk holds it.
    /// An absent field is null in SPL; an empty string is a value.
    pub fields: BTreeMap<&'static str, String>,
}

impl NodeRecord {
    /// The value of `name` (without the node prefix), if the record has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}
