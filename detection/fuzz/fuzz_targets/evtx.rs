//! Bytes as a binary EVTX file through the reader's entry point: the `ElfFile` magic is put
//! in front when missing, so the fuzzer spends its time inside the header, chunk and record
//! parsing rather than in format detection. Each record's rendered XML also goes through
//! the event-code test a rule without literals passes records over with: it asserts that the
//! code it reads off the XML is the one the parser reads (it keeps every record, so that
//! they are all parsed). Every value of every record, taken as a rule's literal, must then
//! pass the literal test on the record's XML.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use detection::events::EventReader;
use detection::prefilter::{EventCodes, Prefilter, pieces};
use detection::spl::{MacroTable, Search};
use libfuzzer_sys::fuzz_target;

const EVTX_MAGIC: &[u8] = b"ElfFile\0";

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + EVTX_MAGIC.len());
    if !data.starts_with(EVTX_MAGIC) {
        input.extend_from_slice(EVTX_MAGIC);
    }
    input.extend_from_slice(data);
    let Ok(reader) = EventReader::from_reader("fuzz.evtx", Cursor::new(input.clone())) else {
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
    // Each value, as a rule's literal cut the way a record's XML is tested for it, is found
    // in that XML: else a rule looking for the value would have the record passed over.
    let Ok(reader) = EventReader::from_reader("fuzz.evtx", Cursor::new(input)) else {
        return;
    };
    for event in reader.flatten() {
        let system = event.system.iter().map(|(_, value)| value);
        for value in event.data.iter().map(|(_, value)| value).chain(system) {
            let lowered = value.to_lowercase();
            let described = vec![pieces(&lowered).collect::<Vec<_>>()];
            let Some(rendered) = Prefilter::from_pieces(described)
                .and_then(|prefilter| prefilter.for_rendered_xml())
            else {
                continue;
            };
            assert!(rendered.may_match(event.raw.as_bytes()), "{value:?} in {}", event.raw);
        }
    }
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
