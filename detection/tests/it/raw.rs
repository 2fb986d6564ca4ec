//! Searches over raw events (`sysmon`, `wineventlog_security`, `powershell` macros) as the
//! scan runs them: real 2024 detections finding their positive in an event built from their
//! data source's `example_log`, and over the shared real exports with and without the
//! prefilter.

use detection::eval::ResultTable;
use detection::fields::Origin;
use detection::scan::{ScanInput, ScanOptions, scan_inputs};
use detection::spl::{MacroTable, Search};

use crate::datamodel::{example_log, rows_of, write_with};
use crate::support::{files_below, shared_2024, shared_datasets};

/// `example` completed where the data source cut it off (the 2024 tree stores some
/// examples only up to the first line break of a multi-line value).
fn completed(mut example: String, rest: &str) -> String {
    if !example.trim_end().ends_with("</Event>") {
        example.push_str(rest);
    }
    example
}

fn column(table: &ResultTable, name: &str) -> Vec<String> {
    (0..table.len())
        .map(|row| {
            table.value(row, name).map(detection::eval::FieldValue::joined).unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_raw_sysmon_detection_finds_its_positive() {
    let Some(content) = shared_2024("a_raw_sysmon_detection_finds_its_positive") else {
        return;
    };
    let rule = "detections/endpoint/icedid_exfiltrated_archived_file_creation.yml";
    let (example, origin) = example_log(&content, "sysmon_eventid_11");
    assert_eq!(origin.source(), Some("XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"));
    // The file IcedID archives browser data into, written by rundll32.
    let positive = write_with(
        example.clone(),
        &[
            ("Image", r"C:\Windows\SysWOW64\rundll32.exe"),
            ("TargetFilename", r"C:\Users\Administrator\AppData\Local\Temp\passff.tar"),
        ],
    );
    let rows = rows_of(&content, rule, positive.path(), &origin);
    assert_eq!(
        column(&rows, "TargetFilename"),
        [r"C:\Users\Administrator\AppData\Local\Temp\passff.tar"]
    );
    assert_eq!(column(&rows, "process_name"), ["rundll32.exe"]);
    assert_eq!(column(&rows, "process_id"), ["9332"]);
    assert_eq!(column(&rows, "dest"), ["win-dc-mhaag-attack-range-84.attackrange.local"]);
    // The example as it is (a .pfx written by mimikatz) is no positive.
    let plain = write_with(example, &[]);
    assert!(rows_of(&content, rule, plain.path(), &origin).is_empty());
}

#[test]
fn a_raw_wineventlog_security_detection_finds_its_positive() {
    let Some(content) = shared_2024("a_raw_wineventlog_security_detection_finds_its_positive")
    else {
        return;
    };
    let rule = "detections/endpoint/sam_database_file_access_attempt.yml";
    let (example, origin) = example_log(&content, "windows_event_log_security_4663");
    let example = completed(
        example,
        "</Data><Data Name='AccessMask'>0x1</Data><Data Name='ProcessId'>0x1b34</Data>\
         <Data Name='ProcessName'>C:\\Tools\\hive.exe</Data>\
         <Data Name='ResourceAttributes'></Data></EventData></Event>",
    );
    let positive =
        write_with(example.clone(), &[("ObjectName", r"C:\Windows\System32\config\SAM")]);
    let rows = rows_of(&content, rule, positive.path(), &origin);
    assert_eq!(column(&rows, "process_name"), [r"C:\Tools\hive.exe"]);
    assert_eq!(column(&rows, "ObjectName"), [r"C:\Windows\System32\config\SAM"]);
    assert_eq!(column(&rows, "src_user"), ["Administrator"]);
    // `ProcessName!=*\\dllhost.exe`: the same read by dllhost is passed over.
    let dllhost = write_with(
        example.clone(),
        &[
            ("ObjectName", r"C:\Windows\System32\config\SAM"),
            ("ProcessName", r"C:\Windows\System32\dllhost.exe"),
        ],
    );
    assert!(rows_of(&content, rule, dllhost.path(), &origin).is_empty());
    // Indexed under another source, the macro's `source=XmlWinEventLog:Security` and
    // `Channel=security` still hold: the channel is the event's own.
    let elsewhere = Origin::given("WinEventLog:Security", "WinEventLog");
    assert_eq!(rows_of(&content, rule, positive.path(), &elsewhere).len(), 1);
}

#[test]
fn a_raw_powershell_detection_finds_its_positive_and_obeys_the_source() {
    let Some(content) =
        shared_2024("a_raw_powershell_detection_finds_its_positive_and_obeys_the_source")
    else {
        return;
    };
    let rule = "detections/endpoint/getlocaluser_with_powershell_script_block.yml";
    let (example, origin) = example_log(&content, "powershell_script_block_logging_4104");
    let example = completed(
        example,
        "}</Data><Data Name='ScriptBlockId'>0d2f0a52-7c35-4a8e-9e0b-6a1f7b0c2d11</Data>\
         <Data Name='Path'></Data></EventData></Event>",
    );
    let positive =
        write_with(example.clone(), &[("ScriptBlockText", "Get-LocalUser | Select Name")]);
    let rows = rows_of(&content, rule, positive.path(), &origin);
    assert_eq!(column(&rows, "ScriptBlockText"), ["Get-LocalUser | Select Name"]);
    assert_eq!(column(&rows, "user_id"), ["S-1-5-21-2059343465-2300599999-2417073716-500"]);
    let plain = write_with(example, &[]);
    assert!(rows_of(&content, rule, plain.path(), &origin).is_empty());
    // The `powershell` macro names its sources: indexed under another one, the event is not
    // the macro's, whatever it holds.
    let other = Origin::given("XmlWinEventLog:Windows PowerShell", "XmlWinEventLog");
    assert!(rows_of(&content, rule, positive.path(), &other).is_empty());
}

/// Raw 2024 detections of each macro family, run over every shared export.
const RAW_RULES: [&str; 6] = [
    "detections/endpoint/icedid_exfiltrated_archived_file_creation.yml",
    "detections/endpoint/windows_hunting_system_account_targeting_lsass.yml",
    "detections/endpoint/windows_gather_victim_network_info_through_ip_check_web_services.yml",
    "detections/endpoint/sam_database_file_access_attempt.yml",
    "detections/endpoint/windows_steal_authentication_certificates___esc1_abuse.yml",
    "detections/endpoint/getlocaluser_with_powershell_script_block.yml",
];

#[test]
fn raw_detections_run_over_the_shared_exports_with_the_same_rows_either_way() {
    let test = "raw_detections_run_over_the_shared_exports_with_the_same_rows_either_way";
    let (Some(content), Some(datasets)) = (shared_2024(test), shared_datasets(test)) else {
        return;
    };
    let macros: MacroTable = detection::content::load_macro_table(&content).unwrap();
    let searches: Vec<Search> = RAW_RULES
        .iter()
        .map(|rule| {
            let rule = detection::content::load_rule(&content.join(rule)).unwrap();
            Search::compile(&rule.search, &macros, &rule.filter_macro_name())
                .unwrap_or_else(|err| panic!("{}: {err}", rule.name))
        })
        .collect();
    let searches: Vec<&Search> = searches.iter().collect();
    let inputs: Vec<ScanInput> = files_below(&datasets.join("splunk-attack_data"))
        .into_iter()
        .filter(|path| path.extension().is_none_or(|ext| ext != "md"))
        .map(ScanInput::derived)
        .collect();
    let fast = scan_inputs(&searches, &inputs, ScanOptions::default()).unwrap();
    let full = scan_inputs(
        &searches,
        &inputs,
        ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() },
    )
    .unwrap();
    assert_eq!(fast.tables, full.tables);
    // The AD CS export (T1649 certify_esc1_abuse.log) holds the ESC1 rule's positives: five
    // 4886 requests and five 4887 issues with a `SAN:…upn=` attribute. No other rule has a
    // positive in these files.
    let counts: Vec<usize> = fast.tables.iter().map(ResultTable::len).collect();
    assert_eq!(counts, [0, 0, 0, 0, 10, 0], "{counts:?}");
    let esc1 = &fast.tables[4];
    let codes: Vec<String> = column(esc1, "signature_id");
    assert_eq!(codes.iter().filter(|code| *code == "4886").count(), 5);
    assert!(column(esc1, "object").iter().all(|template| template == "VulnerableTemplate_ESC1"));
}
