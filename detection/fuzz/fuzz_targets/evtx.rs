//! Bytes as a binary EVTX file through the reader's entry point: the `ElfFile` magic is put
//! in front when missing, so the fuzzer spends its time inside the header, chunk and record
//! parsing rather than in format detection.
#![no_main]

use std::io::Cursor;

use detection::events::EventReader;
use libfuzzer_sys::fuzz_target;

const EVTX_MAGIC: &[u8] = b"ElfFile\0";

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + EVTX_MAGIC.len());
    if !data.starts_with(EVTX_MAGIC) {
        input.extend_from_slice(EVTX_MAGIC);
    }
    input.extend_from_slice(data);
    let Ok(mut reader) = EventReader::from_reader("fuzz.evtx", Cursor::new(input)) else {
        return;
    };
    for record in reader.processes() {
        drop(record);
    }
    drop(reader.into_report());
});
