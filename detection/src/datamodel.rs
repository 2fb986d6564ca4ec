//! CIM data model records: the rows `tstats … from datamodel=…` reads. Events become records
//! here (the field mapping tables below are the one place that says which event field fills
//! which CIM field); the SPL evaluator reads only records, never raw events.

use std::collections::BTreeMap;

use crate::events::Event;

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

/// Where one CIM field's value comes from in an event. [`Source::is_raw`] says which
/// sources copy text verbatim from the event, which a prefilter on raw bytes relies on.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// An `EventData` field as it is.
    Data(&'static str),
    /// The file name after the last `\` (or `/`) of an `EventData` path.
    Basename(&'static str),
    /// An `EventData` field lower-cased (the Sysmon add-on lower-cases integrity levels).
    Lowercase(&'static str),
    /// `System/Computer`.
    Computer,
    /// The account that runs the new process of a 4688, `DOMAIN\name`; see [`user_4688`].
    User4688,
}

/// Sysmon `EventID` 1 → `Endpoint.Processes`, per the Splunk Add-on for Sysmon.
const SYSMON_PROCESS_CREATE: &[(&str, Source)] = &[
    ("dest", Source::Computer),
    ("original_file_name", Source::Data("OriginalFileName")),
    ("parent_process", Source::Data("ParentCommandLine")),
    ("parent_process_guid", Source::Data("ParentProcessGuid")),
    ("parent_process_id", Source::Data("ParentProcessId")),
    ("parent_process_name", Source::Basename("ParentImage")),
    ("parent_process_path", Source::Data("ParentImage")),
    ("process", Source::Data("CommandLine")),
    ("process_current_directory", Source::Data("CurrentDirectory")),
    ("process_guid", Source::Data("ProcessGuid")),
    ("process_hash", Source::Data("Hashes")),
    ("process_id", Source::Data("ProcessId")),
    ("process_integrity_level", Source::Lowercase("IntegrityLevel")),
    ("process_name", Source::Basename("Image")),
    ("process_path", Source::Data("Image")),
    ("user", Source::Data("User")),
];

/// Security 4688 → `Endpoint.Processes`, per the Splunk Add-on for Windows. Ids stay as the
/// event writes them (hex, `0x12d8`); the add-on's own conversion is not known here.
const SECURITY_PROCESS_CREATE: &[(&str, Source)] = &[
    ("dest", Source::Computer),
    ("parent_process_id", Source::Data("ProcessId")),
    ("parent_process_name", Source::Basename("ParentProcessName")),
    ("parent_process_path", Source::Data("ParentProcessName")),
    ("process", Source::Data("CommandLine")),
    ("process_id", Source::Data("NewProcessId")),
    ("process_name", Source::Basename("NewProcessName")),
    ("process_path", Source::Data("NewProcessName")),
    ("user", Source::User4688),
];

impl Source {
    /// Whether the value is a verbatim slice of the event's raw text (for an XML export: the
    /// bytes between the tags as written). Computed values (lower-cased, joined) are not.
    fn is_raw(self) -> bool {
        match self {
            Source::Data(_) | Source::Basename(_) | Source::Computer => true,
            Source::Lowercase(_) | Source::User4688 => false,
        }
    }
}

/// Fields `processes_record` computes after the table, whatever their source: `user` is
/// `unknown` when the event leaves it empty, a value no event text holds.
const COMPUTED_AFTER_MAPPING: &[&str] = &["user"];

/// Whether every value of `field` in an `Endpoint.Processes` record is a verbatim substring
/// of the raw text of the event it came from, in every table that maps it. Only such fields
/// may give a prefilter on raw event bytes its literals; a field no table maps is never raw.
pub fn is_raw_processes_field(field: &str) -> bool {
    let mut mapped = false;
    for table in [SYSMON_PROCESS_CREATE, SECURITY_PROCESS_CREATE] {
        for (name, source) in table {
            if *name == field {
                mapped = true;
                if !source.is_raw() {
                    return false;
                }
            }
        }
    }
    mapped && !COMPUTED_AFTER_MAPPING.contains(&field)
}

/// The node [`processes_record`] fills, as `tstats … from datamodel=Endpoint.Processes`
/// names it.
pub const PROCESSES_NODE: &str = "Processes";

/// The root node of a CIM data model, which `datamodel=<model>` alone reads.
pub fn root_node(model: &str) -> Option<&'static str> {
    Some(match model {
        "Authentication" => "Authentication",
        "Change" => "All_Changes",
        "Intrusion_Detection" => "IDS_Attacks",
        "Malware" => "Malware_Attacks",
        "Network_Resolution" => "DNS",
        "Network_Sessions" => "All_Sessions",
        "Network_Traffic" => "All_Traffic",
        "Risk" => "All_Risk",
        "Web" => "Web",
        "Email" => "All_Email",
        "Certificates" => "All_Certificates",
        "Updates" => "Updates",
        "Vulnerabilities" => "Vulnerabilities",
        "Alerts" => "Alerts",
        _ => return None,
    })
}

/// Whether events map to `model.node` (as `from datamodel=` names it). A search of any other
/// node must be refused: it would run and return no rows where Splunk returns some.
pub fn is_mapped_node(model: &str, node: &str) -> bool {
    (model, node) == ("Endpoint", PROCESSES_NODE)
}

const SYSMON_CHANNEL: &str = "Microsoft-Windows-Sysmon/Operational";

/// The `Endpoint.Processes` record of a process creation (Sysmon `EventID` 1 on its channel,
/// Security 4688); `None` for every other event, which is not part of this node.
pub fn processes_record(event: &Event) -> Option<NodeRecord> {
    let table = match (event.channel.as_str(), event.event_id) {
        (SYSMON_CHANNEL, 1) => SYSMON_PROCESS_CREATE,
        ("Security", 4688) => SECURITY_PROCESS_CREATE,
        _ => return None,
    };
    let mut fields = BTreeMap::new();
    for (field, source) in table {
        let value = match *source {
            Source::Data(name) => event.data(name).map(str::to_owned),
            Source::Basename(name) => event.data(name).map(|path| basename(path).to_owned()),
            Source::Lowercase(name) => event.data(name).map(str::to_lowercase),
            Source::Computer => Some(event.computer.clone()),
            Source::User4688 => user_4688(event),
        };
        if let Some(value) = value {
            fields.insert(*field, value);
        }
    }
    // The CIM computes `user` as `unknown` when the source leaves it empty (listed in
    // COMPUTED_AFTER_MAPPING).
    let user = fields.entry("user").or_default();
    if user.is_empty() {
        "unknown".clone_into(user);
    }
    Some(NodeRecord { node: PROCESSES_NODE, time_micros: event.time_micros, fields })
}

/// The user of a 4688. Reading taken (the add-on's exact rule is not known here): the target
/// account (the new process's token, written since Windows 10) when it names one, else the
/// subject (the creator); as `DOMAIN\name` like Sysmon's `User`, so that both sources group
/// together in `by Processes.user`. An account written as `-` or empty is no account.
fn user_4688(event: &Event) -> Option<String> {
    let account = |name: &str, domain: &str| {
        let name = event.data(name).filter(|name| !name.is_empty() && *name != "-")?;
        Some(match event.data(domain).filter(|domain| !domain.is_empty() && *domain != "-") {
            Some(domain) => format!("{domain}\\{name}"),
            None => name.to_owned(),
        })
    };
    account("TargetUserName", "TargetDomainName")
        .or_else(|| account("SubjectUserName", "SubjectDomainName"))
}

/// The file name of a Windows path: what follows the last `\` or `/`.
fn basename(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::{basename, is_raw_processes_field};

    #[test]
    fn raw_fields_are_copied_text_only() {
        for raw in ["process", "process_name", "process_path", "dest", "parent_process_name"] {
            assert!(is_raw_processes_field(raw), "{raw}");
        }
        for computed in ["user", "process_integrity_level", "_time", "no_such_field"] {
            assert!(!is_raw_processes_field(computed), "{computed}");
        }
    }

    #[test]
    fn basename_of_windows_paths() {
        assert_eq!(basename(r"C:\Windows\System32\rundll32.exe"), "rundll32.exe");
        assert_eq!(basename("rundll32.exe"), "rundll32.exe");
        assert_eq!(basename(r"C:\dir\"), "");
    }
}
