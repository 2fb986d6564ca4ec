//! The derived-field tables: per event source (and per `EventCode` where the add-on
//! distinguishes), each field the add-on adds at search time and the [`Rule`] that gives it.
//!
//! # Where the rules come from
//!
//! The fact base is `security_content`'s `data_sources/*.yml` (2024-10-24): per source and
//! `EventCode`, the field list the add-ons produce on attack data and an `example_log`. Each
//! field here is in that list for its source (a test checks it), except where noted. The rule
//! for each is the add-on's behaviour as far as public documentation and the data show it;
//! where they do not, the reading taken is said at the entry ("reading:"). Names are
//! case-sensitive, as Splunk's field names are.
//!
//! - Windows add-on (Security, System, Application, PowerShell, other channels): `EventCode`
//!   is `EventID`; `RecordNumber` is `EventRecordID`; `dest`, `dvc` and `dvc_nt_host` are the
//!   `Computer`; `user_id` the `Security/@UserID`; `vendor`/`product`/`vendor_product` the
//!   constants `Microsoft`/`Windows`/`Microsoft Windows`; the Security log's classic-era names
//!   (`Caller_User_Name`, `Target_User_Name`, `Logon_Type`, `Source_Workstation`, …) alias the
//!   XML names; `signature` is the event's title as Microsoft documents it.
//! - Sysmon add-on: the `Image` of the acting process gives `process_path`, `process_name` and
//!   `process_exec`; per `EventCode` the CIM fields of the event's data model node
//!   (`parent_process*` for 1, `file_*` for 11/23/26, `registry_*` for 12/13/14, `src*`/`dest*`
//!   for 3, `query`/`answer` for 22) and `vendor_product` `Microsoft Sysmon`.

use std::borrow::Cow;

use super::{SplunkEvent, Val};
use crate::events::Event;

/// The add-on family an event belongs to, by its channel (a classic event's `LogName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Family {
    /// `Microsoft-Windows-Sysmon/Operational`: the Splunk Add-on for Sysmon.
    Sysmon,
    /// `Security`: the Splunk Add-on for Microsoft Windows.
    Security,
    /// `System`: the Windows add-on.
    System,
    /// `Microsoft-Windows-PowerShell/Operational` and `Windows PowerShell`: the Windows add-on.
    PowerShell,
    /// `Application` and `Microsoft-Windows-TaskScheduler/Operational`: the Windows add-on,
    /// which gives these a `dest`.
    Application,
    /// Any other channel (Defender, `PrintService`, `CAPI2`, …): the Windows add-on's fields
    /// common to every event.
    Windows,
}

impl Family {
    /// The family of `event`'s channel.
    pub fn of(event: &Event) -> Family {
        let channel = event.channel.as_str();
        let is = |name: &str| channel.eq_ignore_ascii_case(name);
        if is("Microsoft-Windows-Sysmon/Operational") {
            Family::Sysmon
        } else if is("Security") {
            Family::Security
        } else if is("System") {
            Family::System
        } else if is("Microsoft-Windows-PowerShell/Operational") || is("Windows PowerShell") {
            Family::PowerShell
        } else if is("Application") || is("Microsoft-Windows-TaskScheduler/Operational") {
            Family::Application
        } else {
            Family::Windows
        }
    }
}

/// A table of derived fields: name and rule, looked up by name.
pub(crate) type Table = &'static [(&'static str, Rule)];

/// Where a derived field's value comes from. The fields a rule reads are fields as extracted
/// from the event (System, `Data`), never other derived fields.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// Another field as it is (`FIELDALIAS`).
    Alias(&'static str),
    /// The first of these fields that has a value other than empty or `-` (Windows writes
    /// `-` for "none").
    FirstOf(&'static [&'static str]),
    /// The file name after the last `\` (or `/`) of the first of these path fields the event
    /// has.
    Basename(&'static [&'static str]),
    /// A field lower-cased.
    Lower(&'static str),
    /// A fixed value.
    Const(&'static str),
    /// The value after `KEY=` in a comma-separated `KEY=value,…` field (Sysmon's `Hashes`).
    Keyed(&'static str, &'static str),
    /// A field split at `;` into values, trimmed, empty ones and `-` left out.
    Split(&'static str),
    /// The value of the first of these fields the event has, looked up (ignoring case) in a
    /// fixed table.
    Lookup(&'static [&'static str], &'static [(&'static str, &'static str)]),
    /// No value for these events, whatever a wider table gives.
    Absent,
    /// Computed by a function; `verbatim` says whether its value is always a slice of
    /// `_raw` when the event's values are.
    Computed { eval: for<'a> fn(&SplunkEvent<'a>) -> Option<Val<'a>>, verbatim: bool },
}

impl Rule {
    /// The value for `view`, if its sources are there.
    pub(crate) fn eval<'a>(&self, view: &SplunkEvent<'a>) -> Option<Val<'a>> {
        match *self {
            Rule::Alias(name) => view.extracted(name),
            Rule::FirstOf(names) => names.iter().find_map(|name| {
                view.extracted(name).filter(|value| {
                    value.first().is_some_and(|first| !first.is_empty() && first != "-")
                })
            }),
            Rule::Basename(names) => names
                .iter()
                .find_map(|name| view.extracted(name))
                .map(|value| map_slices(value, basename)),
            Rule::Lower(name) => {
                view.extracted(name).map(|value| map_owned(value, str::to_lowercase))
            }
            Rule::Const(value) => Some(Val::one(value)),
            Rule::Keyed(name, key) => {
                let value = view.extracted(name)?;
                keyed(borrowed_first(&value)?, key).map(Val::one)
            }
            Rule::Split(name) => {
                let value = view.extracted(name)?;
                let pieces: Vec<Cow<'a, str>> = borrowed_first(&value)?
                    .split(';')
                    .map(str::trim)
                    .filter(|piece| !piece.is_empty() && *piece != "-")
                    .map(Cow::Borrowed)
                    .collect();
                match pieces.len() {
                    0 => None,
                    1 => pieces.into_iter().next().map(Val::One),
                    _ => Some(Val::Many(pieces)),
                }
            }
            Rule::Lookup(names, table) => {
                let value = names.iter().find_map(|name| view.extracted(name))?;
                let value = value.first()?.trim();
                table
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(value))
                    .map(|(_, out)| Val::one(*out))
            }
            Rule::Absent => None,
            Rule::Computed { eval, .. } => eval(view),
        }
    }

    /// Whether every value the rule gives is a slice of `_raw` when the event's extracted
    /// values are.
    pub(crate) fn is_verbatim(&self) -> bool {
        match self {
            Rule::Alias(_)
            | Rule::FirstOf(_)
            | Rule::Basename(_)
            | Rule::Keyed(..)
            | Rule::Split(_)
            | Rule::Absent => true,
            Rule::Lower(_) | Rule::Const(_) | Rule::Lookup(..) => false,
            Rule::Computed { verbatim, .. } => *verbatim,
        }
    }
}

/// The first value of an extracted field as a slice of the event (extracted values always
/// borrow from it).
fn borrowed_first<'a>(value: &Val<'a>) -> Option<&'a str> {
    match value {
        Val::One(Cow::Borrowed(text)) => Some(text),
        Val::Many(values) => match values.first() {
            Some(Cow::Borrowed(text)) => Some(text),
            _ => None,
        },
        Val::One(Cow::Owned(_)) => None,
    }
}

fn map_slices<'a>(value: Val<'a>, f: fn(&str) -> &str) -> Val<'a> {
    let one = |value: Cow<'a, str>| match value {
        Cow::Borrowed(text) => Cow::Borrowed(f(text)),
        Cow::Owned(text) => Cow::Owned(f(&text).to_owned()),
    };
    match value {
        Val::One(value) => Val::One(one(value)),
        Val::Many(values) => Val::Many(values.into_iter().map(one).collect()),
    }
}

fn map_owned(value: Val<'_>, f: fn(&str) -> String) -> Val<'_> {
    match value {
        Val::One(value) => Val::One(Cow::Owned(f(&value))),
        Val::Many(values) => Val::Many(values.iter().map(|value| Cow::Owned(f(value))).collect()),
    }
}

/// The file name of a Windows path: what follows the last `\` or `/`.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// The value of `key` in `MD5=…,SHA256=…,IMPHASH=…`.
fn keyed<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        name.trim().eq_ignore_ascii_case(key).then_some(value.trim())
    })
}

/// The rule for `name` in `table`.
pub(crate) fn rule(table: Table, name: &str) -> Option<&'static Rule> {
    table.iter().find(|(field, _)| *field == name).map(|(_, rule)| rule)
}

const EMPTY: Table = &[];

/// The tables that apply to an event of `family` and `code`, most specific first: the
/// `EventCode`'s own, the one it shares with related codes, the family's, the add-on's, and
/// the fields of every event.
pub(crate) fn tables_for(family: Family, code: u32) -> [Table; 6] {
    let by_code = |codes: &'static [(u32, Table)]| {
        codes.iter().find(|(each, _)| *each == code).map_or(EMPTY, |(_, table)| *table)
    };
    match family {
        Family::Sysmon => {
            let shared = if matches!(code, 12..=14) { SYSMON_REGISTRY } else { EMPTY };
            [by_code(SYSMON_BY_CODE), shared, SYSMON, EMPTY, EMPTY, COMMON]
        }
        Family::Security => {
            let shared = SECURITY_SHARED
                .iter()
                .find(|(codes, _)| codes.contains(&code))
                .map_or(EMPTY, |(_, table)| *table);
            [by_code(SECURITY_BY_CODE), shared, SECURITY, VENDOR_AND_DEST, WINDOWS_ADDON, COMMON]
        }
        Family::System => {
            [by_code(SYSTEM_BY_CODE), EMPTY, EMPTY, VENDOR_AND_DEST, WINDOWS_ADDON, COMMON]
        }
        Family::Application => [EMPTY, EMPTY, EMPTY, DEST, WINDOWS_ADDON, COMMON],
        Family::PowerShell | Family::Windows => [EMPTY, EMPTY, EMPTY, EMPTY, WINDOWS_ADDON, COMMON],
    }
}

/// Every table and the source it applies to, for checks over all of them.
pub(crate) fn all_tables() -> impl Iterator<Item = (Family, Option<u32>, Table)> {
    let family = |family: Family, tables: &'static [Table]| {
        tables.iter().map(move |table| (family, None, *table))
    };
    let codes = |family: Family, codes: &'static [(u32, Table)]| {
        codes.iter().map(move |(code, table)| (family, Some(*code), *table))
    };
    family(Family::Sysmon, &[SYSMON, SYSMON_REGISTRY, COMMON])
        .chain(codes(Family::Sysmon, SYSMON_BY_CODE))
        .chain(family(Family::Security, &[SECURITY, VENDOR_AND_DEST, WINDOWS_ADDON, COMMON]))
        .chain(SECURITY_SHARED.iter().map(|(_, table)| (Family::Security, None, *table)))
        .chain(codes(Family::Security, SECURITY_BY_CODE))
        .chain(family(Family::System, &[VENDOR_AND_DEST, WINDOWS_ADDON, COMMON]))
        .chain(codes(Family::System, SYSTEM_BY_CODE))
        .chain(family(Family::Application, &[DEST, WINDOWS_ADDON, COMMON]))
        .chain(family(Family::PowerShell, &[WINDOWS_ADDON, COMMON]))
        .chain(family(Family::Windows, &[WINDOWS_ADDON, COMMON]))
}

/// Every rule that derives `name`, in any table.
pub(crate) fn every_rule_named(name: &str) -> impl Iterator<Item = &'static Rule> + '_ {
    all_tables().filter_map(move |(_, _, table)| rule(table, name))
}

/// Every Windows event, whatever its add-on. `EventCode` is the `EventID` (the reader holds
/// an `EventID` written with attributes, `Qualifiers='16384'`, as `EventCode` only: the
/// data sources of such events list `EventCode` and never `EventID`).
const COMMON: Table = &[
    ("EventCode", Rule::Alias("EventID")),
    ("RecordNumber", Rule::Alias("EventRecordID")),
    ("signature_id", Rule::FirstOf(&["EventID", "EventCode"])),
    ("user_id", Rule::Alias("UserID")),
];

/// The Windows add-on's fields for every channel it handles (not Sysmon's). `dest` only for
/// the channels whose data sources list it ([`DEST`]).
const WINDOWS_ADDON: Table = &[
    ("dvc", Rule::FirstOf(&["Computer", "ComputerName"])),
    ("dvc_nt_host", Rule::FirstOf(&["Computer", "ComputerName"])),
    ("vendor_product", Rule::Const("Microsoft Windows")),
];

/// `dest`, the host the event was logged on: Security, System, Application, `TaskScheduler`
/// (not PowerShell, Defender, `CAPI2`, `PrintService`: their lists have no `dest`).
const DEST: Table = &[("dest", Rule::FirstOf(&["Computer", "ComputerName"]))];

/// `dest` and the add-on's `vendor`/`product` (listed for Security and System only).
const VENDOR_AND_DEST: Table = &[
    ("dest", Rule::FirstOf(&["Computer", "ComputerName"])),
    ("product", Rule::Const("Windows")),
    ("vendor", Rule::Const("Microsoft")),
];

/// The Sysmon add-on's fields for every `EventCode`: the acting process is `Image`.
const SYSMON: Table = &[
    // reading: the list's `EventChannel`, `RecordID`, `SecurityID` and `TimeCreated` are
    // the add-on's copies of `Channel`, `EventRecordID`, `Security/@UserID` and `SystemTime`.
    ("EventChannel", Rule::Alias("Channel")),
    ("RecordID", Rule::Alias("EventRecordID")),
    ("SecurityID", Rule::Alias("UserID")),
    ("TimeCreated", Rule::Alias("SystemTime")),
    ("dest", Rule::Alias("Computer")),
    ("dvc_nt_host", Rule::Alias("Computer")),
    ("process_exec", Rule::Basename(&["Image"])),
    ("process_guid", Rule::Alias("ProcessGuid")),
    ("process_id", Rule::Alias("ProcessId")),
    ("process_name", Rule::Basename(&["Image"])),
    ("process_path", Rule::Alias("Image")),
    ("user", Rule::Alias("User")),
    ("vendor_product", Rule::Const("Microsoft Sysmon")),
];

const SYSMON_BY_CODE: &[(u32, Table)] = &[
    (1, SYSMON_PROCESS_CREATE),
    (3, SYSMON_NETWORK),
    (5, &[("action", Rule::Const("allowed"))]),
    (6, SYSMON_DRIVER_LOAD),
    (7, SYSMON_IMAGE_LOAD),
    (8, SYSMON_REMOTE_THREAD),
    (10, SYSMON_PROCESS_ACCESS),
    (11, SYSMON_FILE_CREATE),
    (12, SYSMON_REGISTRY_OBJECT),
    (13, SYSMON_REGISTRY_VALUE),
    (14, SYSMON_REGISTRY_RENAME),
    (15, SYSMON_FILE_STREAM),
    (17, SYSMON_PIPE),
    (18, SYSMON_PIPE),
    (22, SYSMON_DNS),
    (23, SYSMON_FILE_DELETE),
    (26, SYSMON_FILE_DELETE),
];

/// Sysmon 1, process creation: the reference's Sysmon → `Endpoint.Processes` mapping.
const SYSMON_PROCESS_CREATE: Table = &[
    // reading: the list has `action`; the add-on's value for a process launch is `allowed`.
    ("action", Rule::Const("allowed")),
    ("IMPHASH", Rule::Keyed("Hashes", "IMPHASH")),
    ("MD5", Rule::Keyed("Hashes", "MD5")),
    ("SHA256", Rule::Keyed("Hashes", "SHA256")),
    ("original_file_name", Rule::Alias("OriginalFileName")),
    ("parent_process", Rule::Alias("ParentCommandLine")),
    ("parent_process_exec", Rule::Basename(&["ParentImage"])),
    ("parent_process_guid", Rule::Alias("ParentProcessGuid")),
    ("parent_process_id", Rule::Alias("ParentProcessId")),
    ("parent_process_name", Rule::Basename(&["ParentImage"])),
    ("parent_process_path", Rule::Alias("ParentImage")),
    ("process", Rule::Alias("CommandLine")),
    ("process_current_directory", Rule::Alias("CurrentDirectory")),
    ("process_hash", Rule::Alias("Hashes")),
    // The Sysmon add-on lower-cases the integrity level (reference §6).
    ("process_integrity_level", Rule::Lower("IntegrityLevel")),
];

/// Sysmon 3, network connection: `Network_Traffic` fields. reading: `src` and `dest` are the
/// connection's addresses (`SourceIp`, `DestinationIp`), the host that logged it is `dvc`;
/// `direction` follows `Initiated`, `protocol_version` `DestinationIsIpv6`; every connection
/// Sysmon logs was made, so `action` is `allowed`.
const SYSMON_NETWORK: Table = &[
    ("action", Rule::Const("allowed")),
    // The data source lists no `process_path` for a connection.
    ("process_path", Rule::Absent),
    ("dest", Rule::Alias("DestinationIp")),
    ("dest_ip", Rule::Alias("DestinationIp")),
    ("dest_port", Rule::Alias("DestinationPort")),
    ("direction", Rule::Lookup(&["Initiated"], &[("true", "outbound"), ("false", "inbound")])),
    ("dvc", Rule::Alias("Computer")),
    ("protocol", Rule::Const("ip")),
    (
        "protocol_version",
        Rule::Lookup(&["DestinationIsIpv6"], &[("true", "ipv6"), ("false", "ipv4")]),
    ),
    ("src", Rule::Alias("SourceIp")),
    ("src_host", Rule::Alias("SourceHostname")),
    ("src_ip", Rule::Alias("SourceIp")),
    ("src_port", Rule::Alias("SourcePort")),
    ("transport", Rule::Alias("Protocol")),
];

/// Sysmon 6, driver loaded: the driver file is the acting image.
const SYSMON_DRIVER_LOAD: Table = &[
    ("MD5", Rule::Keyed("Hashes", "MD5")),
    ("SHA256", Rule::Keyed("Hashes", "SHA256")),
    ("action", Rule::Const("allowed")),
    ("process_hash", Rule::Alias("Hashes")),
    ("process_path", Rule::Alias("ImageLoaded")),
];

/// Sysmon 7, image loaded. `loaded_file`/`loaded_file_path` are the CIM `Endpoint.Processes`
/// names content reads for the loaded image (`sysmon` `EventCode=7 … loaded_file_path IN
/// (…)`), as it reads `process_guid`; not in the data source's list, which predates them.
const SYSMON_IMAGE_LOAD: Table = &[
    ("IMPHASH", Rule::Keyed("Hashes", "IMPHASH")),
    ("MD5", Rule::Keyed("Hashes", "MD5")),
    ("SHA256", Rule::Keyed("Hashes", "SHA256")),
    ("action", Rule::Const("allowed")),
    ("loaded_file", Rule::Basename(&["ImageLoaded"])),
    ("loaded_file_path", Rule::Alias("ImageLoaded")),
    ("original_file_name", Rule::Alias("OriginalFileName")),
    ("process_hash", Rule::Alias("Hashes")),
];

/// Sysmon 8, remote thread: reading (the list has both `parent_process_*` and `process_*`,
/// and content groups the source process as `parent_process_name` next to `TargetImage`): the
/// source process is the parent, the target the process.
const SYSMON_REMOTE_THREAD: Table = &[
    ("action", Rule::Const("allowed")),
    ("parent_process_exec", Rule::Basename(&["SourceImage"])),
    ("parent_process_guid", Rule::Alias("SourceProcessGuid")),
    ("parent_process_id", Rule::Alias("SourceProcessId")),
    ("parent_process_name", Rule::Basename(&["SourceImage"])),
    ("parent_process_path", Rule::Alias("SourceImage")),
    ("process_exec", Rule::Basename(&["TargetImage"])),
    ("process_guid", Rule::Alias("TargetProcessGuid")),
    ("process_id", Rule::Alias("TargetProcessId")),
    ("process_name", Rule::Basename(&["TargetImage"])),
    ("process_path", Rule::Alias("TargetImage")),
    ("src_address", Rule::Alias("StartAddress")),
    ("src_function", Rule::Alias("StartFunction")),
    ("src_module", Rule::Alias("StartModule")),
];

/// Sysmon 10, process access: as 8 (Sysmon writes `GUID` upper-case here).
const SYSMON_PROCESS_ACCESS: Table = &[
    ("action", Rule::Const("allowed")),
    ("granted_access", Rule::Alias("GrantedAccess")),
    ("parent_process_exec", Rule::Basename(&["SourceImage"])),
    ("parent_process_guid", Rule::Alias("SourceProcessGUID")),
    ("parent_process_id", Rule::Alias("SourceProcessId")),
    ("parent_process_name", Rule::Basename(&["SourceImage"])),
    ("parent_process_path", Rule::Alias("SourceImage")),
    ("process_exec", Rule::Basename(&["TargetImage"])),
    ("process_guid", Rule::Alias("TargetProcessGUID")),
    ("process_id", Rule::Alias("TargetProcessId")),
    ("process_name", Rule::Basename(&["TargetImage"])),
    ("process_path", Rule::Alias("TargetImage")),
];

/// Sysmon 11, file created: `Endpoint.Filesystem` fields.
const SYSMON_FILE_CREATE: Table = &[
    ("action", Rule::Const("created")),
    ("file_create_time", Rule::Alias("CreationUtcTime")),
    ("file_name", Rule::Basename(&["TargetFilename"])),
    ("file_path", Rule::Alias("TargetFilename")),
    ("object_category", Rule::Const("file")),
];

/// Sysmon 15, alternate data stream created.
const SYSMON_FILE_STREAM: Table = &[
    ("IMPHASH", Rule::Keyed("Hash", "IMPHASH")),
    ("MD5", Rule::Keyed("Hash", "MD5")),
    ("SHA256", Rule::Keyed("Hash", "SHA256")),
    ("action", Rule::Const("allowed")),
    ("file_create_time", Rule::Alias("CreationUtcTime")),
    ("file_hash", Rule::Alias("Hash")),
    ("file_name", Rule::Basename(&["TargetFilename"])),
    ("file_path", Rule::Alias("TargetFilename")),
];

/// Sysmon 17 and 18, pipe created and connected.
const SYSMON_PIPE: Table =
    &[("action", Rule::Const("allowed")), ("pipe_name", Rule::Alias("PipeName"))];

/// Sysmon 23 and 26, file deleted (archived or not).
const SYSMON_FILE_DELETE: Table = &[
    ("IMPHASH", Rule::Keyed("Hashes", "IMPHASH")),
    ("MD5", Rule::Keyed("Hashes", "MD5")),
    ("SHA256", Rule::Keyed("Hashes", "SHA256")),
    ("action", Rule::Const("deleted")),
    ("file_hash", Rule::Alias("Hashes")),
    ("file_name", Rule::Basename(&["TargetFilename"])),
    ("file_path", Rule::Alias("TargetFilename")),
    ("object_category", Rule::Const("file")),
];

/// Sysmon 12, 13 and 14, registry events: `Endpoint.Registry` fields.
const SYSMON_REGISTRY: Table = &[
    ("object_category", Rule::Const("registry")),
    ("object_path", Rule::Alias("TargetObject")),
    ("registry_hive", Rule::Computed { eval: registry_hive, verbatim: false }),
    ("registry_key_name", Rule::Computed { eval: registry_key_name, verbatim: true }),
    ("registry_path", Rule::Alias("TargetObject")),
    ("registry_value_name", Rule::Computed { eval: registry_value_name, verbatim: true }),
];

/// Sysmon 12, registry key or value created or deleted. reading: `action` from `EventType`
/// (`CreateKey` created, `DeleteKey`/`DeleteValue` deleted).
const SYSMON_REGISTRY_OBJECT: Table = &[(
    "action",
    Rule::Lookup(
        &["EventType"],
        &[
            ("CreateKey", "created"),
            ("CreateValue", "created"),
            ("DeleteKey", "deleted"),
            ("DeleteValue", "deleted"),
        ],
    ),
)];

/// Sysmon 13, registry value set: the value's data and type too.
const SYSMON_REGISTRY_VALUE: Table = &[
    ("action", Rule::Const("modified")),
    ("registry_value_data", Rule::Computed { eval: registry_value_data, verbatim: true }),
    ("registry_value_type", Rule::Computed { eval: registry_value_type, verbatim: false }),
];

/// Sysmon 14, registry key or value renamed.
const SYSMON_REGISTRY_RENAME: Table = &[("action", Rule::Const("modified"))];

/// Sysmon 22, DNS query: `Network_Resolution.DNS` fields. reading: the querying host is the
/// `src`; the DNS server is not logged, so `dest` is absent (the list has no `dest`);
/// `answer` is each `;`-separated entry of `QueryResults`; `reply_code_id` is `QueryStatus`.
const SYSMON_DNS: Table = &[
    ("answer", Rule::Split("QueryResults")),
    ("dest", Rule::Absent),
    // The data source lists no `process_id`/`process_path` for a query.
    ("process_id", Rule::Absent),
    ("process_path", Rule::Absent),
    ("query", Rule::Alias("QueryName")),
    ("reply_code_id", Rule::Alias("QueryStatus")),
    ("src", Rule::Alias("Computer")),
];

/// The Windows add-on's Security fields for every `EventCode`: the XML names, and the
/// classic-era names the add-on keeps as aliases. reading, from which lists have them:
/// `user` is the account acted on (`TargetUserName`), `src_user` the actor when there is one
/// (not `-`), `src` the workstation named.
const SECURITY: Table = &[
    ("Caller_Domain", Rule::Alias("SubjectDomainName")),
    ("Caller_User_Name", Rule::Alias("SubjectUserName")),
    ("Logon_ID", Rule::Alias("SubjectLogonId")),
    ("Logon_Type", Rule::Alias("LogonType")),
    ("Source_Port", Rule::Alias("IpPort")),
    ("Source_Workstation", Rule::Alias("WorkstationName")),
    ("Target_Domain", Rule::Alias("TargetDomainName")),
    ("Target_User_Name", Rule::Alias("TargetUserName")),
    ("dest_nt_domain", Rule::Alias("TargetDomainName")),
    ("object_file_name", Rule::Basename(&["ObjectName"])),
    ("object_file_path", Rule::Alias("ObjectName")),
    ("process_id", Rule::Alias("ProcessId")),
    ("signature", Rule::Computed { eval: security_signature, verbatim: false }),
    ("src", Rule::FirstOf(&["WorkstationName", "Workstation"])),
    ("src_ip", Rule::Alias("IpAddress")),
    ("src_nt_domain", Rule::FirstOf(&["SubjectDomainName"])),
    ("src_port", Rule::Alias("IpPort")),
    ("src_user", Rule::FirstOf(&["SubjectUserName"])),
    ("status", Rule::Computed { eval: audit_result, verbatim: false }),
    ("user", Rule::Alias("TargetUserName")),
];

/// Tables several Security `EventCode`s share.
const SECURITY_SHARED: &[(&[u32], Table)] = &[
    // The acting process's fields, for the events whose lists have them (and registry and
    // handle events, by the same `ProcessName`).
    (&[4624, 4625, 4656, 4657, 4658, 4663, 4703], SECURITY_PROCESS),
    // Network logons and share access: `src` is the remote address.
    (&[4648, 4768, 4769, 4771, 5140, 5145], SECURITY_REMOTE_SOURCE),
];

const SECURITY_PROCESS: Table = &[
    ("process", Rule::Alias("ProcessName")),
    ("process_name", Rule::Basename(&["ProcessName"])),
    ("process_path", Rule::Alias("ProcessName")),
];

const SECURITY_REMOTE_SOURCE: Table = &[("src", Rule::FirstOf(&["IpAddress", "WorkstationName"]))];

/// Authentication events: `action` is the audit result.
const SECURITY_AUTHENTICATION: Table =
    &[("action", Rule::Computed { eval: audit_result, verbatim: false })];

const SECURITY_BY_CODE: &[(u32, Table)] = &[
    (4624, SECURITY_AUTHENTICATION),
    (4625, SECURITY_AUTHENTICATION),
    (4648, SECURITY_AUTHENTICATION),
    (4657, SECURITY_REGISTRY_VALUE),
    (4663, SECURITY_OBJECT_ACCESS),
    (4688, SECURITY_PROCESS_CREATE),
    (4697, SECURITY_SERVICE_INSTALL),
    (4768, SECURITY_AUTHENTICATION),
    (4769, SECURITY_AUTHENTICATION),
    (4771, SECURITY_AUTHENTICATION),
    (4776, SECURITY_AUTHENTICATION),
];

/// Security 4688, process creation: the reference's 4688 → `Endpoint.Processes` mapping,
/// from the XML names or, in a classic event, the message's (`New_Process_Name`,
/// `Process_Command_Line`, `Creator_Process_Name`). Ids stay as the event writes them (hex,
/// `0x12d8`).
const SECURITY_PROCESS_CREATE: Table = &[
    ("Process_Command_Line", Rule::Alias("CommandLine")),
    ("Token_Elevation_Type", Rule::Alias("TokenElevationType")),
    ("new_process_id", Rule::FirstOf(&["NewProcessId", "New_Process_ID"])),
    ("new_process_name", Rule::Basename(&["NewProcessName", "New_Process_Name"])),
    // reading: 4688 has no parent command line; the list's `parent_process` is its path.
    ("parent_process", Rule::FirstOf(&["ParentProcessName", "Creator_Process_Name"])),
    ("parent_process_id", Rule::FirstOf(&["ProcessId", "Creator_Process_ID"])),
    ("parent_process_name", Rule::Basename(&["ParentProcessName", "Creator_Process_Name"])),
    ("parent_process_path", Rule::FirstOf(&["ParentProcessName", "Creator_Process_Name"])),
    ("process", Rule::FirstOf(&["CommandLine", "Process_Command_Line"])),
    ("process_exec", Rule::Basename(&["NewProcessName", "New_Process_Name"])),
    ("process_id", Rule::FirstOf(&["NewProcessId", "New_Process_ID"])),
    ("process_name", Rule::Basename(&["NewProcessName", "New_Process_Name"])),
    ("process_path", Rule::FirstOf(&["NewProcessName", "New_Process_Name"])),
    ("user", Rule::Computed { eval: user_4688, verbatim: false }),
];

/// Security 4663, object access: on a file, `Endpoint.Filesystem` fields. reading: `action`
/// from the access mask (`DELETE` deleted, write or append data modified, read data read).
const SECURITY_OBJECT_ACCESS: Table = &[
    ("action", Rule::Computed { eval: access_action, verbatim: false }),
    ("file_name", Rule::Basename(&["ObjectName"])),
    ("file_path", Rule::Alias("ObjectName")),
    ("user", Rule::Alias("SubjectUserName")),
];

/// Security 4657, registry value modified: `Endpoint.Registry` fields (not in the data
/// sources: read from Microsoft's event schema). reading: `registry_path` is the key and the
/// value name joined by `\`, as Sysmon writes it; `action` from `OperationType`
/// (`%%1904` created, `%%1905` modified, `%%1906` deleted).
const SECURITY_REGISTRY_VALUE: Table = &[
    (
        "action",
        Rule::Lookup(
            &["OperationType"],
            &[("%%1904", "created"), ("%%1905", "modified"), ("%%1906", "deleted")],
        ),
    ),
    ("registry_hive", Rule::Computed { eval: registry_hive_4657, verbatim: false }),
    ("registry_key_name", Rule::Basename(&["ObjectName"])),
    ("registry_path", Rule::Computed { eval: registry_path_4657, verbatim: false }),
    ("registry_value_data", Rule::Alias("NewValue")),
    ("registry_value_name", Rule::Alias("ObjectValueName")),
    ("registry_value_type", Rule::Alias("NewValueType")),
    ("user", Rule::Alias("SubjectUserName")),
];

/// Security 4697, service installed: `Endpoint.Services` fields. reading: the account the
/// service runs as is its `user`; `ServiceStartType` 2, 3, 4 are auto, manual (demand),
/// disabled.
const SECURITY_SERVICE_INSTALL: Table = &[
    ("service", Rule::Alias("ServiceName")),
    ("service_name", Rule::Alias("ServiceName")),
    ("service_path", Rule::Alias("ServiceFileName")),
    (
        "start_mode",
        Rule::Lookup(&["ServiceStartType"], &[("2", "auto"), ("3", "manual"), ("4", "disabled")]),
    ),
    ("user", Rule::Alias("ServiceAccount")),
];

const SYSTEM_BY_CODE: &[(u32, Table)] =
    &[(7036, SYSTEM_SERVICE_STATE), (7040, SYSTEM_SERVICE_CHANGE), (7045, SYSTEM_SERVICE_INSTALL)];

/// System 7045, service installed: `Endpoint.Services` fields, from the XML names or a
/// classic event's (`Service_Name`, `Service_File_Name`, …). reading: `start_mode` from
/// `StartType` (`auto start` auto, `demand start` manual, `disabled`); the service's account
/// is its `user`.
const SYSTEM_SERVICE_INSTALL: Table = &[
    ("service", Rule::FirstOf(&["ServiceName", "Service_Name"])),
    ("service_name", Rule::FirstOf(&["ServiceName", "Service_Name"])),
    ("service_path", Rule::FirstOf(&["ImagePath", "Service_File_Name"])),
    (
        "start_mode",
        Rule::Lookup(
            &["StartType", "Service_Start_Type"],
            &[("auto start", "auto"), ("demand start", "manual"), ("disabled", "disabled")],
        ),
    ),
    ("user", Rule::FirstOf(&["AccountName", "Service_Account"])),
];

/// System 7036, service state changed: `param1` is the service, `param2` its new state.
/// reading: `running` is CIM's `started`.
const SYSTEM_SERVICE_STATE: Table = &[
    ("service", Rule::Alias("param1")),
    ("service_name", Rule::Alias("param1")),
    ("status", Rule::Lookup(&["param2"], &[("running", "started"), ("stopped", "stopped")])),
];

/// System 7040, service start type changed: `param1` is the service.
const SYSTEM_SERVICE_CHANGE: Table =
    &[("service", Rule::Alias("param1")), ("service_name", Rule::Alias("param1"))];

/// The user of a 4688. Reading taken (the add-on's exact rule is not known here): the target
/// account (the new process's token, written since Windows 10) when it names one, else the
/// subject (the creator); as `DOMAIN\name` like Sysmon's `User`, so that both sources group
/// together in `by Processes.user`. An account written as `-` or empty is no account. A
/// classic event gives the same from its message's `Account_Name`/`Account_Domain` pairs.
fn user_4688<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let event = view.event();
    let named = |value: &&str| !value.is_empty() && *value != "-";
    let account = |name: &str, domain: Option<&str>| match domain.filter(named) {
        Some(domain) => format!("{domain}\\{name}"),
        None => name.to_owned(),
    };
    let xml = |name: &str, domain: &str| {
        let name = event.data(name).filter(named)?;
        Some(account(name, event.data(domain)))
    };
    // A classic message lists the creator's `Account_Name` first and the target's second.
    let classic = || {
        let accounts: Vec<&str> = event.data_values("Account_Name").collect();
        let domains: Vec<&str> = event.data_values("Account_Domain").collect();
        accounts
            .iter()
            .enumerate()
            .rev()
            .find(|(_, name)| named(name))
            .map(|(at, name)| account(name, domains.get(at).copied()))
    };
    xml("TargetUserName", "TargetDomainName")
        .or_else(|| xml("SubjectUserName", "SubjectDomainName"))
        .or_else(classic)
        .map(Val::one)
}

/// `success` or `failure` from the Security log's audit keywords (`0x8020000000000000` Audit
/// Success, `0x8010000000000000` Audit Failure).
fn audit_result<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let keywords = view.extracted("Keywords")?;
    let keywords = keywords.first()?.trim().trim_start_matches("0x").trim_start_matches("0X");
    let bits = u64::from_str_radix(keywords, 16).ok()?;
    if bits & 0x0020_0000_0000_0000 != 0 {
        Some(Val::one("success"))
    } else if bits & 0x0010_0000_0000_0000 != 0 {
        Some(Val::one("failure"))
    } else {
        None
    }
}

/// The title Microsoft documents for each Security event ("4688(S): A new process has been
/// created"), which the Windows add-on gives as `signature` (the data sources of 4627, 4703
/// and 4798 list no `signature`: they are left out).
const SECURITY_TITLES: &[(u32, &str)] = &[
    (1100, "The event logging service has shut down"),
    (1102, "The audit log was cleared"),
    (4624, "An account was successfully logged on"),
    (4625, "An account failed to log on"),
    (4648, "A logon was attempted using explicit credentials"),
    (4656, "A handle to an object was requested"),
    (4657, "A registry value was modified"),
    (4658, "The handle to an object was closed"),
    (4662, "An operation was performed on an object"),
    (4663, "An attempt was made to access an object"),
    (4672, "Special privileges assigned to new logon"),
    (4688, "A new process has been created"),
    (4689, "A process has exited"),
    (4697, "A service was installed in the system"),
    (4698, "A scheduled task was created"),
    (4699, "A scheduled task was deleted"),
    (4719, "System audit policy was changed"),
    (4720, "A user account was created"),
    (4724, "An attempt was made to reset an account's password"),
    (4725, "A user account was disabled"),
    (4726, "A user account was deleted"),
    (4728, "A member was added to a security-enabled global group"),
    (4732, "A member was added to a security-enabled local group"),
    (4738, "A user account was changed"),
    (4739, "Domain Policy was changed"),
    (4741, "A computer account was created"),
    (4742, "A computer account was changed"),
    (4768, "A Kerberos authentication ticket (TGT) was requested"),
    (4769, "A Kerberos service ticket was requested"),
    (4771, "Kerberos pre-authentication failed"),
    (4776, "The computer attempted to validate the credentials for an account"),
    (4781, "The name of an account was changed"),
    (4794, "An attempt was made to set the Directory Services Restore Mode administrator password"),
    (4876, "Certificate Services backup started"),
    (4886, "Certificate Services received a certificate request"),
    (4887, "Certificate Services approved a certificate request and issued a certificate"),
    (5136, "A directory service object was modified"),
    (5137, "A directory service object was created"),
    (5140, "A network share object was accessed"),
    (5141, "A directory service object was deleted"),
    (
        5145,
        "A network share object was checked to see whether client can be granted desired access",
    ),
];

fn security_signature<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let code = view.event_code();
    SECURITY_TITLES.iter().find(|(each, _)| *each == code).map(|(_, title)| Val::one(*title))
}

/// 4663's action from its access mask (file access rights: `DELETE` 0x10000, `WriteData`
/// 0x2, `AppendData` 0x4, `ReadData` 0x1).
fn access_action<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let mask = view.extracted("AccessMask")?;
    let mask = mask.first()?.trim();
    let bits =
        u32::from_str_radix(mask.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()?;
    let action = if bits & 0x1_0000 != 0 {
        "deleted"
    } else if bits & 0x6 != 0 {
        "modified"
    } else if bits & 0x1 != 0 {
        "read"
    } else {
        return None;
    };
    Some(Val::one(action))
}

/// The hive of a Sysmon `TargetObject` (`HKLM\…` is `HKEY_LOCAL_MACHINE`), by CIM's expected
/// `registry_hive` values.
fn registry_hive<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let target = view.extracted("TargetObject")?;
    let root = target.first()?.split('\\').next()?;
    let hive = match root.to_ascii_uppercase().as_str() {
        "HKLM" | "HKEY_LOCAL_MACHINE" => "HKEY_LOCAL_MACHINE",
        "HKU" | "HKEY_USERS" => "HKEY_USERS",
        "HKCU" | "HKEY_CURRENT_USER" => "HKEY_CURRENT_USER",
        "HKCR" | "HKEY_CLASSES_ROOT" => "HKEY_CLASSES_ROOT",
        "HKCC" | "HKEY_CURRENT_CONFIG" => "HKEY_CURRENT_CONFIG",
        _ => return None,
    };
    Some(Val::one(hive))
}

/// The hive of a 4657 `ObjectName` (`\REGISTRY\MACHINE\…`).
fn registry_hive_4657<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let name = view.extracted("ObjectName")?;
    let mut parts = name.first()?.trim_start_matches('\\').split('\\');
    if !parts.next()?.eq_ignore_ascii_case("REGISTRY") {
        return None;
    }
    let hive = match parts.next()?.to_ascii_uppercase().as_str() {
        "MACHINE" => "HKEY_LOCAL_MACHINE",
        "USER" => "HKEY_USERS",
        _ => return None,
    };
    Some(Val::one(hive))
}

fn registry_path_4657<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let key = view.extracted("ObjectName")?;
    let key = key.first()?;
    let value = view.extracted("ObjectValueName");
    Some(match value.as_ref().and_then(Val::first).filter(|v| !v.is_empty() && *v != "-") {
        Some(value) => Val::one(format!("{key}\\{value}")),
        None => Val::one(key.to_owned()),
    })
}

/// Whether a Sysmon registry event names a value (its `TargetObject` ends in the value's
/// name): `SetValue`, `DeleteValue`, `CreateValue` do; key events do not.
fn names_a_value(view: &SplunkEvent<'_>) -> bool {
    view.event().event_id == 13
        || view.event().data("EventType").is_some_and(|kind| kind.ends_with("Value"))
}

/// The registry key's own name: the last part of `TargetObject` for a key event, the one
/// before the value's name for a value event.
fn registry_key_name<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let target: &'a str = view.event().data("TargetObject")?;
    let key = if names_a_value(view) { target.rsplit_once('\\')?.0 } else { target };
    Some(Val::one(basename(key)))
}

/// The value's name: the last part of `TargetObject` of a value event.
fn registry_value_name<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    if !names_a_value(view) {
        return None;
    }
    let target: &'a str = view.event().data("TargetObject")?;
    Some(Val::one(target.rsplit_once('\\').map_or(target, |(_, name)| name)))
}

/// The value's data as written: Sysmon's `DWORD (0x00000001)` and `QWORD (0x…-0x…)` give the
/// number inside the parentheses (content compares `registry_value_data="0x00000001"`), any
/// other `Details` is the data itself.
fn registry_value_data<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let details: &'a str = view.event().data("Details")?;
    let number = ["DWORD (", "QWORD ("]
        .iter()
        .find_map(|prefix| details.strip_prefix(prefix)?.strip_suffix(')'));
    Some(Val::one(number.unwrap_or(details)))
}

/// The value's type where Sysmon's `Details` says it: `DWORD`, `QWORD`, `Binary Data`.
fn registry_value_type<'a>(view: &SplunkEvent<'a>) -> Option<Val<'a>> {
    let details = view.event().data("Details")?;
    let kind = if details.starts_with("DWORD (") {
        "REG_DWORD"
    } else if details.starts_with("QWORD (") {
        "REG_QWORD"
    } else if details == "Binary Data" {
        "REG_BINARY"
    } else {
        return None;
    };
    Some(Val::one(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_names_each_field_once() {
        for (family, code, table) in all_tables() {
            let mut names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "{family:?} {code:?}");
        }
    }

    #[test]
    fn hashes_and_basenames() {
        let hashes = "MD5=AA,SHA256=BB,IMPHASH=CC";
        assert_eq!(keyed(hashes, "SHA256"), Some("BB"));
        assert_eq!(keyed(hashes, "SHA1"), None);
        assert_eq!(basename(r"C:\Windows\System32\rundll32.exe"), "rundll32.exe");
        assert_eq!(basename("rundll32.exe"), "rundll32.exe");
        assert_eq!(basename(r"C:\dir\"), "");
    }
}
