//! Bytes as a Splunk `XmlWinEventLog` export (or whatever the content sniffs as: gzip, a JSON
//! string, EVTX) read to the end, events and `Endpoint.Processes` records alike, in lenient
//! and strict mode and behind a prefilter. Only panics, hangs and runaway memory are findings.
#![no_main]

use std::io::Cursor;

use detection::events::EventReader;
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
