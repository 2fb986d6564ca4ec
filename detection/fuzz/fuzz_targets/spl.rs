//! SPL text through macro expansion, parsing and evaluation. The input is up to three
//! NUL-separated parts: the search, then the definitions of `fuzz` (no arguments) and
//! `fuzz1(x)`, so the fuzzer can write recursive and growing macros. A search that compiles
//! is printed and parsed again (the print must be stable), and run over two fixed
//! `Endpoint.Processes` records with its output written out.
#![no_main]

use std::collections::BTreeMap;

use detection::datamodel::NodeRecord;
use detection::spl::{MacroDefinition, MacroTable, Search, filter_macro_name, macro_calls};
use libfuzzer_sys::fuzz_target;

const MACROS: &str = include_str!("../../../fixtures/spl/macros.yml");

fn table(fuzz: Option<&str>, fuzz1: Option<&str>) -> MacroTable {
    let mut table: MacroTable = serde_yaml_definitions();
    if let Some(definition) = fuzz {
        table.insert(MacroDefinition {
            name: "fuzz".to_owned(),
            arguments: Vec::new(),
            definition: definition.to_owned(),
        });
    }
    if let Some(definition) = fuzz1 {
        table.insert(MacroDefinition {
            name: "fuzz1(1)".to_owned(),
            arguments: vec!["x".to_owned()],
            definition: definition.to_owned(),
        });
    }
    table
}

fn serde_yaml_definitions() -> MacroTable {
    // The fixture is the repository's own; `Macro::from_yaml` reads one macro per file, so
    // the list is read entry by entry through the loader's type.
    MACROS
        .split("\n- ")
        .skip(1)
        .filter_map(|entry| {
            let text = entry.lines().map(|line| line.strip_prefix("  ").unwrap_or(line));
            let text: Vec<&str> = text.collect();
            let path = std::path::Path::new("macros/fuzz.yml");
            detection::content::Macro::from_yaml(&text.join("\n"), path).ok()
        })
        .map(|m| m.to_definition())
        .collect()
}

fn records() -> [NodeRecord; 2] {
    let fields = |pairs: &[(&'static str, &str)]| -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(name, value)| (*name, (*value).to_owned())).collect()
    };
    [
        NodeRecord {
            node: "Processes",
            time_micros: 1_582_290_855_000_000,
            fields: fields(&[
                ("dest", "WIN-HOST"),
                ("process_name", "rundll32.exe"),
                (
                    "process",
                    r"C:\Windows\System32\rundll32.exe comsvcs.dll, MiniDump 624 C:\x.dmp full",
                ),
                ("user", r"NT AUTHORITY\SYSTEM"),
                ("process_id", "4242"),
            ]),
        },
        NodeRecord {
            node: "Processes",
            time_micros: -1,
            fields: fields(&[("dest", ""), ("process_name", "CMD.EXE"), ("process", "*")]),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let search = parts.next().unwrap_or_default();
    let macros = table(parts.next(), parts.next());
    drop(macro_calls(search));
    let Ok(compiled) = Search::compile(search, &macros, &filter_macro_name("Fuzz Rule")) else {
        return;
    };
    drop(compiled.required_literals());
    // The validator's output fields: the result's columns before any record.
    drop(compiled.start().finish());
    // The printer's promise: its text parses back to a pipeline that prints the same.
    let printed = compiled.to_string();
    let reparsed = Search::compile(&printed, &MacroTable::new(), "fuzz_rule_filter")
        .unwrap_or_else(|error| panic!("printed search does not parse: {error}\n{printed}"));
    assert_eq!(reparsed.to_string(), printed);
    let records = records();
    for record in &records {
        std::hint::black_box(compiled.selects(record));
    }
    if let Ok(table) = compiled.run(&records) {
        let mut out = Vec::new();
        drop(table.write_json_lines(&mut out));
        drop(table.write_csv(&mut out));
        drop(table.write_text(&mut out));
    }
});
