//! Tests of the events area: hand-made fixtures in every format (snapshotted), the shared
//! real datasets (event counts and the known positives), and bad input of every kind.

use std::io::{Cursor, Write};
use std::path::Path;

use detection::datamodel::NodeRecord;
use detection::events::{
    DataFields, Event, EventError, EventReader, InputFormat, MAX_EVENT_BYTES, ReadReport,
    SkipReason, TextEncoding, ValueForm,
};

use detection::scan::{ScanOptions, scan_files};
use detection::spl::{MacroTable, Search};

use crate::support::{fixture, repo_root, shared_datasets, with_snapshots};

mod evtx_file;

/// Every record of `path`, and the report; fails the test on a reading error.
#[track_caller]
fn read_records(path: &Path) -> (Vec<NodeRecord>, ReadReport) {
    let mut reader = EventReader::open(path).unwrap();
    let records: Vec<NodeRecord> = reader.processes().collect::<Result<_, _>>().unwrap();
    (records, reader.into_report())
}

#[track_caller]
fn read_bytes(bytes: Vec<u8>) -> (Vec<Event>, Vec<String>, ReadReport) {
    let mut reader = EventReader::from_reader("input", Cursor::new(bytes)).unwrap();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for event in reader.by_ref() {
        match event {
            Ok(event) => events.push(event),
            Err(err) => errors.push(detection::error_chain(&err)),
        }
    }
    (events, errors, reader.into_report())
}

/// The report as a reviewer reads it, without this checkout's absolute paths.
#[derive(serde::Serialize)]
struct ReportSummary {
    format: Option<InputFormat>,
    gzip: bool,
    events: Vec<String>,
    skipped: Vec<String>,
    notes: Vec<String>,
    failure: Option<String>,
}

fn summary(report: &ReadReport) -> ReportSummary {
    let root = format!("{}/", repo_root().display());
    ReportSummary {
        format: report.format,
        gzip: report.gzip,
        events: report
            .event_counts()
            .map(|(channel, id, count)| format!("{channel} {id}: {count}"))
            .collect(),
        skipped: report
            .skipped
            .iter()
            .map(|skip| format!("{}: {}", skip.location, skip.reason).replace(&root, ""))
            .collect(),
        notes: report.notes.clone(),
        failure: report.failure.as_ref().map(|failure| failure.replace(&root, "")),
    }
}

const FIXTURES: &[&str] = &[
    "export_lf.log",
    "export_crlf.log",
    "export_crlf.log.gz",
    "export_double_quotes_empty_values.log",
    "export_in_json_string.log",
    "flat_lines.json",
    "evtx_dump_pretty.json",
    "export_utf16le_bom.log",
    "flat_lines_utf8_bom.json",
];

#[test]
fn fixtures_map_to_process_records() {
    for name in FIXTURES {
        let (records, report) = read_records(&fixture(&format!("events/{name}")));
        with_snapshots(|| {
            insta::assert_yaml_snapshot!(format!("records@{name}"), records);
            insta::assert_yaml_snapshot!(format!("report@{name}"), summary(&report));
        });
    }
}

#[test]
fn gzip_is_read_transparently() {
    let (plain, _) = read_records(&fixture("events/export_crlf.log"));
    let (gzip, report) = read_records(&fixture("events/export_crlf.log.gz"));
    assert!(report.gzip);
    assert_eq!(plain, gzip);
    // The report serialises (map keys are strings and numbers, as JSON needs).
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["events"]["Security"]["4688"], 1);
}

#[test]
fn xml_values_keep_entities_and_line_breaks_as_written() {
    let events: Vec<Event> = EventReader::open(&fixture("events/export_crlf.log"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let security = events.iter().find(|event| event.event_id == 4688).unwrap();
    assert_eq!(security.value_form, ValueForm::XmlRaw);
    assert_eq!(
        security.data("MandatoryLabel"),
        Some("Replicating Directory Changes\r\n\t\tAll\r\n\tdomainDNS\r\n")
    );
    let (records, _) = read_records(&fixture("events/export_lf.log"));
    let process = records.first().and_then(|record| record.field("process")).unwrap();
    assert!(process.ends_with("full &amp;&amp; echo done 2&gt;&amp;1"), "{process}");
    let multi_line = records.iter().find(|record| record.field("process_name") == Some("cmd.exe"));
    assert_eq!(
        multi_line.and_then(|record| record.field("process")),
        Some("cmd.exe /c \"copy a b\nand more on a second line\"")
    );
}

#[test]
fn json_values_are_plain_text() {
    let events: Vec<Event> = EventReader::open(&fixture("events/flat_lines.json"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(events.iter().all(|event| event.value_form == ValueForm::Plain));
}

#[test]
fn json_after_many_blank_lines_is_still_json() {
    let lines = std::fs::read(fixture("events/flat_lines.json")).unwrap();
    let (plain, _, _) = read_bytes(lines.clone());
    for blank in [b"\r\n".repeat(100), b" ".repeat(3000)] {
        let (padded, errors, report) = read_bytes([blank, lines.clone()].concat());
        assert_eq!(report.format, Some(InputFormat::Json));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(padded.len(), plain.len());
    }
}

#[test]
fn json_string_export_is_unwrapped_and_noted() {
    let (records, report) = read_records(&fixture("events/export_in_json_string.log"));
    assert_eq!(report.format, Some(InputFormat::XmlExportInJsonString));
    assert!(report.notes.iter().any(|note| note.contains("one JSON string")));
    let (plain, _) = read_records(&fixture("events/export_crlf.log"));
    // The wrapped export holds the first LF event and the CRLF events (line ends as LF).
    assert_eq!(records.len(), 3);
    assert_eq!(
        records.get(1).and_then(|record| record.field("process")),
        plain.first().and_then(|record| record.field("process"))
    );
}

#[test]
fn strict_mode_turns_a_skip_into_an_error() {
    let input = format!("{}\nnot an event\n{}", good_event("a"), good_event("b"));
    let mut reader =
        EventReader::from_reader("input", Cursor::new(input.into_bytes())).unwrap().strict(true);
    let results: Vec<Result<Event, EventError>> = reader.by_ref().collect();
    let error = results.iter().find_map(|result| result.as_ref().err()).unwrap();
    let second_line = good_event("a").len() + 1;
    assert_eq!(
        error.to_string(),
        format!("input:2 (byte {second_line}): text outside any <Event>")
    );
    // The events after the skip are still read.
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 2);
}

/// (path below the shared datasets, events read (the README's XML events plus its classic
/// text events), events skipped).
const SHARED_XML_EXPORTS: &[(&str, u64, u64)] = &[
    (
        "splunk-attack_data/datasets/attack_techniques/T1552.004/certutil_exe_certificate_extraction/certutil_exe_certificate_extraction.raw",
        59,
        0,
    ),
    (
        "splunk-attack_data/datasets/attack_techniques/T1202/atomic_red_team/windows-sysmon.log",
        24,
        0,
    ),
    (
        "splunk-attack_data/datasets/attack_techniques/T1003.006/impacket/windows-security-xml.log",
        3,
        0,
    ),
    (
        "splunk-attack_data/datasets/attack_techniques/T1649/certify_abuse/certify_esc1_abuse_sysmon.log",
        23,
        0,
    ),
    (
        "splunk-attack_data/datasets/attack_techniques/T1649/certify_abuse/certify_esc1_abuse.log",
        38,
        0,
    ),
    (
        "splunk-attack_data/datasets/attack_techniques/T1003.003/credential-dumping-via-copy/data.log",
        17,
        0,
    ),
    ("splunk-attack_data/datasets/attack_techniques/T1003.002/atomic_red_team/sysmon.log", 10, 0),
    ("splunk-attack_data/attack_data/datasets/attack_techniques/T1003/test/sysmon.log", 5, 0),
    ("splunk-attack_data/datasets/attack_techniques/T1003/test/sysmon.xml", 5, 0),
];

#[test]
fn shared_attack_data_exports_yield_the_stated_events() {
    let Some(datasets) = shared_datasets("shared_attack_data_exports_yield_the_stated_events")
    else {
        return;
    };
    for (path, events, skipped) in SHARED_XML_EXPORTS {
        let (_, report) = read_records(&datasets.join(path));
        assert_eq!(report.events_total(), *events, "{path}");
        assert_eq!(report.skipped_total, *skipped, "{path}");
        assert_eq!(report.failure, None, "{path}");
    }
}

/// Events per (channel, `EventID`) a file must yield.
type ChannelCounts<'a> = &'a [(&'a str, u32, u64)];

#[test]
fn shared_datasets_event_counts_per_channel() {
    let Some(datasets) = shared_datasets("shared_datasets_event_counts_per_channel") else {
        return;
    };
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    let expected: &[(&str, ChannelCounts<'_>)] = &[
        (
            "splunk-attack_data/datasets/attack_techniques/T1202/atomic_red_team/windows-sysmon.log",
            &[(sysmon, 1, 8), (sysmon, 10, 16)],
        ),
        (
            "splunk-attack_data/datasets/attack_techniques/T1003.006/impacket/windows-security-xml.log",
            &[("Security", 4662, 3)],
        ),
        (
            "splunk-attack_data/datasets/attack_techniques/T1003.003/credential-dumping-via-copy/data.log",
            &[(sysmon, 1, 17)],
        ),
        (
            "splunk-attack_data/datasets/attack_techniques/T1003.002/atomic_red_team/sysmon.log",
            &[("Security", 4688, 5), (sysmon, 1, 4), (sysmon, 22, 1)],
        ),
        (
            "otrf-security-datasets/psh_control_panel_execution_2020-10-2201312134.process-creation-excerpt.json",
            &[("Security", 4688, 9), (sysmon, 1, 9)],
        ),
        (
            "evtx-attack-samples/exec_sysmon_1_lolbin_rundll32_advpack_RegisterOCX.evtx",
            &[(sysmon, 1, 2)],
        ),
        (
            "sigma-regression/proc_creation_win_rundll32_unc_path/5cdb711b-5740-4fb2-ba88-f7945027afac.evtx",
            &[(sysmon, 1, 1)],
        ),
        (
            "sigma-regression/proc_creation_win_rundll32_unc_path/5cdb711b-5740-4fb2-ba88-f7945027afac.json",
            &[(sysmon, 1, 1)],
        ),
        (
            "sigma-regression/proc_creation_win_rundll32_process_dump_via_comsvcs/646ea171-dded-4578-8a4d-65e9822892e3.json",
            &[(sysmon, 1, 1)],
        ),
    ];
    for (path, counts) in expected {
        let (_, report) = read_records(&datasets.join(path));
        let got: Vec<(&str, u32, u64)> = report.event_counts().collect();
        let mut want = counts.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{path}");
        assert_eq!(report.skipped_total, 0, "{path}");
    }
    let (_, report) = read_records(&datasets.join(
        "splunk-attack_data/datasets/attack_techniques/T1552.004/certutil_exe_certificate_extraction/certutil_exe_certificate_extraction.raw",
    ));
    // 20 Sysmon and 20 Security XML events, and the 19 classic PowerShell text events.
    assert_eq!(report.events_total(), 59);
    assert_eq!(report.events_of("Security", 4688), 20);
    assert_eq!(report.events_of(sysmon, 1), 20);
    assert_eq!(report.events_of("Microsoft-Windows-PowerShell/Operational", 4104), 19);
    let (_, report) = read_records(
        &datasets
            .join("otrf-security-datasets/psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json"),
    );
    assert_eq!(report.events_total(), 184);
    let (_, report) = read_records(
        &datasets.join("evtx-attack-samples/sysmon_10_1_memdump_comsvcs_minidump.evtx"),
    );
    assert_eq!(report.events_total(), 6);
}

/// The README's positive: `rundll32.exe` whose command line has `comsvcs.dll` and `MiniDump`.
fn is_comsvcs_positive(record: &NodeRecord) -> bool {
    let process = record.field("process").unwrap_or_default().to_lowercase();
    record.field("process_name").is_some_and(|name| name.eq_ignore_ascii_case("rundll32.exe"))
        && process.contains("comsvcs.dll")
        && process.contains("minidump")
}

#[test]
fn otrf_comsvcs_run_yields_sysmon_and_security_records() {
    let Some(datasets) = shared_datasets("otrf_comsvcs_run_yields_sysmon_and_security_records")
    else {
        return;
    };
    let (records, _) = read_records(
        &datasets
            .join("otrf-security-datasets/psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json"),
    );
    let positives: Vec<&NodeRecord> =
        records.iter().filter(|record| is_comsvcs_positive(record)).collect();
    assert_eq!(positives.len(), 2);
    // 2020-10-18 23:50:05 UTC, for the 4688 too although it carries only local time.
    for record in &positives {
        assert_eq!(record.time_micros / 1_000_000, 1_603_065_005, "{record:?}");
        assert_eq!(record.field("dest"), Some("WORKSTATION5"));
        assert_eq!(record.field("user"), Some("WORKSTATION5\\wardog"));
    }
    // One from Sysmon (decimal ids, a process GUID) and one from 4688 (hex ids).
    assert!(positives.iter().any(|record| record.field("process_guid").is_some()));
    assert!(positives.iter().any(|record| record.field("process_id") == Some("0x12d8")));
}

#[test]
fn evtx_comsvcs_sample_yields_record_4() {
    let Some(datasets) = shared_datasets("evtx_comsvcs_sample_yields_record_4") else {
        return;
    };
    let path = datasets.join("evtx-attack-samples/sysmon_10_1_memdump_comsvcs_minidump.evtx");
    let events: Vec<Event> = EventReader::open(&path).unwrap().collect::<Result<_, _>>().unwrap();
    // Record 4 of the file (its record header); the System EventRecordID is the channel's.
    let event = events.iter().find(|event| event.location.record == Some(4)).unwrap();
    assert_eq!(event.record_id, Some(32154));
    let record = detection::datamodel::processes_record(event).unwrap();
    assert!(is_comsvcs_positive(&record));
    assert_eq!(
        record.field("process"),
        Some(
            r"rundll32 C:\windows\system32\comsvcs.dll, MiniDump 4868 C:\Windows\System32\notepad.bin full"
        )
    );
    assert_eq!(record.field("user"), Some(r"MSEDGEWIN10\IEUser"));
    assert_eq!(record.time_micros / 1_000_000, 1_567_169_648); // 2019-08-30T12:54:08Z
    let (records, _) = read_records(&path);
    assert_eq!(records.iter().filter(|record| is_comsvcs_positive(record)).count(), 1);

    // A gzip-compressed EVTX (read into memory, as the parser seeks) gives the same events.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&std::fs::read(&path).unwrap()).unwrap();
    let (from_gzip, errors, report) = read_bytes(encoder.finish().unwrap());
    assert!(errors.is_empty() && report.gzip, "{errors:?}");
    assert_eq!(report.format, Some(InputFormat::Evtx));
    // Only the source name in the locations differs.
    let content = |event: &Event| (event.time_micros, event.record_id, event.data.clone());
    assert!(from_gzip.iter().map(content).eq(events.iter().map(content)));
}

#[test]
fn shared_positives_are_only_where_the_readme_says() {
    let Some(datasets) = shared_datasets("shared_positives_are_only_where_the_readme_says") else {
        return;
    };
    let mut files = vec![datasets.clone()];
    let mut positives = Vec::new();
    while let Some(dir) = files.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.push(path);
            } else if path.file_name().is_some_and(|name| name != "README.md") {
                let (records, _) = read_records(&path);
                let count = records.iter().filter(|record| is_comsvcs_positive(record)).count();
                if count > 0 {
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    positives.push((name, count));
                }
            }
        }
    }
    positives.sort();
    assert_eq!(
        positives,
        [
            ("psh_lsass_memory_dump_comsvcs_2020-10-18T19500924.json".to_owned(), 2),
            ("sysmon_10_1_memdump_comsvcs_minidump.evtx".to_owned(), 1)
        ]
    );
}

const GOOD_EVENT: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID><TimeCreated SystemTime='2021-01-01T00:00:00.0000000Z'/><EventRecordID>7</EventRecordID><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>host</Computer></System><EventData><Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data><Data Name='CommandLine'>VALUE</Data></EventData></Event>";

fn good_event(value: &str) -> String {
    GOOD_EVENT.replace("VALUE", value)
}

#[test]
fn truncated_event_is_a_located_skip_and_reading_goes_on() {
    let cut = good_event("x");
    let cut = cut.get(..cut.len() / 2).unwrap();
    let input = format!("{}\n{cut}\n{}\n{cut}", good_event("a"), good_event("b"));
    let (events, errors, report) = read_bytes(input.into_bytes());
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(events.len(), 2);
    let reasons: Vec<String> =
        report.skipped.iter().map(|skip| format!("{}: {}", skip.location, skip.reason)).collect();
    let second_line = good_event("a").len() + 1;
    let last_line = second_line + cut.len() + 1 + good_event("b").len() + 1;
    assert_eq!(
        reasons,
        [
            format!("input:2 (byte {second_line}): truncated event: expected </Event>"),
            format!("input:4 (byte {last_line}): truncated event: expected </Event>"),
        ]
    );
}

#[test]
fn invalid_utf8_is_a_located_skip() {
    let mut input = good_event("a").into_bytes();
    input.push(b'\n');
    let bad_at = input.len();
    input.extend_from_slice(good_event("b\u{e9}").as_bytes());
    // Make the two bytes of é into one stray Latin-1 byte.
    let index = input.iter().rposition(|byte| *byte == 0xc3).unwrap();
    input.remove(index);
    input.push(b'\n');
    input.extend_from_slice(good_event("c").as_bytes());
    let (events, _, report) = read_bytes(input);
    assert_eq!(events.len(), 2);
    let skip = report.skipped.first().unwrap();
    assert_eq!(skip.location.byte_offset, Some(bad_at as u64));
    assert_eq!(skip.location.line, Some(2));
    assert!(matches!(skip.reason, SkipReason::InvalidUtf8 { .. }), "{:?}", skip.reason);
}

#[test]
fn unknown_entity_is_refused_not_resolved() {
    let input = format!(
        "<!DOCTYPE x [<!ENTITY boom SYSTEM \"file:///etc/passwd\">]>\n{}\n{}",
        good_event("&boom;"),
        good_event("a &amp; b &#x41;")
    );
    let (events, _, report) = read_bytes(input.into_bytes());
    assert_eq!(events.len(), 1);
    assert_eq!(
        events.first().and_then(|event| event.data("CommandLine")),
        Some("a &amp; b &#x41;")
    );
    let reasons: Vec<String> = report.skipped.iter().map(|skip| skip.reason.to_string()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons.first().map(String::as_str), Some("text outside any <Event>"));
    assert!(
        reasons.get(1).is_some_and(|reason| reason.contains("unknown entity reference &boom;")),
        "{reasons:?}"
    );
}

#[test]
fn ten_megabyte_value_is_skipped_whole() {
    let huge = "A".repeat(10 * 1024 * 1024);
    let input = format!("{}\n{}\n{}", good_event("a"), good_event(&huge), good_event("c"));
    let (events, errors, report) = read_bytes(input.into_bytes());
    assert_eq!(errors, Vec::<String>::new());
    let values: Vec<&str> = events.iter().filter_map(|event| event.data("CommandLine")).collect();
    assert_eq!(values, ["a", "c"]);
    let skip = report.skipped.first().unwrap();
    assert_eq!(skip.reason, SkipReason::OversizedEvent);
    assert_eq!(skip.location.line, Some(2));
    assert_eq!(report.skipped_total, 1);
    assert!(MAX_EVENT_BYTES < huge.len());

    // An oversized event that never ends is one skip, not a skip plus stray text.
    let unterminated = format!("{}\n<Event><System>{huge}", good_event("a"));
    let (events, errors, report) = read_bytes(unterminated.into_bytes());
    assert_eq!((events.len(), errors.len()), (1, 0));
    let reasons: Vec<&SkipReason> = report.skipped.iter().map(|skip| &skip.reason).collect();
    assert_eq!(reasons, [&SkipReason::OversizedEvent]);

    // The same in JSON lines: the long line is skipped, the next one read, lines still right.
    let lines = format!(
        "{{\"EventID\":1,\"@timestamp\":\"2020-01-01T00:00:00Z\",\"CommandLine\":\"{huge}\"}}\n\
         {{\"EventID\":2,\"@timestamp\":\"2020-01-01T00:00:00Z\"}}\n"
    );
    let (events, errors, report) = read_bytes(lines.into_bytes());
    assert_eq!(events.iter().map(|event| event.event_id).collect::<Vec<_>>(), [2]);
    assert_eq!(events.first().and_then(|event| event.location.line), Some(2));
    assert!(errors.is_empty());
    let skip = report.skipped.first().unwrap();
    assert_eq!((skip.location.line, &skip.reason), (Some(1), &SkipReason::OversizedEvent));
}

#[test]
fn binary_garbage_is_a_counted_skip() {
    // A deterministic byte soup with no `<Event` in it.
    let mut state = 0x2545_f491_u32;
    let garbage: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    let (events, errors, report) = read_bytes(garbage.clone());
    assert!(events.is_empty());
    assert!(errors.is_empty());
    assert!(report.skipped_total > 0);
    assert!(report.skipped.iter().all(|skip| skip.reason == SkipReason::StrayText));
    // Garbage before and after an event does not hide it.
    let mut mixed = garbage.clone();
    mixed.extend_from_slice(good_event("a").as_bytes());
    mixed.extend_from_slice(&garbage);
    let (events, _, _) = read_bytes(mixed);
    assert_eq!(events.len(), 1);
}

#[test]
fn empty_input_reads_nothing_and_says_so() {
    for input in [&b""[..], b"\n\r\n  \n"] {
        let (events, errors, report) = read_bytes(input.to_vec());
        assert!(events.is_empty() && errors.is_empty());
        assert_eq!(report.skipped_total, 0);
        assert_eq!(report.events_total(), 0);
    }
}

#[test]
fn gzip_that_ends_early_keeps_the_events_before_and_reports_where() {
    let mut export = String::new();
    for index in 0..2000 {
        export.push_str(&good_event(&format!("run {index} with some text to make it longer")));
        export.push('\n');
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(export.as_bytes()).unwrap();
    let gzip = encoder.finish().unwrap();
    let cut = gzip.get(..gzip.len() / 2).unwrap().to_vec();
    let (events, errors, report) = read_bytes(cut);
    assert!(report.gzip);
    assert!(!events.is_empty() && events.len() < 2000, "{}", events.len());
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors.first().unwrap();
    assert!(error.starts_with("input:"), "{error}");
    assert!(error.contains("cannot read further"), "{error}");
    assert!(report.failure.is_some());
}

#[test]
fn bad_json_line_is_a_located_skip() {
    let input = "{\"EventID\":1,\"Channel\":\"x\",\"UtcTime\":\"2020-01-01 00:00:00.000\"}\n{\"EventID\": oops}\n\n{\"EventID\":2,\"Channel\":\"x\",\"@timestamp\":\"2020-01-01T00:00:00Z\"}\n";
    let (events, _, report) = read_bytes(input.as_bytes().to_vec());
    assert_eq!(events.len(), 2);
    let skip = report.skipped.first().unwrap();
    assert_eq!(skip.location.line, Some(2));
    assert!(
        skip.reason.to_string().starts_with("malformed event: invalid JSON"),
        "{}",
        skip.reason
    );
}

#[test]
fn json_string_with_a_bad_escape_stops_with_its_offset() {
    let escaped = good_event("a").replace('\\', "\\\\").replace('\'', "\\u0027");
    let input = format!("\"{escaped}\\q\"");
    let (events, errors, _) = read_bytes(input.into_bytes());
    assert_eq!(events.len(), 1);
    assert_eq!(errors.len(), 1);
    assert!(
        errors.first().is_some_and(|error| error.contains("JSON string: unknown escape at byte")),
        "{errors:?}"
    );
}

#[test]
fn damaged_evtx_record_does_not_stop_the_file() {
    let Some(datasets) = shared_datasets("damaged_evtx_record_does_not_stop_the_file") else {
        return;
    };
    let mut bytes = std::fs::read(
        datasets.join("evtx-attack-samples/sysmon_10_1_memdump_comsvcs_minidump.evtx"),
    )
    .unwrap();
    // Record 5 starts at byte 13368 (its `**\0\0` signature); its binary XML starts 24 bytes
    // later. Overwrite the start of that XML so this one record cannot be decoded.
    for byte in bytes.iter_mut().skip(13368 + 24).take(16) {
        *byte = 0xee;
    }
    let (events, errors, report) = read_bytes(bytes);
    assert!(errors.is_empty(), "{errors:?}");
    let records: Vec<Option<u64>> = events.iter().map(|event| event.location.record).collect();
    assert_eq!(records, [Some(1), Some(2), Some(3), Some(4), Some(6)]);
    // The chunk's records no longer match their checksum, and record 5 is lost.
    assert_eq!(report.skipped_total, 2, "{:?}", report.skipped);
    assert!(report.skipped[0].reason.to_string().contains("fail their checksum"));
    let skip = &report.skipped[1];
    assert_eq!(skip.location.record, Some(5));
    assert!(skip.reason.to_string().contains("record number 5"), "{}", skip.reason);
}

/// Hands out at most `step` bytes per read, so every boundary, escape and line end falls
/// across reads somewhere.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let len = rest.len().min(out.len()).min(self.step);
        out.get_mut(..len).unwrap().copy_from_slice(rest.get(..len).unwrap());
        self.at += len;
        Ok(len)
    }
}

#[test]
fn reading_in_tiny_pieces_gives_the_same_events() {
    for name in FIXTURES.iter().chain(crate::fields::SOURCE_FIXTURES) {
        let path = fixture(&format!("events/{name}"));
        let whole: Vec<Event> =
            EventReader::open(&path).unwrap().collect::<Result<_, _>>().unwrap();
        for step in [1, 2, 3, 7, 64] {
            let bytes = std::fs::read(&path).unwrap();
            let source = path.display().to_string();
            let trickle = Trickle { bytes, at: 0, step };
            let pieces: Vec<Event> = EventReader::from_reader(&source, trickle)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(pieces, whole, "{name} read {step} bytes at a time");
        }
    }
}

#[test]
fn prefilter_skips_parsing_of_rejected_events() {
    let path = fixture("events/export_lf.log");
    let finder = memchr::memmem::Finder::new(b"comsvcs.dll").into_owned();
    let mut reader =
        EventReader::open(&path).unwrap().prefilter(move |bytes| finder.find(bytes).is_some());
    let events: Vec<Event> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    let report = reader.into_report();
    // The classic text event (no record number) names comsvcs.dll too.
    assert_eq!(
        events.iter().map(|event| event.record_id).collect::<Vec<_>>(),
        [Some(1001), None, Some(2002)]
    );
    assert_eq!(report.prefiltered, 2);
    assert_eq!(report.skipped_total, 0);

    let mut reader =
        EventReader::open(&fixture("events/flat_lines.json")).unwrap().prefilter(|_| false);
    assert_eq!(reader.by_ref().count(), 4);
    assert!(reader.report().notes.iter().any(|note| note.contains("XML exports and EVTX")));
}

#[test]
fn events_command_prints_records_and_the_report() {
    let path = fixture("events/export_lf.log");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_detection"))
        .arg("events")
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let records: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|record| record["node"] == "Processes"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("XmlExport: 5 events, 0 skipped"), "{stderr}");

    let strict = std::process::Command::new(env!("CARGO_BIN_EXE_detection"))
        .args(["events", "--strict"])
        .arg(fixture("bad/events/unclosed_event.log"))
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2));
    // Records before the truncated event were printed.
    assert_eq!(String::from_utf8(strict.stdout).unwrap().lines().count(), 1);
}

/// `detection` with `args`, its stdout and stderr each a pipe whose reading end is already
/// closed when `closed` says so (`both`: one pipe for both, as `2>&1 | head -1` makes it),
/// and whatever of the other is written, captured.
fn detection_into_closed_pipe(args: &[&std::ffi::OsStr], closed: &str) -> std::process::Output {
    use std::process::{Command, Stdio};
    let (reader, writer) = std::io::pipe().unwrap();
    // No one will ever read: every write to this pipe fails with a broken pipe.
    drop(reader);
    let mut command = Command::new(env!("CARGO_BIN_EXE_detection"));
    command.args(args).stdin(Stdio::null());
    match closed {
        "stdout" => command.stdout(writer).stderr(Stdio::piped()),
        "stderr" => command.stdout(Stdio::piped()).stderr(writer),
        _ => command.stdout(writer.try_clone().unwrap()).stderr(writer),
    };
    command.output().unwrap()
}

#[test]
fn closed_output_pipes_end_the_commands_quietly() {
    // `detection events … | head -1` once exited 2 with "Broken pipe" (the JSON writer hid
    // the io error), and a closed stderr panicked (exit 101).
    let path = fixture("events/export_lf.log");
    // One file of many records: its JSON fills the output buffer mid-record.
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.log");
    std::fs::write(&long, std::fs::read_to_string(&path).unwrap().repeat(300)).unwrap();
    let events = ["events".as_ref(), long.as_os_str()];
    // Many files: a read report each on stderr.
    let many: Vec<&std::ffi::OsStr> = std::iter::repeat_n(path.as_os_str(), 300).collect();
    let rule = fixture("content/detections/endpoint/dump_lsass_via_comsvcs_dll.yml");
    let run = [&["run".as_ref(), rule.as_os_str()][..], &many].concat();
    // `validate` ends with a summary on stderr, `render` reports a rule it cannot read there.
    let content = fixture("content");
    let validate = ["validate".as_ref(), content.as_os_str()];
    let missing = dir.path().join("missing.yml");
    let render = ["render".as_ref(), rule.as_os_str(), missing.as_os_str()];
    for args in [&events[..], &run, &validate, &render] {
        for closed in ["stdout", "stderr", "both"] {
            let output = detection_into_closed_pipe(args, closed);
            let shown = String::from_utf8_lossy(if closed == "stdout" {
                &output.stderr
            } else {
                &output.stdout
            })
            .into_owned();
            assert_eq!(output.status.code(), Some(0), "{:?} into a closed {closed}", args[0]);
            assert!(!shown.contains("panicked") && !shown.contains("Broken pipe"), "{shown}");
        }
    }
}

#[test]
fn read_report_escapes_what_the_file_says() {
    // Channel names and skipped text come from the file: ESC and line breaks must reach the
    // terminal as escapes, never as themselves.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let lines = [
        r#"{"EventID":1,"Channel":"Sec\u001b[2Jurity\nforged 1: 1","@timestamp":"2021-01-01T00:00:00Z"}"#,
        r#"{"EventID":"x\u001b]0;title\u0007","@timestamp":"2021-01-01T00:00:00Z"}"#,
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_detection"))
        .arg("events")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains(['\u{1b}', '\u{7}']), "{stderr:?}");
    assert!(stderr.contains(r"  Sec\u{1b}[2Jurity\nforged 1: 1 1: 1"), "{stderr}");
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

/// Events read from `bytes` (their record ids), the report's skips as text, and the errors
/// a strict read gives.
fn read_evtx(bytes: &[u8]) -> (Vec<u64>, Vec<String>, Vec<String>) {
    let (events, errors, report) = read_bytes(bytes.to_vec());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.format, Some(InputFormat::Evtx));
    assert_eq!(report.skipped_total, report.skipped.len() as u64);
    let skips = report.skipped.iter().map(|skip| format!("{}: {}", skip.location, skip.reason));
    let strict: Vec<String> = EventReader::from_reader("input", Cursor::new(bytes.to_vec()))
        .unwrap()
        .strict(true)
        .filter_map(Result::err)
        .map(|error| detection::error_chain(&error))
        .collect();
    let ids = events.iter().map(|event| event.location.record.unwrap()).collect();
    (ids, skips.collect(), strict)
}

#[test]
fn evtx_built_here_reads_whole() {
    let file = evtx_file::evtx_file(&[1..=40, 41..=90, 91..=120]);
    let (events, _, report) = read_bytes(file.bytes.clone());
    assert_eq!(events.len(), 120);
    assert_eq!(report.skipped_total, 0, "{:?}", report.skipped);
    let last = events.last().unwrap();
    assert_eq!(last.record_id, Some(120));
    assert_eq!(last.data("CommandLine"), Some(evtx_file::command_line(120).as_str()));
    assert_eq!(report.events_of("Microsoft-Windows-Sysmon/Operational", 1), 120);
}

#[test]
fn evtx_files_read_whole_or_a_chunk_at_a_time_alike() {
    // A file of at most 4 MiB is read whole, in one read; a larger one a chunk at a time,
    // by the parser's seeks. Either way the events, their order and the skips are those of
    // the same bytes given as a stream, damaged or not.
    let small = evtx_file::evtx_file(&[1..=40, 41..=90]);
    let chunks: Vec<_> = (0..70u64).map(|n| n * 30 + 1..=n * 30 + 30).collect();
    let large = evtx_file::evtx_file(&chunks);
    assert!(large.bytes.len() > 4 << 20, "{}", large.bytes.len());
    let mut cut = large.bytes.clone();
    let chunk_40 = evtx_file::FILE_HEADER_BYTES + 40 * evtx_file::CHUNK_BYTES;
    cut.drain(chunk_40 + 10_000..chunk_40 + 40_000);
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("small", &small.bytes), ("large", &large.bytes), ("cut", &cut)] {
        let path = dir.path().join(format!("{name}.evtx"));
        std::fs::write(&path, bytes).unwrap();
        let mut reader = EventReader::open(&path).unwrap();
        let ids: Vec<u64> =
            reader.by_ref().map(|event| event.unwrap().location.record.unwrap()).collect();
        let report = reader.into_report();
        let (streamed, errors, streamed_report) = read_bytes(bytes.clone());
        assert!(errors.is_empty(), "{errors:?}");
        let streamed_ids: Vec<u64> =
            streamed.iter().map(|event| event.location.record.unwrap()).collect();
        assert_eq!(ids, streamed_ids, "{name}");
        let reasons = |report: &ReadReport| -> Vec<String> {
            report.skipped.iter().map(|skip| skip.reason.to_string()).collect()
        };
        assert_eq!(reasons(&report), reasons(&streamed_report), "{name}");
        assert_eq!(report.skipped.is_empty(), name != "cut", "{name}: {:?}", report.skipped);
    }
}

#[cfg(unix)]
#[test]
fn evtx_from_a_pipe_is_read_as_a_stream() {
    // `detection run rule.yml <(zcat log.evtx.gz)`: a path that cannot seek, which the
    // EVTX parser would need; its bytes are read into memory and parsed from there.
    let file = evtx_file::evtx_file(&[1..=40, 41..=90]);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.evtx");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, bytes) = (fifo.clone(), file.bytes.clone());
        std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
    };
    let mut reader = EventReader::open(&fifo).unwrap();
    let ids: Vec<u64> =
        reader.by_ref().map(|event| event.unwrap().location.record.unwrap()).collect();
    writer.join().unwrap();
    assert_eq!(ids, (1..=90).collect::<Vec<u64>>());
    assert_eq!(reader.into_report().format, Some(InputFormat::Evtx));
}

#[test]
fn evtx_values_are_plain_text_and_raw_is_the_escaped_xml() {
    // The crate renders a record as XML, escaping `&`, `<` and `>`: the fields hold the
    // text itself, as the forwarder's rendering gives it, and `_raw` the XML.
    let parent = r#"cmd.exe /c "a & b" < in.txt > 'out'"#;
    let file = evtx_file::evtx_file_with_parent(&[1..=3], Some(parent));
    let (events, errors, _) = read_bytes(file.bytes);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events.len(), 3);
    for event in &events {
        assert_eq!(event.data("ParentCommandLine"), Some(parent));
        assert!(event.raw.contains("a &amp; b"), "{}", event.raw);
        assert_eq!(event.data("User"), Some(r"LAB\alice"));
    }
}

/// What a damaged EVTX gives: events read, the skips, the first strict error.
#[derive(serde::Serialize)]
struct EvtxDamage {
    events: usize,
    first_and_last_event: Option<(u64, u64)>,
    skipped: Vec<String>,
    strict: Option<String>,
}

#[track_caller]
fn evtx_damage(bytes: &[u8]) -> EvtxDamage {
    let (ids, skipped, strict) = read_evtx(bytes);
    EvtxDamage {
        events: ids.len(),
        first_and_last_event: ids.first().zip(ids.last()).map(|(a, b)| (*a, *b)),
        skipped,
        strict: strict.into_iter().next(),
    }
}

/// Seventeen chunks of 30 records: ids 1 to 510.
fn seventeen_chunks() -> evtx_file::EvtxFile {
    let chunks: Vec<_> = (0..17u64).map(|n| n * 30 + 1..=n * 30 + 30).collect();
    evtx_file::evtx_file(&chunks)
}

#[test]
fn evtx_with_bytes_cut_out_of_a_chunk_counts_every_loss() {
    // Cutting 30,000 bytes out of chunk 8 of 17 once read 319 of 565 events and said
    // "0 skipped": the chunks after it are shifted and the last one is cut off.
    let file = seventeen_chunks();
    let chunk_8 = evtx_file::FILE_HEADER_BYTES + 8 * evtx_file::CHUNK_BYTES;
    let mut bytes = file.bytes.clone();
    bytes.drain(chunk_8 + 10_000..chunk_8 + 40_000);
    let damage = evtx_damage(&bytes);
    let lost_records =
        damage.skipped.iter().filter(|skip| skip.starts_with("input record")).count();
    // Chunks 0 to 7 whole, and chunk 8 up to the cut.
    assert_eq!(damage.first_and_last_event.map(|(first, _)| first), Some(1));
    assert_eq!(damage.events + lost_records, 270, "{:#?}", damage.skipped);
    with_snapshots(|| insta::assert_yaml_snapshot!("evtx_damage@cut_out_of_chunk_8", damage));
}

#[test]
fn evtx_chunk_checksums_are_checked() {
    let file = seventeen_chunks();
    let chunk_2 = evtx_file::FILE_HEADER_BYTES + 2 * evtx_file::CHUNK_BYTES;
    // The header's own checksum, flipped.
    let mut header = file.bytes.clone();
    header[chunk_2 + 124] ^= 0x01;
    // A byte of a command line: the records still decode, to a changed value.
    let mut records = file.bytes.clone();
    let (_, at, len) = file.records[2][5];
    let text = evtx_file::command_line(66);
    let needle: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let found = records[at..at + len].windows(needle.len()).position(|w| w == needle).unwrap();
    records[at + found] = b'R';
    let damage = [evtx_damage(&header), evtx_damage(&records)];
    for one in &damage {
        assert_eq!(one.events, 510, "records are still read: {:?}", one.skipped);
        assert_eq!(one.skipped.len(), 1, "{:?}", one.skipped);
    }
    with_snapshots(|| insta::assert_yaml_snapshot!("evtx_damage@checksums", damage));
}

#[test]
fn evtx_records_zeroed_in_a_chunk_are_each_a_skip() {
    let file = seventeen_chunks();
    let mut bytes = file.bytes.clone();
    // Records 35 to 37 in the middle of chunk 1, and its last three, 58 to 60; the chunk is
    // sealed again so that only the record count can tell.
    for (id, at, len) in &file.records[1] {
        if (35..=37).contains(id) || (58..=60).contains(id) {
            bytes[*at..*at + *len].fill(0);
        }
    }
    evtx_file::reseal_chunk(&mut bytes, evtx_file::FILE_HEADER_BYTES + evtx_file::CHUNK_BYTES);
    let damage = evtx_damage(&bytes);
    assert_eq!(damage.events, 504);
    assert_eq!(damage.skipped.len(), 6, "{:#?}", damage.skipped);
    with_snapshots(|| insta::assert_yaml_snapshot!("evtx_damage@zeroed_records", damage));
}

#[test]
fn evtx_chunks_lost_whole_are_each_a_skip() {
    let file = seventeen_chunks();
    // Chunk 3 zeroed, and the file cut 1,000 bytes into chunk 15 (so 16 is gone too).
    let mut bytes = file.bytes.clone();
    let chunk = |n: usize| evtx_file::FILE_HEADER_BYTES + n * evtx_file::CHUNK_BYTES;
    bytes[chunk(3)..chunk(4)].fill(0);
    bytes.truncate(chunk(15) + 1000);
    let damage = evtx_damage(&bytes);
    assert_eq!(damage.events, 14 * 30);
    assert_eq!(damage.skipped.len(), 3, "{:#?}", damage.skipped);
    with_snapshots(|| insta::assert_yaml_snapshot!("evtx_damage@lost_chunks", damage));
}

/// A large EVTX file has its chunks decoded on two threads (`ScanOptions::split_at_least`
/// lowers the size that takes to one byte here); the rows, their order and the report,
/// every loss with its chunk and record, are those of one thread. The file is damaged each
/// way the reader reports: a chunk header that fails its checksum, records zeroed in a
/// sealed chunk, a chunk zeroed, and the file cut inside a chunk, so that the last two
/// chunks the file header counts are lost (said once the last chunk is read); and a file
/// of many parts that loses more records than a report lists.
#[test]
fn evtx_chunks_decoded_on_two_threads_give_the_rows_and_report_of_one() {
    let file = seventeen_chunks();
    let chunk = |n: usize| evtx_file::FILE_HEADER_BYTES + n * evtx_file::CHUNK_BYTES;
    let whole = file.bytes.clone();
    let mut damaged = file.bytes.clone();
    damaged[chunk(2) + 124] ^= 0x01;
    for (id, at, len) in &file.records[1] {
        if (35..=37).contains(id) {
            damaged[*at..*at + *len].fill(0);
        }
    }
    evtx_file::reseal_chunk(&mut damaged, chunk(1));
    damaged[chunk(5)..chunk(6)].fill(0);
    damaged.truncate(chunk(15) + 1000);
    // Eight parts of sixteen chunks, and more losses than a report lists (1,000), most of
    // a part's records lost: the parts queue up, and the listed losses are the first ones.
    let ten_each: Vec<_> = (0..128u64).map(|n| n * 10 + 1..=n * 10 + 10).collect();
    let many = evtx_file::evtx_file(&ten_each);
    let mut lossy = many.bytes.clone();
    for (number, records) in many.records.iter().enumerate() {
        for (id, at, len) in records {
            if id % 10 != 1 {
                lossy[*at..*at + *len].fill(0);
            }
        }
        evtx_file::reseal_chunk(&mut lossy, chunk(number));
    }
    // Rows in event order: a chunk fed out of turn changes the table.
    let in_order = Search::compile(
        "search EventCode=1 | table CommandLine",
        &MacroTable::default(),
        "none_filter",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("whole", &whole, 510, 0),
        ("damaged", &damaged, 417, 7),
        ("many parts", &lossy, 128, 1152),
    ];
    for (name, bytes, events, skips) in files {
        let path = dir.path().join(format!("{name}.evtx"));
        std::fs::write(&path, bytes).unwrap();
        let paths = [path];
        let run = |parallel: bool, strict: bool| {
            let options =
                ScanOptions { parallel, strict, split_at_least: 1, ..ScanOptions::default() };
            scan_files(&[&in_order], &paths, options)
        };
        let one = run(false, false).unwrap();
        let two = run(true, false).unwrap();
        assert_eq!(one.tables[0].len(), events, "{name}");
        assert_eq!(one.reports[0].1.skipped_total, skips, "{name}: {:#?}", one.reports[0].1);
        assert_eq!(two.tables, one.tables, "{name}");
        assert_eq!(two.reports, one.reports, "{name}");
        // A strict read fails at the first loss, the same one.
        let failed = |outcome: Result<_, detection::scan::ScanError>| match outcome {
            Ok(_) => None,
            Err(err) => Some(detection::error_chain(&err)),
        };
        assert_eq!(failed(run(true, true)), failed(run(false, true)), "{name}");
        assert_eq!(failed(run(true, true)).is_some(), skips > 0, "{name}");
    }
}

/// The XML an EVTX record is rendered as shows its code as an export's text does: a rule
/// without literals passes over records of codes its dataset lacks before they are parsed,
/// on one thread and with the chunks decoded on two, with the rows of parsing every record.
/// A search over raw events may read any code, and then none is passed over.
#[test]
fn evtx_records_of_codes_no_search_reads_are_passed_over_unparsed() {
    let chunks: Vec<_> = (0..40u64).map(|n| n * 30 + 1..=n * 30 + 30).collect();
    // Every third record an image load (Sysmon 7), which no process launch comes from.
    let file = evtx_file::evtx_file_of_codes(&chunks, |id| if id % 3 == 0 { 7 } else { 1 });
    let dir = tempfile::tempdir().unwrap();
    let paths = [dir.path().join("launches.evtx")];
    std::fs::write(&paths[0], &file.bytes).unwrap();
    let compile = |text| Search::compile(text, &MacroTable::default(), "none_filter").unwrap();
    let launches =
        compile("| tstats count from datamodel=Endpoint.Processes by Processes.process_name");
    let every = ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() };
    let baseline = scan_files(&[&launches], &paths, every).unwrap();
    assert_eq!(baseline.reports[0].1.prefiltered, 0);
    let counts = baseline.tables[0].value(0, "count").map(detection::eval::FieldValue::joined);
    assert_eq!(counts.as_deref(), Some("800"));
    for parallel in [false, true] {
        let options = ScanOptions { parallel, split_at_least: 1, ..ScanOptions::default() };
        let outcome = scan_files(&[&launches], &paths, options).unwrap();
        assert_eq!(outcome.tables, baseline.tables, "parallel: {parallel}");
        assert_eq!(outcome.reports[0].1.prefiltered, 400, "parallel: {parallel}");
        let report = &outcome.reports[0].1;
        let sysmon = "Microsoft-Windows-Sysmon/Operational";
        assert_eq!((report.events_of(sysmon, 1), report.events_of(sysmon, 7)), (800, 0));
        let by_code = compile("search EventCode=7 | stats count");
        let outcome = scan_files(&[&launches, &by_code], &paths, options).unwrap();
        assert_eq!(outcome.reports[0].1.prefiltered, 0, "parallel: {parallel}");
        assert_eq!(outcome.tables[0], baseline.tables[0], "parallel: {parallel}");
    }
    // The report a user reads accounts for every record.
    let rule =
        repo_root().join("fixtures/content/detections/endpoint/dump_lsass_via_comsvcs_dll.yml");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_detection"))
        .arg("run")
        .arg(rule)
        .arg(&paths[0])
        .output()
        .unwrap();
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(run.status.success(), "{stderr}");
    let said =
        "Evtx: 800 events, 0 skipped, 400 passed over unparsed (no search could select them)";
    assert!(stderr.contains(said), "{stderr}");
}

#[test]
fn evtx_records_without_a_rules_literals_are_passed_over_escaped_values_kept() {
    // The literal test only passes over what no search could select: the rows are the same
    // with it and without. The crate writes `a&b <x>` as `a&amp;b &lt;x&gt;` in the
    // record's XML, where the values are read from; those records must still be read.
    let dir = tempfile::tempdir().unwrap();
    let special = evtx_file::evtx_file_with_parent(&[1..=30, 31..=60], Some("cmd /c a&b <x> 'q'"));
    let plain = evtx_file::evtx_file_with_parent(&[1..=40], Some("explorer.exe"));
    let paths = [dir.path().join("special.evtx"), dir.path().join("plain.evtx")];
    std::fs::write(&paths[0], &special.bytes).unwrap();
    std::fs::write(&paths[1], &plain.bytes).unwrap();
    let compile = |text| Search::compile(text, &MacroTable::default(), "none_filter").unwrap();
    let searches = [
        compile(
            "| tstats count from datamodel=Endpoint.Processes \
             where Processes.parent_process=\"*a&b <x> 'q'*\" by Processes.process_name",
        ),
        compile("search ParentCommandLine=\"*A&B <X>*\" | stats count by Image"),
    ];
    for search in &searches {
        let every = ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() };
        let baseline = scan_files(&[search], &paths, every).unwrap();
        let counts = baseline.tables[0].value(0, "count").map(detection::eval::FieldValue::joined);
        assert_eq!(counts.as_deref(), Some("60"), "{search:?}");
        for parallel in [false, true] {
            let options = ScanOptions { parallel, split_at_least: 1, ..ScanOptions::default() };
            let outcome = scan_files(&[search], &paths, options).unwrap();
            assert_eq!(outcome.tables, baseline.tables, "parallel: {parallel}");
            let prefiltered: Vec<u64> =
                outcome.reports.iter().map(|(_, report)| report.prefiltered).collect();
            assert_eq!(prefiltered, [0, 40], "parallel: {parallel}");
        }
    }
}

#[test]
fn evtx_shared_sample_damaged_is_reported() {
    let Some(datasets) = shared_datasets("evtx_shared_sample_damaged_is_reported") else {
        return;
    };
    let bytes = std::fs::read(
        datasets.join("evtx-attack-samples/sysmon_10_1_memdump_comsvcs_minidump.evtx"),
    )
    .unwrap();
    let (ids, skipped, strict) = read_evtx(&bytes);
    assert_eq!((ids.len(), skipped.len(), strict.len()), (6, 0, 0));
    // One letter of a command line changed: the records still decode.
    let mut flipped = bytes.clone();
    let needle: Vec<u8> = "comsvcs".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let at = flipped.windows(needle.len()).position(|window| window == needle).unwrap();
    flipped[at] = b'C';
    let (ids, skipped, strict) = read_evtx(&flipped);
    assert_eq!(ids.len(), 6);
    assert!(skipped.len() == 1 && skipped[0].contains("fail their checksum"), "{skipped:?}");
    assert_eq!(strict.len(), 1);
    // Cut after the fourth record: records 5 and 6 are lost, and said to be.
    let mut cut = bytes;
    let fifth = 13368;
    cut[fifth..4096 + 65536].fill(0);
    let (ids, skipped, _) = read_evtx(&cut);
    assert_eq!(ids, [1, 2, 3, 4]);
    let missing: Vec<&String> = skipped.iter().filter(|skip| skip.contains("missing")).collect();
    assert_eq!(missing.len(), 2, "{skipped:?}");
}

#[test]
fn evtx_reading_keeps_dependency_warnings_off_the_terminal() {
    // Every EVTX read printed the parser's "Setting num_threads has no effect…" warning.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("built.evtx");
    let mut file = evtx_file::evtx_file(&[1..=3]);
    std::fs::write(&path, &file.bytes).unwrap();
    let events = |path: &Path, verbose: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_detection"));
        if verbose {
            command.arg("-v");
        }
        let output = command.arg("events").arg(path).output().unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = events(&path, false);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains(": Evtx: 3 events, 0 skipped"), "{stderr}");
    // A damaged file header: the parser's own warning shows only with -v; the report says it
    // either way.
    file.bytes[124] ^= 1;
    std::fs::write(&path, &file.bytes).unwrap();
    let quiet = events(&path, false);
    assert!(!quiet.contains("warning"), "{quiet}");
    assert!(quiet.contains("the file header fails its checksum"), "{quiet}");
    let verbose = events(&path, true);
    assert!(verbose.contains("warning: evtx"), "{verbose}");
}

/// The damaged EVTX files of `fixtures/bad/events/`, as [`evtx_file`] builds them.
fn bad_evtx_fixtures() -> [(&'static str, Vec<u8>); 2] {
    // One chunk of five records; one letter of record 3's command line changed.
    let mut checksum = evtx_file::evtx_file(&[1..=5]);
    let (_, at, len) = checksum.records[0][2];
    let needle: Vec<u8> = "MiniDump".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let found = checksum.bytes[at..at + len].windows(needle.len()).position(|w| w == needle);
    checksum.bytes[at + found.unwrap()] = b'm';
    // Two chunks of five records; 3,000 bytes cut out of the first after its third record.
    let cut = evtx_file::evtx_file(&[1..=5, 6..=10]);
    let (_, third, third_len) = cut.records[0][2];
    let mut bytes = cut.bytes;
    bytes.drain(third + third_len..third + third_len + 3000);
    [("evtx_records_checksum.evtx", checksum.bytes), ("evtx_cut_chunk.evtx", bytes)]
}

#[test]
fn bad_evtx_fixtures_are_what_the_test_writer_builds() {
    // DETECTION_WRITE_BAD_EVTX=1 writes them again after a change to the writer.
    for (name, bytes) in bad_evtx_fixtures() {
        let path = repo_root().join("fixtures/bad/events").join(name);
        if std::env::var_os("DETECTION_WRITE_BAD_EVTX").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        assert!(std::fs::read(&path).unwrap() == bytes, "{name} differs from what is built here");
    }
}

fn utf16(text: &str, big_endian: bool, mark: bool) -> Vec<u8> {
    let units = (mark.then_some('\u{feff}').into_iter().collect::<String>() + text)
        .encode_utf16()
        .collect::<Vec<u16>>();
    units
        .iter()
        .flat_map(|unit| if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() })
        .collect()
}

#[test]
fn byte_order_mark_does_not_cost_the_first_event() {
    // JSON lines with a UTF-8 byte order mark lost their first event ("invalid JSON …
    // column 1").
    let json = std::fs::read(fixture("events/flat_lines.json")).unwrap();
    let (plain, _, plain_report) = read_bytes(json.clone());
    let (marked, errors, report) = read_bytes([b"\xef\xbb\xbf".as_slice(), &json].concat());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.skipped_total, plain_report.skipped_total, "{:?}", report.skipped);
    assert_eq!(marked.len(), plain.len());
    // Offsets still count from the file's start.
    let offsets = |events: &[Event]| -> Vec<Option<u64>> {
        events.iter().map(|event| event.location.byte_offset).collect()
    };
    let shifted: Vec<Option<u64>> = offsets(&plain).iter().map(|at| at.map(|at| at + 3)).collect();
    assert_eq!(offsets(&marked), shifted);
    let xml = std::fs::read(fixture("events/export_lf.log")).unwrap();
    let (plain, ..) = read_bytes(xml.clone());
    let (marked, ..) = read_bytes([b"\xef\xbb\xbf".as_slice(), &xml].concat());
    assert_eq!(marked.len(), plain.len());
}

#[test]
fn utf16_exports_read_as_their_utf8_text() {
    // A UTF-16LE export (what Windows PowerShell 5.1 writes by default) read as 0 events.
    for name in ["export_crlf.log", "flat_lines.json", "evtx_dump_pretty.json"] {
        let text = std::fs::read_to_string(fixture(&format!("events/{name}"))).unwrap();
        let (expected, _, expected_report) = read_bytes(text.clone().into_bytes());
        for (big_endian, mark) in [(false, true), (true, true), (false, false), (true, false)] {
            let (events, errors, report) = read_bytes(utf16(&text, big_endian, mark));
            let case = format!("{name}, big endian {big_endian}, mark {mark}");
            assert!(errors.is_empty(), "{case}: {errors:?}");
            let ids = |events: &[Event]| -> Vec<(u32, Option<u64>)> {
                events.iter().map(|event| (event.event_id, event.record_id)).collect()
            };
            assert_eq!(ids(&events), ids(&expected), "{case}");
            let data = |events: &[Event]| -> Vec<DataFields> {
                events.iter().map(|event| event.data.clone()).collect()
            };
            assert_eq!(data(&events), data(&expected), "{case}");
            assert_eq!(report.skipped_total, expected_report.skipped_total, "{case}");
            let encoding = if big_endian { TextEncoding::Utf16Be } else { TextEncoding::Utf16Le };
            assert_eq!(report.encoding, encoding, "{case}");
            assert!(report.notes.iter().any(|note| note.contains("read as UTF-8")), "{case}");
        }
    }
}

#[test]
fn utf16_export_gives_the_rows_of_its_utf8_text_with_the_prefilter() {
    // The scan's fast path searches the file's own bytes: it must not take a UTF-16 file.
    let text = std::fs::read_to_string(fixture("datasets/T1003.001-windows-sysmon.log")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (utf8, wide) = (dir.path().join("utf8.log"), dir.path().join("utf16.log"));
    std::fs::write(&utf8, &text).unwrap();
    std::fs::write(&wide, utf16(&text, false, true)).unwrap();
    let root = fixture("content");
    let rule = detection::content::load_rule(
        &root.join("detections/endpoint/dump_lsass_via_comsvcs_dll.yml"),
    )
    .unwrap();
    let macros = detection::content::load_macro_table(&root).unwrap();
    let search =
        detection::spl::Search::compile(&rule.search, &macros, &rule.filter_macro_name()).unwrap();
    let rows = |path: &Path| {
        let options = detection::scan::ScanOptions::default();
        detection::scan::scan_files(&[&search], &[path.to_path_buf()], options).unwrap().tables
    };
    let expected = rows(&utf8);
    assert!(!expected[0].is_empty());
    assert_eq!(rows(&wide), expected);
}

#[test]
fn files_that_are_plainly_not_events_are_named() {
    let cases: [(&[u8], &str); 5] = [
        (b"PK\x03\x04\x14\x00\x00\x00", "not an event file: a zip archive: unpack it first"),
        (b"%PDF-1.7\n%\xe2\xe3", "not an event file: a PDF document"),
        (
            b"\x30\0\0\0LfLe\x01\0\0\0\x01\0\0\0",
            "not an event file: a legacy Windows .evt event log",
        ),
        (b"\xff\xfe\0\0<\0\0\0", "not an event file: UTF-32 text"),
        (b"BZh91AY&SY", "not an event file: bzip2-compressed data"),
    ];
    for (bytes, expected) in cases {
        let Err(error) = EventReader::from_reader("input", Cursor::new(bytes.to_vec())) else {
            panic!("{expected}: read as events");
        };
        assert!(matches!(error, EventError::NotEvents { .. }), "{error}");
        assert!(error.to_string().starts_with(&format!("input: {expected}")), "{error}");
    }
}

#[test]
fn text_without_any_event_says_what_it_was() {
    let csv = "time,host,command\n2021-01-01,ws01,rundll32.exe comsvcs.dll MiniDump\n";
    let (events, errors, report) = read_bytes(csv.as_bytes().to_vec());
    assert!(events.is_empty() && errors.is_empty());
    assert!(
        report.notes.iter().any(|note| note
            == "no <Event> in this input, so no event was read: it is not an XmlWinEventLog \
                export; it begins \"time,host,command\""),
        "{:?}",
        report.notes
    );
    // Read through `detection run`, the fast path must not hide it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launches.csv");
    std::fs::write(&path, csv).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_detection"))
        .arg("run")
        .arg(fixture("content/detections/endpoint/dump_lsass_via_comsvcs_dll.yml"))
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no <Event> in this input"), "{stderr}");
}
