//! Bytes as a Splunk `XmlWinEventLog` export (or whatever the content sniffs as: gzip, a JSON
//! string, EVTX) read to the end, events and `Endpoint.Processes` records alike, in lenient
//! and strict mode and behind a prefilter. Panics, hangs and runaway memory are findings,
//! and an event whose code read off its bytes differs from the parsed one.
#![no_main]

use std::io::Cursor;

use detection::events::{EventReader, Location, parse_xml_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = data.to_vec();
    if let Ok(mut reader) = EventReader::from_reader("fuzz.log", Cursor::new(data.clone())) {
        for record in reader.processes() {
            drop(record);
        }
        let report = reader.into_report();
        // Every skip is counted even when only the first ones are listed.
        assert!(report.skipped_total >= report.skipped.len() as u64);
    }
    // Strict mode stops at the first skip instead of counting it.
    if let Ok(reader) = EventReader::from_reader("fuzz.log", Cursor::new(data.clone())) {
        for event in reader.strict(true) {
            drop(event);
        }
    }
    // An event's code read off its bytes, which the scan passes events over by, is the
    // code the parser reads.
    if let Ok(reader) = EventReader::from_reader("fuzz.log", Cursor::new(data.clone())) {
        let reader = reader.prefilter(|raw| {
            if let Some(code) = detection::prefilter::event_code(raw) {
                let location = Location {
                    source: "fuzz.log".into(),
                    line: None,
                    byte_offset: None,
                    record: None,
                };
                if let Ok(event) = parse_xml_event(raw, location) {
                    assert_eq!(event.event_id, code);
                }
            }
            true
        });
        for event in reader {
            drop(event);
        }
    }
    // The prefilter path hands raw event bytes out before parsing.
    if let Ok(reader) = EventReader::from_reader("fuzz.log", Cursor::new(data)) {
        let mut flip = false;
        let reader = reader.prefilter(move |raw| {
            flip = !flip;
            flip || raw.len() % 3 == 0
        });
        for event in reader {
            drop(event);
        }
    }
});
