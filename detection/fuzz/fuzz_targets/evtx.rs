//! Bytes as a binary EVTX file through the reader's entry point: the `ElfFile` magic is put
//! in front when missing, so the fuzzer spends its time inside the header, chunk and record
//! parsing rather than in format detection. Each record's rendered XML also goes through
//! the event-code test a rule without literals passes records over with: it asserts that the
//! code it reads off the XML is the one the parser reads (it keeps every record, so that
//! they are all parsed).
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use detection::events::EventReader;
use detection::prefilter::EventCodes;
use detection::spl::{MacroTable, Search};
use libfuzzer_sys::fuzz_target;

const EVTX_MAGIC: &[u8] = b"ElfFile\0";

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + EVTX_MAGIC.len());
    if !data.starts_with(EVTX_MAGIC) {
        input.extend_from_slice(EVTX_MAGIC);
    }
    input.extend_from_slice(data);
    let Ok(reader) = EventReader::from_reader("fuzz.evtx", Cursor::new(input)) else {
        return;
    };
    let codes = launch_codes().clone();
    let mut reader = reader.prefilter(move |raw| {
        codes.may_read(raw);
        true
    });
    for record in reader.processes() {
        drop(record);
    }
    drop(reader.into_report());
});

/// The codes process launches come from, as a `tstats` over them reads them.
fn launch_codes() -> &'static EventCodes {
    static CODES: OnceLock<EventCodes> = OnceLock::new();
    CODES.get_or_init(|| {
        let text = "| tstats count from datamodel=Endpoint.Processes by Processes.dest";
        let search = Search::compile(text, &MacroTable::default(), "none_filter").unwrap();
        EventCodes::for_searches(&[&search]).unwrap()
    })
}
