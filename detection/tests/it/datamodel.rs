//! Tests of the data model: the dataset tables against the CIM facts in
//! `../shared/reference/cim/` (read at test time), the command-line name calculation against
//! the CIM's own regular expressions run by PCRE, `resolve_node`, the records of each mapped
//! dataset, and real 2024 detections finding the positives built from their data sources'
//! `example_log`s.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use detection::datamodel::{
    Calc, DataModelError, NodeRecord, calculate, mapped_nodes, name_from_command, node_record,
    resolve_node,
};
use detection::events::Event;
use detection::fields::{Origin, SplunkEvent};
use detection::scan::{ScanInput, ScanOptions, scan_inputs};
use detection::spl::Search;
use proptest::prelude::*;

use crate::fields::{SOURCE_FIXTURES, events_of};
use crate::support::shared_2024;
use crate::support::{fixture, shared_reference, with_snapshots};

/// One dataset of the CIM facts file.
#[derive(serde::Deserialize)]
struct FactDataset {
    object: String,
    parent: String,
    base_search: Option<String>,
    constraints: Vec<String>,
    fields: Vec<FactField>,
    calculations: Vec<FactCalculation>,
}

#[derive(serde::Deserialize)]
struct FactField {
    name: String,
}

#[derive(serde::Deserialize)]
struct FactCalculation {
    #[serde(rename = "type")]
    kind: String,
    output: Vec<String>,
    expression: Option<String>,
    lookup: Option<String>,
}

type Facts = BTreeMap<String, Vec<FactDataset>>;

fn facts(test: &str) -> Option<Facts> {
    let dir = shared_reference(test)?;
    let json = std::fs::read_to_string(dir.join("cim/cim-models-facts.json")).unwrap();
    Some(serde_json::from_str(&json).unwrap())
}

/// `text` without white space, for comparing expressions whatever their spacing.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The CIM expression a calculation of ours stands for, written from its shape.
fn expression(field: &str, calc: Calc) -> Option<String> {
    let f = field;
    Some(match calc {
        Calc::FillUnknown => format!(r#"if(isnull({f}) OR {f}="","unknown",{f})"#),
        Calc::ZeroUnlessNumber => format!("if(isnum({f}),{f},0)"),
        Calc::NullUnlessNumber => format!("if(isnum({f}),{f},null())"),
        Calc::UnknownOrLower => format!(r#"if(isnull({f}) OR {f}="","unknown",lower({f}))"#),
        Calc::SumOf(a, b) => {
            format!("case(isnum({f}),{f},isnum({a}) AND isnum({b}),{a}+{b},1=1,null())")
        }
        Calc::DifferenceOf(a, b) => {
            format!("case(isnum({f}),{f},isnum({a}) AND isnum({b}),{a}-{b},1=1,null())")
        }
        Calc::CountOf(a) => format!("case(isnum({f}),{f},isnotnull({a}),mvcount({a}),1=1,1)"),
        Calc::FirstOrUnknown(a) => format!(
            r#"case(isnotnull({f}) AND {f}!="",{f},isnotnull({a}) AND {a}!="",{a},1=1,"unknown")"#
        ),
        Calc::VendorProduct => {
            let known = |x: &str| format!(r#"isnotnull({x}) AND {x}!="unknown""#);
            let missing = |x: &str| format!(r#"(isnull({x}) OR {x}="unknown")"#);
            format!(
                r#"case(isnotnull(vendor_product),vendor_product,{} AND {},vendor." ".product,{} AND {},vendor." unknown",{} AND {},"unknown ".product,isnotnull(sourcetype),sourcetype,1=1,"unknown")"#,
                known("vendor"),
                known("product"),
                known("vendor"),
                missing("product"),
                missing("vendor"),
                known("product"),
            )
        }
        Calc::NameFromCommand(_) | Calc::Lookup(_) => return None,
    })
}

/// An SPL string literal's text: `\"` and `\\` are escapes, any other backslash is kept.
fn spl_string(literal: &str) -> String {
    let mut out = String::new();
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.clone().next() {
                Some(next @ ('"' | '\\')) => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The two regular expressions of a command-line name `case`, after checking that the rest
/// of the expression is the shape [`Calc::NameFromCommand`] evaluates.
fn name_regexes(field: &str, command: &str, expression: &str) -> (String, String) {
    // Each regex is written twice, as `match(C, "…")` and `replace( C, "…", "\1" )`.
    let quoted = |from: usize| -> (String, usize) {
        let start = expression[from..].find('"').unwrap() + from + 1;
        let mut end = start;
        let bytes = expression.as_bytes();
        while bytes[end] != b'"' || bytes[end - 1] == b'\\' && bytes[end - 2] != b'\\' {
            end += 1;
        }
        (expression[start..end].to_owned(), end + 1)
    };
    let first_match = expression.find(&format!("match({command},")).unwrap();
    let (a, after) = quoted(first_match);
    let second_match = expression[after..].find(&format!("match({command},")).unwrap() + after;
    let (b, _) = quoted(second_match);
    let rebuilt = format!(
        r#"case(isnotnull({field}) AND {field}!="", {field}, isnotnull({command}) AND {command}!="" AND match({command}, "{a}"), replace( {command}, "{a}", "\1" ), isnotnull({command}) AND {command}!="" AND match({command}, "{b}"), replace( {command}, "{b}", "\1" ), 1=1, "unknown")"#
    );
    assert_eq!(squeezed(&rebuilt), squeezed(expression), "{field}: not the command-line shape");
    (spl_string(&a), spl_string(&b))
}

#[test]
fn dataset_tables_are_the_cims() {
    let Some(facts) = facts("dataset_tables_are_the_cims") else { return };
    let mut checked = 0;
    for node in mapped_nodes() {
        let model = facts.get(node.model()).unwrap();
        let fact = model.iter().find(|each| each.object == node.name()).unwrap();
        let mut ours: Vec<&str> = node.cim_fields().to_vec();
        let mut theirs: Vec<&str> = fact.fields.iter().map(|f| f.name.as_str()).collect();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs, "{}: fields", node.path());
        // A child's constraint, and its parent.
        assert_eq!(
            node.constraint().into_iter().collect::<Vec<_>>(),
            fact.constraints
                .iter()
                .filter(|_| fact.parent != "BaseEvent" && fact.parent != "BaseSearch")
                .cloned()
                .collect::<Vec<_>>(),
            "{}",
            node.path()
        );
        if fact.parent != "BaseEvent" && fact.parent != "BaseSearch" {
            let path = node.path();
            let parent = path.rsplit('.').nth(1).unwrap();
            assert_eq!(parent, fact.parent, "{path}");
            continue;
        }
        // The calculations: the same outputs in the same order, each the expression it says.
        let calcs = node.calculations();
        let outputs: Vec<&str> = calcs.iter().map(|(name, _)| *name).collect();
        let fact_outputs: Vec<&str> =
            fact.calculations.iter().map(|calc| calc.output[0].as_str()).collect();
        assert_eq!(outputs, fact_outputs, "{}: calculations", node.path());
        for ((name, calc), fact_calc) in calcs.iter().zip(&fact.calculations) {
            assert_eq!(fact_calc.output.len(), 1);
            match calc {
                Calc::Lookup(lookup) => {
                    assert_eq!(fact_calc.kind, "Lookup");
                    assert_eq!(fact_calc.lookup.as_deref(), Some(*lookup));
                }
                Calc::NameFromCommand(command) => {
                    let text = fact_calc.expression.as_deref().unwrap();
                    name_regexes(name, command, text);
                }
                _ => {
                    let ours = expression(name, *calc).unwrap();
                    let theirs = fact_calc.expression.as_deref().unwrap();
                    assert_eq!(squeezed(&ours), squeezed(theirs), "{}.{name}", node.path());
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked} calculations checked");
    // The Processes base search lower-cases the integrity level, which records do too.
    let processes = facts["Endpoint"].iter().find(|each| each.object == "Processes").unwrap();
    assert!(
        processes
            .base_search
            .as_deref()
            .unwrap()
            .contains("eval process_integrity_level=lower(process_integrity_level)")
    );
}

/// What the CIM's `case` gives for a command line, run by PCRE: `replace(C, A, "\1")` when
/// `match(C, A)`, else the same with B, else `None`. Splunk's `replace` substitutes every
/// match; these expressions are anchored at `^`, so there is one.
fn pcre_name(command: &str, a: &pcre2::bytes::Regex, b: &pcre2::bytes::Regex) -> Option<String> {
    for regex in [a, b] {
        if let Some(found) = regex.captures(command.as_bytes()).unwrap() {
            let whole = found.get(0).unwrap();
            let name = found.get(1).map_or(&b""[..], |group| group.as_bytes());
            let mut out = command.as_bytes()[..whole.start()].to_vec();
            out.extend_from_slice(name);
            out.extend_from_slice(&command.as_bytes()[whole.end()..]);
            return Some(String::from_utf8(out).unwrap());
        }
    }
    None
}

fn cim_regexes() -> Option<(pcre2::bytes::Regex, pcre2::bytes::Regex)> {
    let facts = facts("name_from_command_is_the_cims_regular_expressions")?;
    let processes = facts["Endpoint"].iter().find(|each| each.object == "Processes").unwrap();
    let calc = processes.calculations.iter().find(|c| c.output[0] == "process_name").unwrap();
    let (a, b) = name_regexes("process_name", "process", calc.expression.as_deref().unwrap());
    let build = |pattern: &str| pcre2::bytes::RegexBuilder::new().build(pattern).unwrap();
    Some((build(&a), build(&b)))
}

#[test]
fn name_from_command_is_the_cims_regular_expressions() {
    let Some((a, b)) = cim_regexes() else { return };
    let cases = [
        r#""C:\Windows\system32\cmd.exe" /c "reg save HKLM\sam x""#,
        r"C:\Windows\System32\rundll32.exe comsvcs.dll, MiniDump 1 x full",
        "rundll32 comsvcs.dll",
        "  \"C:\\Program Files\\App\\app.exe\"",
        "\"C:\\a\\b.exe\" \"C:\\x\\y\"",
        "\"unterminated C:\\x",
        "\"\\\"",
        "cmd.exe /c \"copy a b\nand more on a second line\"",
        "\"C:\\dir\\tool.exe\" one\r\ntwo",
        "C:\\dir\\\"quoted\" x",
        "\\\\server\\share\\x.exe arg",
        "",
        " ",
        "x\\",
        "a\\b\\",
    ];
    for case in cases {
        assert_eq!(name_from_command(case), pcre_name(case, &a, &b), "{case:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Command lines from the characters the expressions turn on.
    #[test]
    fn name_from_command_agrees_with_pcre(command in r#"[ a\\"\n\r\t.xe]{0,14}"#) {
        if let Some((a, b)) = cim_regexes() {
            prop_assert_eq!(name_from_command(&command), pcre_name(&command, &a, &b));
        }
    }
}

#[test]
fn calculations_fill_and_derive_as_the_cim_says() {
    let mut fields: BTreeMap<&'static str, String> = BTreeMap::new();
    fields.insert("process", r#""C:\Tools\x.exe" -a"#.to_owned());
    fields.insert("dest", String::new());
    fields.insert("sourcetype", "XmlWinEventLog".to_owned());
    fields.insert("dest_port", "https".to_owned());
    fields.insert("bytes_in", "10".to_owned());
    fields.insert("bytes_out", "5".to_owned());
    for (name, calc) in [
        ("dest", Calc::FillUnknown),
        ("user", Calc::FillUnknown),
        ("process_name", Calc::NameFromCommand("process")),
        ("parent_process_name", Calc::NameFromCommand("parent_process")),
        ("vendor_product", Calc::VendorProduct),
        ("dest_port", Calc::ZeroUnlessNumber),
        ("bytes", Calc::SumOf("bytes_in", "bytes_out")),
        ("transport", Calc::UnknownOrLower),
        ("answer_count", Calc::CountOf("answer")),
        ("reply_code_id", Calc::FirstOrUnknown("reply_code")),
        ("file_size", Calc::NullUnlessNumber),
    ] {
        calculate(&mut fields, name, calc);
    }
    let get = |name: &str| fields.get(name).map(String::as_str);
    assert_eq!(get("dest"), Some("unknown"), "empty is filled");
    assert_eq!(get("user"), Some("unknown"), "missing is filled");
    assert_eq!(get("process_name"), Some("x.exe"));
    assert_eq!(get("parent_process_name"), Some("unknown"));
    assert_eq!(get("vendor_product"), Some("XmlWinEventLog"));
    assert_eq!(get("dest_port"), Some("0"));
    assert_eq!(get("bytes"), Some("15"));
    assert_eq!(get("transport"), Some("unknown"));
    assert_eq!(get("answer_count"), Some("1"));
    assert_eq!(get("reply_code_id"), Some("unknown"));
    assert_eq!(get("file_size"), None);
}

#[test]
fn datasets_resolve_from_datamodel_and_nodename() {
    let ok = |datamodel: &str, nodename: Option<&str>| {
        let node = resolve_node(datamodel, nodename).unwrap();
        (node.prefix(), node.path())
    };
    assert_eq!(ok("Endpoint.Processes", None), ("Processes", "Processes".to_owned()));
    assert_eq!(ok("Endpoint.Registry", None), ("Registry", "Registry".to_owned()));
    // tstats: "nodename: the name of the node in the data model" for datasets below a root;
    // fields keep the root's prefix (`All_Traffic.dest`).
    assert_eq!(
        ok("Network_Traffic", Some("All_Traffic.Traffic_By_Action.Allowed_Traffic")),
        ("All_Traffic", "All_Traffic.Traffic_By_Action.Allowed_Traffic".to_owned())
    );
    assert_eq!(ok("Network_Traffic", None).1, "All_Traffic");
    assert_eq!(ok("Network_Resolution", Some("DNS")), ("DNS", "DNS".to_owned()));
    assert_eq!(ok("Network_Traffic.All_Traffic", Some("Blocked_Traffic")).0, "All_Traffic");
    let error = |datamodel: &str, nodename: Option<&str>| {
        resolve_node(datamodel, nodename).unwrap_err().to_string()
    };
    assert_eq!(
        error("Endpoint.Ports", None),
        "`Endpoint.Ports`: no event maps to this dataset here"
    );
    assert_eq!(
        error("Endpoint", None),
        "data model `Endpoint` has several root datasets (Ports, Processes, Services, \
         Filesystem, Registry): name one"
    );
    assert!(error("Endpoint.Proceses", None).starts_with(
        "data model `Endpoint` has no dataset `Proceses` (its datasets: Ports, Processes"
    ));
    assert_eq!(
        error("Web", None),
        "data model `Web`: no event maps to it here (mapped: Endpoint, Network_Traffic, \
         Network_Resolution)"
    );
    assert!(matches!(
        resolve_node("Authentication", Some("Failed_Authentication")),
        Err(DataModelError::NotMapped { .. })
    ));
    assert!(matches!(
        resolve_node("Network_Traffic.All_Traffic", Some("All_Traffic.Allowed_Traffic")),
        Err(DataModelError::UnknownNode { .. })
    ));
    assert!(detection::datamodel::is_mapped_node("Endpoint", "Filesystem"));
    assert!(!detection::datamodel::is_mapped_node("Endpoint", "Ports"));
}

fn records_of(path: &Path) -> Vec<NodeRecord> {
    let origin = Origin::derived();
    events_of(path)
        .iter()
        .filter_map(|event| node_record(&SplunkEvent::new(event, &origin)))
        .collect()
}

#[test]
fn child_datasets_select_their_roots_records_by_constraint() {
    let records = records_of(&fixture("events/sysmon_sources.log"));
    let traffic: Vec<&NodeRecord> =
        records.iter().filter(|record| record.node == "All_Traffic").collect();
    assert_eq!(traffic.len(), 1);
    let allowed = resolve_node("Network_Traffic", Some("Allowed_Traffic")).unwrap();
    let blocked = resolve_node("Network_Traffic", Some("Blocked_Traffic")).unwrap();
    let by_action = resolve_node("Network_Traffic", Some("Traffic_By_Action")).unwrap();
    assert!(allowed.selects(traffic[0]) && by_action.selects(traffic[0]));
    assert!(!blocked.selects(traffic[0]));
    let registry = resolve_node("Endpoint.Registry", None).unwrap();
    assert_eq!(records.iter().filter(|record| registry.selects(record)).count(), 5);
    assert!(!allowed.selects(records.iter().find(|r| r.node == "Registry").unwrap()));
}

#[test]
fn every_record_holds_only_its_datasets_fields() {
    for name in SOURCE_FIXTURES {
        for record in records_of(&fixture(&format!("events/{name}"))) {
            let node =
                resolve_node(&format!("{}.{}", model_of(record.node), record.node), None).unwrap();
            let fields = node.fields();
            for field in record.fields.keys() {
                assert!(
                    fields.contains(field),
                    "{name}: {}.{field} is not a CIM field",
                    record.node
                );
            }
        }
    }
}

fn model_of(root: &str) -> &'static str {
    match root {
        "All_Traffic" => "Network_Traffic",
        "DNS" => "Network_Resolution",
        _ => "Endpoint",
    }
}

#[test]
fn fixture_records_of_every_dataset() {
    for name in SOURCE_FIXTURES.iter().filter(|name| **name != "classic_export.log") {
        let records = records_of(&fixture(&format!("events/{name}")));
        with_snapshots(|| insta::assert_yaml_snapshot!(format!("records@{name}"), records));
    }
}

/// A data source's `example_log`, and the `source` and `sourcetype` it names.
pub(crate) fn example_log(content: &Path, data_source: &str) -> (String, Origin) {
    let text =
        std::fs::read_to_string(content.join(format!("data_sources/{data_source}.yml"))).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let field = |name: &str| yaml[name].as_str().unwrap().to_owned();
    (field("example_log"), Origin::given(field("source"), field("sourcetype")))
}

/// `example` with some `Data` values replaced, written to a file.
pub(crate) fn write_with(mut example: String, replace: &[(&str, &str)]) -> tempfile::NamedTempFile {
    for (name, value) in replace {
        let open = format!("<Data Name='{name}'>");
        let start = example.find(&open).unwrap() + open.len();
        let end = example[start..].find("</Data>").unwrap() + start;
        example.replace_range(start..end, value);
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(example.as_bytes()).unwrap();
    file
}

/// A data source's `example_log` with some `Data` values replaced, written to a file.
fn example_with(
    content: &Path,
    data_source: &str,
    replace: &[(&str, &str)],
) -> tempfile::NamedTempFile {
    write_with(example_log(content, data_source).0, replace)
}

/// The rows of a 2024 detection over `events` indexed with `origin`, its macros and lookups
/// those of the 2024 tree; the prefilter must not change them.
pub(crate) fn rows_of(
    content: &Path,
    rule: &str,
    events: &Path,
    origin: &Origin,
) -> detection::eval::ResultTable {
    let macros = detection::content::load_macro_table(content).unwrap();
    let lookups = detection::lookup::Lookups::load(content).unwrap();
    let rule = detection::content::load_rule(&content.join(rule)).unwrap();
    let tree = detection::spl::Context { macros: &macros, lookups: &lookups };
    let search = Search::compile_in(&rule.search, tree, &rule.filter_macro_name()).unwrap();
    let inputs = [ScanInput { path: events.to_path_buf(), origin: origin.clone() }];
    let scan = scan_inputs(&[&search], &inputs, ScanOptions::default()).unwrap();
    let full = scan_inputs(
        &[&search],
        &inputs,
        ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() },
    )
    .unwrap();
    assert_eq!(
        scan.tables,
        full.tables,
        "{rule:?}: the prefilter changed the rows",
        rule = rule.name
    );
    scan.tables.into_iter().next().unwrap()
}

#[test]
fn registry_and_filesystem_detections_find_positives_built_from_examples() {
    let Some(content) = shared_2024("registry_and_filesystem_detections_find_positives") else {
        return;
    };
    // Sysmon 13's example, its value set to what the rule looks for.
    let registry = example_with(
        &content,
        "sysmon_eventid_13",
        &[
            (
                "TargetObject",
                r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\DisableAntiSpyware",
            ),
            ("Details", "DWORD (0x00000001)"),
        ],
    );
    let rows = rows_of(
        &content,
        "detections/endpoint/windows_disableantispyware_registry.yml",
        registry.path(),
        &Origin::derived(),
    );
    with_snapshots(|| {
        insta::assert_yaml_snapshot!("positive@windows_disableantispyware_registry@shared", rows);
    });
    assert_eq!(rows.len(), 1);
    // The example as it is (a W32Time QWORD) is no positive.
    let plain = example_with(&content, "sysmon_eventid_13", &[]);
    let rows = rows_of(
        &content,
        "detections/endpoint/windows_disableantispyware_registry.yml",
        plain.path(),
        &Origin::derived(),
    );
    assert!(rows.is_empty());
    // Sysmon 11's example, the file written one AzureHound names.
    let file = example_with(
        &content,
        "sysmon_eventid_11",
        &[("TargetFilename", r"C:\Users\Administrator\Downloads\20240502-azurecollection.zip")],
    );
    let rows = rows_of(
        &content,
        "detections/endpoint/detect_azurehound_file_modifications.yml",
        file.path(),
        &Origin::derived(),
    );
    with_snapshots(|| {
        insta::assert_yaml_snapshot!("positive@detect_azurehound_file_modifications@shared", rows);
    });
    assert_eq!(rows.len(), 1);
}

#[test]
fn events_of_one_file_map_to_each_dataset() {
    let records = records_of(&fixture("events/windows_sources.log"));
    let nodes: Vec<&str> = records.iter().map(|record| record.node).collect();
    // 4657 Registry, 4663 on a file Filesystem (not on a registry key), 4697 and 7045
    // Services; logons, 1102, 7036, 4104 and Defender belong to no mapped dataset.
    assert_eq!(nodes, ["Registry", "Filesystem", "Services", "Services"]);
    // Classic events give records as XML ones do: the Windows add-on maps a classic 4688 to
    // Processes and a classic 7045 to Services.
    let events: Vec<Event> = events_of(&fixture("events/classic_export.log"));
    let origin = Origin::derived();
    let records: Vec<NodeRecord> =
        events.iter().filter_map(|event| node_record(&SplunkEvent::new(event, &origin))).collect();
    let nodes: Vec<&str> = records.iter().map(|record| record.node).collect();
    assert_eq!(nodes, ["Processes", "Services"]);
    assert_eq!(records[0].field("process_name"), Some("rundll32.exe"));
    assert_eq!(records[0].field("sourcetype"), Some("WinEventLog"));
    assert_eq!(records[1].field("service_name"), Some("PSEXESVC"));
}

#[test]
fn dataset_fields_agree_with_the_cim_tables() {
    // `datamodel` keeps the fields and calculations it evaluates; `cim` the CIM definitions
    // for validation. They must name the same fields.
    for node in mapped_nodes() {
        let cim = detection::cim::node(node.model(), node.name()).unwrap();
        let mut theirs: Vec<&str> =
            cim.fields().map(|field| field.name).filter(|name| *name != "_time").collect();
        theirs.sort_unstable();
        theirs.dedup();
        assert_eq!(node.fields(), theirs, "{}", node.path());
        for (name, calc) in node.calculations() {
            let field = cim.field(name).unwrap();
            assert!(field.calculation.is_some(), "{}.{name}", node.path());
            let fills = matches!(calc, Calc::FillUnknown | Calc::UnknownOrLower);
            assert_eq!(field.fills_unknown(), fills, "{}.{name}", node.path());
        }
    }
}
