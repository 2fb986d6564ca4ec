//! Bytes read as JSON events (flat NXLog/OTRF lines, pretty `evtx_dump` objects): the input
//! is forced to sniff as JSON so every run reaches the JSON reader, then read to the end with
//! its `Endpoint.Processes` records.
#![no_main]

use std::io::Cursor;

use detection::events::{EventReader, InputFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Detection looks at the first 64 bytes only, so anything not opening with `{` or `[`
    // gets a leading empty object.
    let mut input = Vec::with_capacity(data.len() + 3);
    if !matches!(data.first(), Some(b'{' | b'[')) {
        input.extend_from_slice(b"{}\n");
    }
    input.extend_from_slice(data);
    let Ok(mut reader) = EventReader::from_reader("fuzz.json", Cursor::new(input)) else {
        return;
    };
    assert_eq!(reader.report().format, Some(InputFormat::Json));
    for record in reader.processes() {
        drop(record);
    }
    drop(reader.into_report());
});
