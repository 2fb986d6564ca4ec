//! The scan's candidate search (the prefilter's fast path over an XML export) against reading
//! every event, on exports whose text between events the fuzzer writes: the input, split at
//! each `0xff` byte, is joined with an event the rule matches, so that the rule's literals
//! sit inside events and outside them. The rows must be the same at every read size, on one
//! thread and split in two; a difference is a finding, as are panics and hangs.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use detection::scan::{ScanOptions, scan_files};
use detection::spl::{MacroTable, Search};
use libfuzzer_sys::fuzz_target;

const SEARCH: &str = "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes \
    where Processes.process_name=rundll32.exe Processes.process=*comsvcs.dll* \
    Processes.process=*MiniDump* by Processes.user Processes.process Processes.dest";

const MATCHING: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\
    <System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
    <TimeCreated SystemTime='2021-03-04T05:06:07.123Z'/><EventRecordID>1</EventRecordID>\
    <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws01</Computer></System>\
    <EventData><Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data>\
    <Data Name='CommandLine'>rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 756 \
    C:\\Temp\\out.dmp full</Data><Data Name='User'>LAB\\alice</Data></EventData></Event>\n";

fn search() -> &'static Search {
    static SEARCH_ONCE: OnceLock<Search> = OnceLock::new();
    SEARCH_ONCE.get_or_init(|| {
        Search::compile(SEARCH, &MacroTable::new(), "none_filter").expect("the search compiles")
    })
}

/// This process's scratch file: one per process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("detection-fuzz-candidates-{}.log", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&block, text)) = data.split_first() else { return };
    let mut export = Vec::with_capacity(text.len() + 2 * MATCHING.len());
    for (index, piece) in text.split(|byte| *byte == 0xff).enumerate() {
        if index > 0 {
            export.extend_from_slice(MATCHING.as_bytes());
        }
        export.extend_from_slice(piece);
    }
    let path = scratch();
    std::fs::write(path, &export).expect("write the scratch export");
    let paths = [path.clone()];
    let searches = [search()];
    let full = ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() };
    let Ok(expected) = scan_files(&searches, &paths, full) else { return };
    let read_block = usize::from(block % 64) + 1;
    for options in [
        ScanOptions::default(),
        ScanOptions { read_block, ..ScanOptions::default() },
        ScanOptions { read_block, split_at_least: 1, ..ScanOptions::default() },
    ] {
        let found = scan_files(&searches, &paths, options).expect("the full read worked");
        assert_eq!(found.tables, expected.tables, "rows differ with {options:?}");
    }
});
