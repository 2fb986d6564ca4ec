//! CIM data model records: the rows `tstats … from datamodel=…` reads. An event becomes a
//! record of a dataset (node) when its source and `EventCode` belong to it (the member
//! table below); the record takes the dataset's CIM fields from the event's search-time fields
//! ([`crate::fields::SplunkEvent`]), then the dataset's search-time calculations run on it,
//! as Splunk's data model does (`Endpoint.Processes` fills `unknown` into an empty `user`,
//! derives `process_name` from the command line, …). The evaluator reads only records.
//!
//! The datasets, their fields and their calculations are tables written from the CIM
//! definitions (CIM 8.5, `Splunk_SA_CIM` `Endpoint.json`, `Network_Traffic.json`,
//! `Network_Resolution.json`); a test checks them against the facts in
//! `../shared/reference/cim/`. Only the datasets events are mapped to may be searched
//! ([`resolve_node`] refuses the others): a search of any other would run and return no rows
//! where Splunk returns some.
//!
//! This module defines its own CIM field tables for the datasets it maps; a general CIM field
//! table for every model may live elsewhere, and the two must agree.

use std::collections::{BTreeMap, BTreeSet};

use crate::events::Event;
use crate::fields::{Family, Origin, SplunkEvent, derived_is_verbatim};

/// One row of a CIM data model dataset, e.g. one `Endpoint.Processes` process launch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeRecord {
    /// The root dataset's name: the prefix of its fields in SPL (`Processes` in
    /// `Processes.process_name`, `All_Traffic` for every `Network_Traffic` dataset).
    pub node: &'static str,
    /// `_time`: microseconds since the Unix epoch, UTC (Splunk keeps sub-second time to the
    /// microsecond).
    pub time_micros: i64,
    /// Field name without the dataset prefix (`process_name`) to the value as Splunk holds
    /// it, plus the fields every dataset inherits: `host`, `source`, `sourcetype`. An absent
    /// field is null in SPL; an empty string is a value. A multivalue field (a DNS `answer`
    /// with several entries) is held as its values joined by newlines, the way Splunk shows
    /// one, as a record has one value per field.
    pub fields: BTreeMap<&'static str, String>,
}

impl NodeRecord {
    /// The value of `name` (without the dataset prefix), if the record has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A search-time calculation of a dataset, one of the CIM's expression shapes. Each variant
/// says the expression it evaluates, `F` being the field it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calc {
    /// `if(isnull(F) OR F="","unknown",F)`
    FillUnknown,
    /// The command-line `case` of `process_name` and `parent_process_name`: `F` when it has a
    /// value, else the executable's name taken from the command line in field `.0` by the
    /// CIM's two regular expressions, else `unknown` (see [`name_from_command`]).
    NameFromCommand(&'static str),
    /// `if(isnum(F),F,0)`
    ZeroUnlessNumber,
    /// `if(isnum(F),F,null())`
    NullUnlessNumber,
    /// `if(isnull(F) OR F="","unknown",lower(F))`
    UnknownOrLower,
    /// `case(isnum(F),F,isnum(A) AND isnum(B),A+B,1=1,null())`
    SumOf(&'static str, &'static str),
    /// `case(isnum(F),F,isnum(A) AND isnum(B),A-B,1=1,null())`
    DifferenceOf(&'static str, &'static str),
    /// `case(isnum(F),F,isnotnull(A),mvcount(A),1=1,1)`
    CountOf(&'static str),
    /// `case(isnotnull(F) AND F!="",F,isnotnull(A) AND A!="",A,1=1,"unknown")`
    FirstOrUnknown(&'static str),
    /// The `vendor_product` `case`: `vendor_product`, else `vendor product` with `unknown`
    /// for a missing half, else `sourcetype`, else `unknown`.
    VendorProduct,
    /// A lookup (`lookupName`): the CIM lookup files are not part of this tool, so the field
    /// is left absent.
    Lookup(&'static str),
}

/// A dataset's constraint on the records of its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Constraint {
    /// None: a root dataset (its tags are [`MEMBERS`]).
    All,
    /// `F=*`
    Present(&'static str),
    /// `F=value`, compared as a search compares, ignoring case.
    Equals(&'static str, &'static str),
}

/// A CIM dataset.
#[derive(Debug)]
pub struct Dataset {
    model: &'static str,
    name: &'static str,
    /// The parent dataset in the same model; `None` for a root dataset.
    parent: Option<&'static str>,
    constraint: Constraint,
    /// The dataset's own `fields[]`; calculated fields are in `calculations` only.
    fields: &'static [&'static str],
    /// The calculations, in the model's order (a later one sees an earlier one's result).
    calculations: &'static [(&'static str, Calc)],
    /// Whether events map to this dataset (or, for a child, to its root).
    mapped: bool,
}

macro_rules! unmapped {
    ($model:literal, $name:literal, $parent:expr) => {
        Dataset {
            model: $model,
            name: $name,
            parent: $parent,
            constraint: Constraint::All,
            fields: &[],
            calculations: &[],
            mapped: false,
        }
    };
}

/// Every CIM dataset of the models this tool knows, mapped or not.
static DATASETS: &[Dataset] = &[
    unmapped!("Endpoint", "Ports", None),
    Dataset {
        model: "Endpoint",
        name: "Processes",
        parent: None,
        constraint: Constraint::All,
        fields: &[
            "action",
            "cim_entity_zone",
            "cpu_load_percent",
            "dest_bunit",
            "dest_category",
            "dest_is_expected",
            "dest_priority",
            "dest_requires_av",
            "dest_should_timesync",
            "dest_should_update",
            "mem_used",
            "os",
            "parent_process_exec",
            "parent_process_guid",
            "parent_process_hash",
            "parent_process_id",
            "parent_process_path",
            "process_current_directory",
            "process_exec",
            "process_guid",
            "process_hash",
            "process_id",
            "process_integrity_level",
            "process_path",
            "tag",
            "user_bunit",
            "user_category",
            "user_id",
            "user_priority",
        ],
        calculations: &[
            ("dest", Calc::FillUnknown),
            ("loaded_file", Calc::FillUnknown),
            ("original_file_name", Calc::FillUnknown),
            ("parent_process", Calc::FillUnknown),
            ("parent_process_name", Calc::NameFromCommand("parent_process")),
            ("parent_user", Calc::FillUnknown),
            ("process", Calc::FillUnknown),
            ("process_name", Calc::NameFromCommand("process")),
            ("user", Calc::FillUnknown),
            ("vendor_product", Calc::VendorProduct),
        ],
        mapped: true,
    },
    Dataset {
        model: "Endpoint",
        name: "Services",
        parent: None,
        constraint: Constraint::All,
        fields: &[
            "cim_entity_zone",
            "description",
            "dest_bunit",
            "dest_category",
            "dest_is_expected",
            "dest_priority",
            "dest_requires_av",
            "dest_should_timesync",
            "dest_should_update",
            "process_guid",
            "process_id",
            "service_dll",
            "service_dll_hash",
            "service_dll_path",
            "service_dll_signature_exists",
            "service_dll_signature_verified",
            "service_exec",
            "service_hash",
            "service_path",
            "service_signature_exists",
            "service_signature_verified",
            "tag",
            "user_bunit",
            "user_category",
            "user_priority",
        ],
        calculations: &[
            ("dest", Calc::FillUnknown),
            ("service", Calc::FillUnknown),
            ("service_name", Calc::FillUnknown),
            ("service_id", Calc::FillUnknown),
            ("start_mode", Calc::FillUnknown),
            ("status", Calc::FillUnknown),
            ("user", Calc::FillUnknown),
            ("vendor_product", Calc::VendorProduct),
        ],
        mapped: true,
    },
    Dataset {
        model: "Endpoint",
        name: "Filesystem",
        parent: None,
        constraint: Constraint::All,
        fields: &[
            "cim_entity_zone",
            "dest_bunit",
            "dest_category",
            "dest_priority",
            "dest_requires_av",
            "dest_should_timesync",
            "dest_should_update",
            "file_access_time",
            "file_create_time",
            "file_modify_time",
            "image",
            "parent_process_exec",
            "parent_process_guid",
            "parent_process_hash",
            "parent_process_id",
            "parent_process_path",
            "process_exec",
            "process_guid",
            "process_hash",
            "process_id",
            "process_path",
            "tag",
            "user_bunit",
            "user_category",
            "user_priority",
        ],
        calculations: &[
            ("action", Calc::FillUnknown),
            ("dest", Calc::FillUnknown),
            ("file_hash", Calc::FillUnknown),
            ("file_name", Calc::FillUnknown),
            ("file_path", Calc::FillUnknown),
            ("file_acl", Calc::FillUnknown),
            ("file_size", Calc::NullUnlessNumber),
            ("parent_process", Calc::FillUnknown),
            ("parent_process_name", Calc::NameFromCommand("parent_process")),
            ("process", Calc::FillUnknown),
            ("process_name", Calc::NameFromCommand("process")),
            ("user", Calc::FillUnknown),
            ("vendor_product", Calc::VendorProduct),
        ],
        mapped: true,
    },
    Dataset {
        model: "Endpoint",
        name: "Registry",
        parent: None,
        constraint: Constraint::All,
        fields: &[
            "cim_entity_zone",
            "dest_bunit",
            "dest_category",
            "dest_priority",
            "dest_requires_av",
            "dest_should_timesync",
            "dest_should_update",
            "image",
            "parent_process_exec",
            "parent_process_guid",
            "parent_process_hash",
            "parent_process_id",
            "parent_process_path",
            "process_exec",
            "process_guid",
            "process_hash",
            "process_id",
            "process_path",
            "registry_hive",
            "registry_value_text",
            "status",
            "tag",
            "user_bunit",
            "user_category",
            "user_priority",
        ],
        calculations: &[
            ("action", Calc::FillUnknown),
            ("dest", Calc::FillUnknown),
            ("parent_process", Calc::FillUnknown),
            ("parent_process_name", Calc::NameFromCommand("parent_process")),
            ("process", Calc::FillUnknown),
            ("process_name", Calc::NameFromCommand("process")),
            ("registry_path", Calc::FillUnknown),
            ("registry_key_name", Calc::FillUnknown),
            ("registry_value_data", Calc::FillUnknown),
            ("registry_value_name", Calc::FillUnknown),
            ("registry_value_type", Calc::FillUnknown),
            ("user", Calc::FillUnknown),
            ("vendor_product", Calc::VendorProduct),
        ],
        mapped: true,
    },
    Dataset {
        model: "Network_Traffic",
        name: "All_Traffic",
        parent: None,
        constraint: Constraint::All,
        fields: &[
            "app",
            "channel",
            "cim_entity_zone",
            "dest_bunit",
            "dest_category",
            "dest_interface",
            "dest_ip",
            "dest_mac",
            "dest_priority",
            "dest_translated_ip",
            "dest_translated_port",
            "dest_zone",
            "direction",
            "duration",
            "dvc_bunit",
            "dvc_category",
            "dvc_ip",
            "dvc_mac",
            "dvc_priority",
            "dvc_zone",
            "flow_id",
            "icmp_code",
            "icmp_type",
            "process_guid",
            "process_id",
            "protocol",
            "protocol_version",
            "response_time",
            "rule_id",
            "session_id",
            "src_bunit",
            "src_category",
            "src_interface",
            "src_ip",
            "src_mac",
            "src_priority",
            "src_translated_ip",
            "src_translated_port",
            "src_zone",
            "ssid",
            "tag",
            "tcp_flag",
            "tos",
            "ttl",
            "user_bunit",
            "user_category",
            "user_priority",
            "vendor_account",
            "vlan",
            "wifi",
        ],
        calculations: &[
            ("action", Calc::FillUnknown),
            ("bytes", Calc::SumOf("bytes_in", "bytes_out")),
            ("bytes_in", Calc::DifferenceOf("bytes", "bytes_out")),
            ("bytes_out", Calc::DifferenceOf("bytes", "bytes_in")),
            ("dest", Calc::FillUnknown),
            ("dest_port", Calc::ZeroUnlessNumber),
            ("dvc", Calc::FillUnknown),
            ("packets", Calc::SumOf("packets_in", "packets_out")),
            ("packets_in", Calc::DifferenceOf("packets", "packets_out")),
            ("packets_out", Calc::DifferenceOf("packets", "packets_in")),
            ("rule", Calc::FillUnknown),
            ("src", Calc::FillUnknown),
            ("src_port", Calc::ZeroUnlessNumber),
            ("transport", Calc::UnknownOrLower),
            ("user", Calc::FillUnknown),
            ("vendor_product", Calc::VendorProduct),
        ],
        mapped: true,
    },
    Dataset {
        model: "Network_Traffic",
        name: "Traffic_By_Action",
        parent: Some("All_Traffic"),
        constraint: Constraint::Present("action"),
        fields: &[],
        calculations: &[],
        mapped: true,
    },
    Dataset {
        model: "Network_Traffic",
        name: "Allowed_Traffic",
        parent: Some("Traffic_By_Action"),
        constraint: Constraint::Equals("action", "allowed"),
        fields: &[],
        calculations: &[],
        mapped: true,
    },
    Dataset {
        model: "Network_Traffic",
        name: "Blocked_Traffic",
        parent: Some("Traffic_By_Action"),
        constraint: Constraint::Equals("action", "blocked"),
        fields: &[],
        calculations: &[],
        mapped: true,
    },
    Dataset {
        model: "Network_Resolution",
        name: "DNS",
        parent: None,
        constraint: Constraint::All,
        fields: &[
            "additional_answer_count",
            "authority_answer_count",
            "cim_entity_zone",
            "dest_bunit",
            "dest_category",
            "dest_ip",
            "dest_port",
            "dest_priority",
            "duration",
            "name",
            "query_type",
            "record_type",
            "response_time",
            "src",
            "src_bunit",
            "src_category",
            "src_ip",
            "src_port",
            "src_priority",
            "tag",
            "transaction_id",
            "transport",
            "ttl",
        ],
        calculations: &[
            ("answer", Calc::FillUnknown),
            ("answer_count", Calc::CountOf("answer")),
            ("dest", Calc::FillUnknown),
            ("message_type", Calc::FillUnknown),
            ("query", Calc::FillUnknown),
            ("query_count", Calc::CountOf("query")),
            ("reply_code_id", Calc::FirstOrUnknown("reply_code")),
            ("reply_code", Calc::Lookup("cim_dns_reply_code_lookup")),
            ("vendor_product", Calc::VendorProduct),
        ],
        mapped: true,
    },
    unmapped!("Authentication", "Authentication", None),
    unmapped!("Authentication", "Failed_Authentication", Some("Authentication")),
    unmapped!("Authentication", "Successful_Authentication", Some("Authentication")),
    unmapped!("Authentication", "Default_Authentication", Some("Authentication")),
    unmapped!("Authentication", "Failed_Default_Authentication", Some("Default_Authentication")),
    unmapped!(
        "Authentication",
        "Successful_Default_Authentication",
        Some("Default_Authentication")
    ),
    unmapped!("Authentication", "Insecure_Authentication", Some("Authentication")),
    unmapped!("Authentication", "Privileged_Authentication", Some("Authentication")),
    unmapped!(
        "Authentication",
        "Failed_Privileged_Authentication",
        Some("Privileged_Authentication")
    ),
    unmapped!(
        "Authentication",
        "Successful_Privileged_Authentication",
        Some("Privileged_Authentication")
    ),
    unmapped!("Change", "All_Changes", None),
    unmapped!("Change", "Auditing_Changes", Some("All_Changes")),
    unmapped!("Change", "Endpoint_Changes", Some("All_Changes")),
    unmapped!("Change", "Endpoint_Restarts", Some("Endpoint_Changes")),
    unmapped!("Change", "Other_Endpoint_Changes", Some("Endpoint_Changes")),
    unmapped!("Change", "Network_Changes", Some("All_Changes")),
    unmapped!("Change", "Device_Restarts", Some("Network_Changes")),
    unmapped!("Change", "Account_Management", Some("All_Changes")),
    unmapped!("Change", "Accounts_Created", Some("Account_Management")),
    unmapped!("Change", "Accounts_Deleted", Some("Account_Management")),
    unmapped!("Change", "Account_Lockouts", Some("Account_Management")),
    unmapped!("Change", "Accounts_Updated", Some("Account_Management")),
    unmapped!("Change", "Instance_Changes", Some("All_Changes")),
];

/// Which events belong to which root dataset: the add-ons tag them so (`tag=process
/// tag=report` for `Endpoint.Processes`, …); each event belongs to at most one.
struct Member {
    family: Family,
    code: u32,
    dataset: &'static str,
    /// A further condition on the event, when the `EventCode` alone does not decide.
    only_if: Option<fn(&Event) -> bool>,
}

/// The events each mapped root dataset holds.
///
/// - `Processes`: Sysmon 1, Security 4688 (reference §6). The Sysmon add-on's
///   `ms-sysmon-process` eventtype also tags 5, 6, 8, 9, 10, 15, 17, 18 as `process report`;
///   they are not mapped here (their CIM fields are not known well enough to give rows).
/// - `Registry`: Sysmon 12, 13, 14; Security 4657.
/// - `Filesystem`: Sysmon 11, 23, 26; Security 4663 on a file (`ObjectType=File`).
/// - `Services`: System 7045, Security 4697.
/// - `All_Traffic`: Sysmon 3. `DNS`: Sysmon 22.
const MEMBERS: &[Member] = &[
    Member { family: Family::Sysmon, code: 1, dataset: "Processes", only_if: None },
    Member { family: Family::Security, code: 4688, dataset: "Processes", only_if: None },
    Member { family: Family::Sysmon, code: 12, dataset: "Registry", only_if: None },
    Member { family: Family::Sysmon, code: 13, dataset: "Registry", only_if: None },
    Member { family: Family::Sysmon, code: 14, dataset: "Registry", only_if: None },
    Member { family: Family::Security, code: 4657, dataset: "Registry", only_if: None },
    Member { family: Family::Sysmon, code: 11, dataset: "Filesystem", only_if: None },
    Member { family: Family::Sysmon, code: 23, dataset: "Filesystem", only_if: None },
    Member { family: Family::Sysmon, code: 26, dataset: "Filesystem", only_if: None },
    Member {
        family: Family::Security,
        code: 4663,
        dataset: "Filesystem",
        only_if: Some(is_file_object),
    },
    Member { family: Family::System, code: 7045, dataset: "Services", only_if: None },
    Member { family: Family::Security, code: 4697, dataset: "Services", only_if: None },
    Member { family: Family::Sysmon, code: 3, dataset: "All_Traffic", only_if: None },
    Member { family: Family::Sysmon, code: 22, dataset: "DNS", only_if: None },
];

fn is_file_object(event: &Event) -> bool {
    event.data("ObjectType").is_some_and(|kind| kind.eq_ignore_ascii_case("File"))
}

/// Why a data model or dataset cannot be searched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataModelError {
    /// A model this tool does not know.
    #[error(
        "data model `{0}`: no event maps to it here (mapped: Endpoint, Network_Traffic, \
         Network_Resolution)"
    )]
    UnknownModel(String),
    /// A dataset name the model does not have.
    #[error("data model `{model}` has no dataset `{node}` (its datasets: {known})")]
    UnknownNode {
        /// The model.
        model: String,
        /// The name asked for.
        node: String,
        /// The model's datasets.
        known: String,
    },
    /// A CIM dataset no event maps to: a search of it would return no rows where Splunk
    /// returns some.
    #[error("`{model}.{node}`: no event maps to this dataset here")]
    NotMapped {
        /// The model.
        model: String,
        /// The dataset.
        node: String,
    },
    /// A model with several root datasets named without one.
    #[error("data model `{model}` has several root datasets ({roots}): name one")]
    NoRoot {
        /// The model.
        model: String,
        /// Its root datasets.
        roots: String,
    },
    /// A `nodename=` that is not the dataset of `datamodel=` or below it.
    #[error("nodename `{nodename}` is not within `{datamodel}`")]
    Mismatch {
        /// `datamodel=` as written.
        datamodel: String,
        /// `nodename=` as written.
        nodename: String,
    },
}

/// A dataset a search reads, as [`resolve_node`] found it.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    dataset: &'static Dataset,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.dataset, other.dataset)
    }
}

impl Eq for Node {}

fn dataset(model: &str, name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|each| each.model == model && each.name == name)
}

impl Node {
    /// The data model (`Network_Traffic`).
    pub fn model(&self) -> &'static str {
        self.dataset.model
    }

    /// The dataset's own name (`Allowed_Traffic`).
    pub fn name(&self) -> &'static str {
        self.dataset.name
    }

    /// The datasets from the root to this one, as `nodename=` writes them
    /// (`All_Traffic.Traffic_By_Action.Allowed_Traffic`).
    pub fn path(&self) -> String {
        let mut names = vec![self.dataset.name];
        let mut at = self.dataset;
        while let Some(parent) = at.parent.and_then(|parent| dataset(at.model, parent)) {
            names.push(parent.name);
            at = parent;
        }
        names.reverse();
        names.join(".")
    }

    /// The root dataset, whose name prefixes every field in SPL.
    #[must_use]
    pub fn root(&self) -> Node {
        let mut at = self.dataset;
        while let Some(parent) = at.parent.and_then(|parent| dataset(at.model, parent)) {
            at = parent;
        }
        Node { dataset: at }
    }

    /// The prefix of the dataset's fields in SPL (`All_Traffic` for `Allowed_Traffic`).
    pub fn prefix(&self) -> &'static str {
        self.root().dataset.name
    }

    /// Every field a record of this dataset can have, without the prefix: the CIM fields
    /// and calculated fields of its root, and the inherited `host`, `source`, `sourcetype`.
    /// `_time` is every record's time.
    pub fn fields(&self) -> Vec<&'static str> {
        sorted_fields(self.root().dataset).to_vec()
    }

    /// The dataset's calculations, in order (a child's are its root's).
    pub fn calculations(&self) -> &'static [(&'static str, Calc)] {
        self.root().dataset.calculations
    }

    /// The dataset's own CIM fields (its `fields[]`; calculated fields are not among them).
    pub fn cim_fields(&self) -> &'static [&'static str] {
        self.dataset.fields
    }

    /// The dataset's constraint on its parent's records, as the CIM writes it (`action=*`,
    /// `action=allowed`); `None` for a root dataset.
    pub fn constraint(&self) -> Option<String> {
        match self.dataset.constraint {
            Constraint::All => None,
            Constraint::Present(field) => Some(format!("{field}=*")),
            Constraint::Equals(field, value) => Some(format!("{field}={value}")),
        }
    }

    /// The fields [`Node::selects`] reads: those of the constraints on the way down.
    pub(crate) fn constraint_fields(self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut at = self.dataset;
        loop {
            match at.constraint {
                Constraint::All => {}
                Constraint::Present(field) | Constraint::Equals(field, _) => fields.push(field),
            }
            match at.parent.and_then(|parent| dataset(at.model, parent)) {
                Some(parent) => at = parent,
                None => return fields,
            }
        }
    }

    /// Whether `record` is one of this dataset's: of its root and passing the constraint of
    /// every dataset on the way down.
    pub fn selects(&self, record: &NodeRecord) -> bool {
        if record.node != self.prefix() {
            return false;
        }
        let mut at = self.dataset;
        loop {
            let holds = match at.constraint {
                Constraint::All => true,
                Constraint::Present(field) => record.field(field).is_some(),
                Constraint::Equals(field, want) => {
                    record.field(field).is_some_and(|value| value.eq_ignore_ascii_case(want))
                }
            };
            if !holds {
                return false;
            }
            match at.parent.and_then(|parent| dataset(at.model, parent)) {
                Some(parent) => at = parent,
                None => return true,
            }
        }
    }

    /// How `field` (without the prefix) of this dataset's records relates to the raw text of
    /// the XML export events they come from; see [`Provenance`].
    pub fn provenance(&self, field: &str) -> Provenance {
        provenance(self.prefix(), field)
    }
}

/// A root dataset's fields, calculated fields and inherited ones, sorted: computed once.
fn sorted_fields(root: &'static Dataset) -> &'static [&'static str] {
    static SORTED: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    let all = SORTED.get_or_init(|| {
        DATASETS
            .iter()
            .map(|dataset| {
                let mut fields: Vec<&'static str> = dataset.fields.to_vec();
                fields.extend(dataset.calculations.iter().map(|(name, _)| *name));
                fields.extend(INHERITED);
                fields.sort_unstable();
                fields.dedup();
                fields
            })
            .collect()
    });
    let at = DATASETS.iter().position(|each| std::ptr::eq(each, root)).unwrap_or(0);
    all.get(at).map_or(&[], Vec::as_slice)
}

/// Fields every dataset inherits from Splunk's `BaseEvent` (besides `_time`).
const INHERITED: [&str; 3] = ["host", "source", "sourcetype"];

/// The dataset a search reads: `datamodel` is `<model>` or `<model>.<dataset>` (or a path of
/// datasets after the model), `nodename` a dotted path of datasets from a root
/// (`All_Traffic.Traffic_By_Action.Allowed_Traffic`) or one dataset's name (`DNS`). Without
/// either dataset the model's only root dataset is meant (`datamodel=Network_Traffic`).
///
/// Splunk, tstats: "`datamodel=<data_model_name>.<root_dataset_name>`" and "nodename: the
/// name of the node (dataset) … in the data model".
pub fn resolve_node(datamodel: &str, nodename: Option<&str>) -> Result<Node, DataModelError> {
    let (model, path) = match datamodel.split_once('.') {
        Some((model, path)) => (model, Some(path)),
        None => (datamodel, None),
    };
    let Some(model) = DATASETS.iter().map(|each| each.model).find(|known| *known == model) else {
        return Err(DataModelError::UnknownModel(model.to_owned()));
    };
    let named = path.map(|path| find_dataset(model, path)).transpose()?;
    let node = match (named, nodename) {
        (named, Some(nodename)) => {
            let node = find_dataset(model, nodename)?;
            if let Some(named) = named
                && !is_within(node, named)
            {
                return Err(DataModelError::Mismatch {
                    datamodel: datamodel.to_owned(),
                    nodename: nodename.to_owned(),
                });
            }
            node
        }
        (Some(named), None) => named,
        (None, None) => {
            let roots: Vec<&'static Dataset> = DATASETS
                .iter()
                .filter(|each| each.model == model && each.parent.is_none())
                .collect();
            let [root] = roots.as_slice() else {
                let root_names: Vec<&str> = roots.iter().map(|root| root.name).collect();
                return Err(DataModelError::NoRoot {
                    model: model.to_owned(),
                    roots: root_names.join(", "),
                });
            };
            Node { dataset: root }
        }
    };
    if !node.dataset.mapped {
        return Err(DataModelError::NotMapped {
            model: model.to_owned(),
            node: node.dataset.name.to_owned(),
        });
    }
    Ok(node)
}

/// The dataset `path` names in `model`: its last name, which must be a dataset whose
/// ancestors are the names before it.
fn find_dataset(model: &'static str, path: &str) -> Result<Node, DataModelError> {
    let unknown = |name: &str| {
        let known: Vec<&str> =
            DATASETS.iter().filter(|each| each.model == model).map(|each| each.name).collect();
        DataModelError::UnknownNode {
            model: model.to_owned(),
            node: name.to_owned(),
            known: known.join(", "),
        }
    };
    let last = path.rsplit('.').next().unwrap_or(path);
    let node = Node { dataset: dataset(model, last).ok_or_else(|| unknown(path))? };
    if path.contains('.') && node.path() != path {
        return Err(unknown(path));
    }
    Ok(node)
}

fn is_within(node: Node, ancestor: Node) -> bool {
    let mut at = node.dataset;
    loop {
        if std::ptr::eq(at, ancestor.dataset) {
            return true;
        }
        match at.parent.and_then(|parent| dataset(at.model, parent)) {
            Some(parent) => at = parent,
            None => return false,
        }
    }
}

/// Whether events map to `model.node` (as `from datamodel=` names it). A search of any other
/// dataset must be refused: it would run and return no rows where Splunk returns some.
pub fn is_mapped_node(model: &str, node: &str) -> bool {
    resolve_node(&format!("{model}.{node}"), None).is_ok()
}

/// The `EventCode`s of the events whose records `model.node` holds (those of its root
/// dataset's members, whatever their family), or `None` when no event maps to it.
pub fn node_event_codes(model: &str, node: &str) -> Option<BTreeSet<u32>> {
    let root = resolve_node(&format!("{model}.{node}"), None).ok()?.root();
    Some(
        member_datasets()
            .iter()
            .filter(|(_, dataset)| std::ptr::eq(*dataset, root.dataset))
            .map(|(member, _)| member.code)
            .collect(),
    )
}

/// The dataset of process launches, as `tstats … from datamodel=Endpoint.Processes` names it.
pub const PROCESSES_NODE: &str = "Processes";

/// The record `view`'s event gives, if it belongs to a mapped dataset: the dataset's CIM
/// fields the event has, then the dataset's calculations. Classic text events give records
/// as XML ones do (a classic 4688 is a process launch to the Windows add-on too).
pub fn node_record(view: &SplunkEvent<'_>) -> Option<NodeRecord> {
    let event = view.event();
    let (_, root) = member_datasets().iter().find(|(member, _)| {
        member.family == view.family()
            && member.code == event.event_id
            && member.only_if.is_none_or(|holds| holds(event))
    })?;
    let node = Node { dataset: root };
    let mut found = Vec::with_capacity(32);
    view.fields_among(sorted_fields(node.dataset), &mut |name, value| {
        found.push((name, value.into_joined()));
    });
    let mut fields: BTreeMap<&'static str, String> = found.into_iter().collect();
    if node.dataset.name == PROCESSES_NODE {
        // The base search: `| eval process_integrity_level=lower(process_integrity_level)`.
        if let Some(level) = fields.get_mut("process_integrity_level") {
            *level = level.to_lowercase();
        }
    }
    for (name, calc) in node.dataset.calculations {
        calculate(&mut fields, name, *calc);
    }
    Some(NodeRecord { node: root.name, time_micros: event.time_micros, fields })
}

/// Each of [`MEMBERS`] with its root dataset, found once.
fn member_datasets() -> &'static [(&'static Member, &'static Dataset)] {
    static FOUND: std::sync::OnceLock<Vec<(&'static Member, &'static Dataset)>> =
        std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        MEMBERS
            .iter()
            .filter_map(|member| {
                let root = DATASETS
                    .iter()
                    .find(|each| each.name == member.dataset && each.parent.is_none())?;
                Some((member, root))
            })
            .collect()
    })
}

/// The record of `event`'s dataset, any mapped dataset (the name is older than the other
/// datasets), with `source`, `sourcetype` and `host` derived from the event.
pub fn processes_record(event: &Event) -> Option<NodeRecord> {
    let origin = Origin::derived();
    node_record(&SplunkEvent::new(event, &origin))
}

/// What a calculation does to its field: `Keep` leaves it as it is.
enum Change {
    Keep,
    Set(String),
    Remove,
}

/// Runs one calculation over a record's fields, as the CIM expression it stands for.
pub fn calculate(fields: &mut BTreeMap<&'static str, String>, name: &'static str, calc: Calc) {
    let present = |fields: &BTreeMap<&'static str, String>, field: &str| {
        fields.get(field).is_some_and(|value| !value.is_empty())
    };
    let number = |fields: &BTreeMap<&'static str, String>, field: &str| {
        fields.get(field).and_then(|value| splunk_number(value))
    };
    let change = match calc {
        Calc::FillUnknown | Calc::NameFromCommand(_) | Calc::UnknownOrLower
            if present(fields, name) =>
        {
            match calc {
                Calc::UnknownOrLower => {
                    let value = fields.get(name).map(|value| value.to_lowercase());
                    value.map_or(Change::Keep, Change::Set)
                }
                _ => Change::Keep,
            }
        }
        Calc::FillUnknown | Calc::UnknownOrLower => Change::Set("unknown".to_owned()),
        Calc::NameFromCommand(command) => Change::Set(
            fields
                .get(command)
                .filter(|command| !command.is_empty())
                .and_then(|command| name_from_command(command))
                .unwrap_or_else(|| "unknown".to_owned()),
        ),
        Calc::ZeroUnlessNumber => {
            if number(fields, name).is_some() {
                Change::Keep
            } else {
                Change::Set("0".to_owned())
            }
        }
        Calc::NullUnlessNumber => {
            if number(fields, name).is_some() {
                Change::Keep
            } else {
                Change::Remove
            }
        }
        Calc::SumOf(_, _) | Calc::DifferenceOf(_, _) | Calc::CountOf(_)
            if number(fields, name).is_some() =>
        {
            Change::Keep
        }
        Calc::SumOf(a, b) => match number(fields, a).zip(number(fields, b)) {
            Some((a, b)) => Change::Set(format_number(a + b)),
            None => Change::Remove,
        },
        Calc::DifferenceOf(a, b) => match number(fields, a).zip(number(fields, b)) {
            Some((a, b)) => Change::Set(format_number(a - b)),
            None => Change::Remove,
        },
        Calc::CountOf(of) => {
            Change::Set(fields.get(of).map_or(1, |values| values.split('\n').count()).to_string())
        }
        Calc::FirstOrUnknown(_) if present(fields, name) => Change::Keep,
        Calc::FirstOrUnknown(other) => Change::Set(
            fields
                .get(other)
                .filter(|value| !value.is_empty())
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned()),
        ),
        Calc::VendorProduct if fields.contains_key("vendor_product") => Change::Keep,
        Calc::VendorProduct => Change::Set(vendor_product(fields)),
        Calc::Lookup(_) => Change::Remove,
    };
    match change {
        Change::Keep => {}
        Change::Set(value) => {
            fields.insert(name, value);
        }
        Change::Remove => {
            fields.remove(name);
        }
    }
}

/// The `vendor_product` `case` of every CIM dataset.
fn vendor_product(fields: &BTreeMap<&'static str, String>) -> String {
    if let Some(value) = fields.get("vendor_product") {
        return value.clone();
    }
    let known = |field: &str| fields.get(field).filter(|value| *value != "unknown");
    match (known("vendor"), known("product")) {
        (Some(vendor), Some(product)) => format!("{vendor} {product}"),
        (Some(vendor), None) => format!("{vendor} unknown"),
        (None, Some(product)) => format!("unknown {product}"),
        (None, None) => fields.get("sourcetype").cloned().unwrap_or_else(|| "unknown".to_owned()),
    }
}

/// A value as `isnum` sees it: a number written in decimal, maybe signed or with a fraction.
fn splunk_number(value: &str) -> Option<f64> {
    let trimmed = value.trim();
    let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    trimmed.parse().ok()
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// PCRE's `\s`: space, tab, line feed, vertical tab, form feed, carriage return.
fn is_pcre_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The executable's name from a command line, as the CIM's `process_name` calculation takes
/// it: `replace(process, A, "\1")` when `match(process, A)`, else the same with B, else
/// `None`, where (PCRE, `.` not matching a line feed)
///
/// - A: `^\s*(?:"..*\\([^"]+)").*`: a quoted path; the name is what follows its last
///   backslash on the first line (greedy), up to the next quote;
/// - B: `^(?:..*\\)?([^\s"]+)(?=\s|$).*`: an unquoted word after the last backslash on the
///   first line, or the first word.
///
/// `replace` substitutes the match only, so the command line's lines after the first stay
/// after the name, as in Splunk.
pub fn name_from_command(command: &str) -> Option<String> {
    let bytes = command.as_bytes();
    let line_end = |from: usize| {
        bytes
            .get(from..)
            .and_then(|rest| memchr::memchr(b'\n', rest))
            .map_or(bytes.len(), |at| from + at)
    };
    let joined = |group: std::ops::Range<usize>, end: usize| {
        let mut name = command.get(group)?.to_owned();
        name.push_str(command.get(line_end(end)..)?);
        Some(name)
    };
    // A.
    let quote = bytes.iter().position(|b| !is_pcre_space(*b));
    if let Some(quote) = quote.filter(|at| bytes.get(*at) == Some(&b'"')) {
        let first_line_end = line_end(quote + 1);
        for backslash in (quote + 2..first_line_end).rev() {
            if bytes.get(backslash) != Some(&b'\\') {
                continue;
            }
            let after = backslash + 1;
            let close = bytes.get(after..).and_then(|rest| memchr::memchr(b'"', rest));
            if let Some(close) = close.filter(|at| *at > 0).map(|at| after + at) {
                return joined(after..close, close + 1);
            }
        }
    }
    // B.
    let word = |start: usize| {
        let end = start
            + bytes
                .get(start..)?
                .iter()
                .position(|b| is_pcre_space(*b) || *b == b'"')
                .unwrap_or(bytes.len() - start);
        (end > start && bytes.get(end) != Some(&b'"')).then(|| joined(start..end, end))?
    };
    let first_line_end = line_end(0);
    for backslash in (1..first_line_end).rev() {
        if bytes.get(backslash) == Some(&b'\\')
            && let Some(name) = word(backslash + 1)
        {
            return Some(name);
        }
    }
    word(0)
}

/// How a dataset field's values relate to the raw text of XML export events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Provenance {
    /// Every value is a verbatim substring of the event's `_raw`.
    Verbatim,
    /// Every value is a verbatim substring of `_raw` or this fixed value (`unknown`, which a
    /// calculation fills into an empty field).
    VerbatimOr(&'static str),
    /// Values are computed (lower-cased, looked up, joined, cut from the command line).
    Computed,
}

/// [`Node::provenance`] for the root dataset named `prefix`; `Computed` for anything not known.
pub fn provenance(prefix: &str, field: &str) -> Provenance {
    let Some(root) =
        DATASETS.iter().find(|each| each.name == prefix && each.parent.is_none() && each.mapped)
    else {
        return Provenance::Computed;
    };
    if INHERITED.contains(&field) {
        return Provenance::Computed;
    }
    if prefix == PROCESSES_NODE && field == "process_integrity_level" {
        return Provenance::Computed;
    }
    let from_events = MEMBERS
        .iter()
        .filter(|member| member.dataset == root.name)
        .all(|member| derived_is_verbatim(member.family, member.code, field).unwrap_or(true));
    match root.calculations.iter().find(|(name, _)| *name == field) {
        None if from_events => Provenance::Verbatim,
        Some((_, Calc::FillUnknown)) if from_events => Provenance::VerbatimOr("unknown"),
        _ => Provenance::Computed,
    }
}

/// Whether an `Endpoint.Processes` field's values are verbatim text of the event in every
/// record (no calculation fills or computes it): only such fields may give a prefilter on
/// raw event bytes its literals unconditionally. A field no table maps is never raw.
pub fn is_raw_processes_field(field: &str) -> bool {
    let root = DATASETS.iter().find(|each| each.name == PROCESSES_NODE);
    let known = root.is_some_and(|root| {
        root.fields.contains(&field) || root.calculations.iter().any(|(name, _)| *name == field)
    });
    known && provenance(PROCESSES_NODE, field) == Provenance::Verbatim
}

/// Whether a search term on `field` of the root dataset `prefix` whose pattern holds these
/// (lower-cased) literals may give them to a prefilter: every record the term selects then
/// holds each literal in its event's raw text. True for verbatim fields; for a field that
/// may hold a filled value, only when some literal is not in that value (so the pattern
/// cannot match it); never for computed fields.
pub fn literals_are_sound(prefix: &str, field: &str, literals: &[String]) -> bool {
    match provenance(prefix, field) {
        Provenance::Verbatim => true,
        Provenance::VerbatimOr(fill) => {
            literals.iter().any(|literal| !fill.contains(literal.to_lowercase().as_str()))
        }
        Provenance::Computed => false,
    }
}

/// Every mapped dataset, as `nodename=` would name it: for the tests and error messages.
pub fn mapped_nodes() -> impl Iterator<Item = Node> {
    DATASETS.iter().filter(|each| each.mapped).map(|dataset| Node { dataset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_are_copied_text_only() {
        for raw in ["process_path", "process_id", "parent_process_path", "process_guid"] {
            assert!(is_raw_processes_field(raw), "{raw}");
        }
        for computed in
            ["user", "process_integrity_level", "process", "process_name", "_time", "no_such_field"]
        {
            assert!(!is_raw_processes_field(computed), "{computed}");
        }
        assert_eq!(provenance("Processes", "process"), Provenance::VerbatimOr("unknown"));
        assert!(literals_are_sound("Processes", "process", &["comsvcs.dll".to_owned()]));
        assert!(!literals_are_sound("Processes", "process", &["know".to_owned()]));
    }

    #[test]
    fn command_line_names() {
        let name = |command: &str| name_from_command(command);
        assert_eq!(name(r#""C:\Windows\system32\cmd.exe" /c x"#).as_deref(), Some("cmd.exe"));
        assert_eq!(name(r"C:\Windows\rundll32.exe a,b").as_deref(), Some("rundll32.exe"));
        assert_eq!(name("rundll32 comsvcs.dll").as_deref(), Some("rundll32"));
        // Greedy: the last backslash before a quote-delimited run wins.
        assert_eq!(name(r#""C:\a\b.exe" "C:\x\y""#).as_deref(), Some("y"));
        assert_eq!(name("\"unterminated").as_deref(), None);
        assert_eq!(name("a\nsecond").as_deref(), Some("a\nsecond"));
    }
}
