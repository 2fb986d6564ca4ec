//! Evaluate Splunk `security_content` detections offline: load rules and macros, read Windows
//! event logs into CIM data model records, run the rule's SPL over them and render the rule's
//! documentation page. The library does no network I/O and never prints; callers own output.
#![warn(missing_docs)]

pub mod attack;
pub mod cim;
pub mod content;
pub mod datamodel;
pub mod eval;
pub mod events;
pub mod fields;
pub mod lookup;
pub mod prefilter;
pub mod render;
pub mod scan;
mod segment;
pub mod spl;
pub mod terminal;

/// An error and its causes on one line (`cannot open x: No such file or directory`), for
/// reports and findings that are text rather than error values.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
