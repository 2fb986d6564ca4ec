//! Tests of the scan area: the prefilter never changes a search's rows. Every check runs
//! the same searches with the prefilter on (at several read sizes, on one and two threads)
//! and off, over crafted events, the fixtures and generated exports, and compares the rows.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use detection::content;
use detection::eval::ResultTable;
use detection::prefilter::Prefilter;
use detection::scan::{ScanInput, ScanOptions, scan_files, scan_inputs_each, synthetic};
use detection::spl::{MacroTable, Search};
use proptest::prelude::*;

use crate::support::{files_below, fixture};

const BY: &str = "by Processes.user Processes.process_name Processes.process Processes.dest";

/// The comsvcs rule of the fixture content tree (a copy of the published rule, so that
/// editing the workspace's own rule never changes what these tests check), with its macros.
fn comsvcs_rule() -> Search {
    let root = fixture("content");
    let path = root.join("detections/endpoint/dump_lsass_via_comsvcs_dll.yml");
    let detection = content::load_rule(&path).unwrap();
    let macros = content::load_macro_table(&root).unwrap();
    Search::compile(&detection.search, &macros, &detection.filter_macro_name()).unwrap()
}

#[track_caller]
fn search(filter: &str) -> Search {
    let text = format!(
        "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes where {filter} {BY}"
    );
    Search::compile(&text, &MacroTable::default(), "none_filter").unwrap()
}

fn scan(searches: &[&Search], path: &Path, options: ScanOptions) -> Vec<ResultTable> {
    scan_files(searches, &[path.to_path_buf()], options).unwrap().tables
}

/// Rows of one thread with the prefilter off, asserted equal to the rows with it on at
/// every read size, and with it off or on split in two. Split or not, the streaming reader
/// reports the same.
#[track_caller]
fn same_rows(searches: &[&Search], path: &Path) -> Vec<ResultTable> {
    let paths = [path.to_path_buf()];
    let one_thread = ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() };
    let baseline = scan_files(searches, &paths, one_thread).unwrap();
    let split = ScanOptions { split_at_least: 1, ..one_thread };
    let halves = ScanOptions { parallel: true, ..split };
    let split = scan_files(searches, &paths, halves).unwrap();
    assert_eq!(split.tables, baseline.tables, "{}: split in two", path.display());
    assert_eq!(split.reports, baseline.reports, "{}: report split in two", path.display());
    for read_block in [1, 2, 3, 7, 64, 4096, 0] {
        for split_at_least in [0, 1] {
            let options = ScanOptions { read_block, split_at_least, ..ScanOptions::default() };
            assert_eq!(
                scan(searches, path, options),
                baseline.tables,
                "{}: read {read_block} bytes at a time, split {split_at_least}",
                path.display()
            );
        }
    }
    baseline.tables
}

fn event(id: u32, channel: &str, data: &[(&str, &str)]) -> String {
    let mut text = format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='p'/><EventID>{id}</EventID><TimeCreated SystemTime='2024-03-01T10:00:00.000000Z'/><EventRecordID>7</EventRecordID><Channel>{channel}</Channel><Computer>ws-01</Computer></System><EventData>"
    );
    for (name, value) in data {
        let _ = write!(text, "<Data Name='{name}'>{value}</Data>");
    }
    text.push_str("</EventData></Event>\n");
    text
}

pub(crate) fn sysmon(image: &str, command: &str, user: &str) -> String {
    event(
        1,
        "Microsoft-Windows-Sysmon/Operational",
        &[("Image", image), ("CommandLine", command), ("User", user)],
    )
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn total_count(table: &ResultTable) -> u64 {
    (0..table.len())
        .filter_map(|row| table.value(row, "count"))
        .map(|value| value.joined().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn prefilter_keeps_every_match_of_crafted_events() {
    let rundll = r"C:\Windows\System32\rundll32.exe";
    let mut text = String::from("# header line\n");
    let events = [
        sysmon(
            r"C:\WINDOWS\SYSTEM32\RUNDLL32.EXE",
            r"RUNDLL32.EXE COMSVCS.DLL,MINIDUMP 624 x full",
            r"C\u",
        ),
        sysmon(rundll, "rundll32.exe C:\\comsvcs.dll,\n MiniDump 1 x", r"C\u"),
        sysmon(rundll, "rundll32.exe C:\\comsvcs.dll,\r\n MiniDump 2 x", r"C\u"),
        sysmon(rundll, "rundll32.exe comsvcs.dll #24 3 x", r"C\u"),
        // KELVIN SIGN lower-cases to `k`, U+0130 to `i` and a combining dot.
        sysmon(rundll, "rundll32.exe \u{212a}ERBEROS.dll", r"C\u"),
        sysmon(rundll, "rundll32.exe WM\u{130}", r"C\u"),
        // The only `unknown` is computed: the event leaves User empty.
        sysmon(rundll, "rundll32.exe shell32.dll", ""),
        event(
            10,
            "Microsoft-Windows-Sysmon/Operational",
            &[("CallTrace", "rundll32.exe comsvcs.dll MiniDump")],
        ),
        event(
            4688,
            "Security",
            &[
                ("NewProcessName", rundll),
                ("CommandLine", "rundll32 Comsvcs.Dll miniDUMP"),
                ("TargetUserName", "bob"),
            ],
        ),
    ];
    for event in &events {
        text.push_str(event);
        text.push_str("01/14/2021 11:41:39 PM\nLogName=Security\n\n");
    }
    let file = write_temp(&text);
    let comsvcs = comsvcs_rule();
    let kerberos = search("Processes.process=*kerberos*");
    let wmi = search("Processes.process=*wmi*");
    let unknown = search("Processes.user=unknown Processes.process_path=*rundll32.exe");
    let searches = [&comsvcs, &kerberos, &wmi, &unknown];
    assert!(Prefilter::for_searches(&searches).is_some());
    let tables = same_rows(&searches, file.path());
    let counts: Vec<u64> = tables.iter().map(total_count).collect();
    assert_eq!(counts, [4, 1, 1, 1]);
    // Alone, each search's own literals decide what is parsed.
    for (alone, count) in searches.iter().zip(counts) {
        let tables = same_rows(&[alone], file.path());
        assert_eq!(tables.iter().map(total_count).sum::<u64>(), count);
    }
}

#[test]
fn a_search_without_raw_literals_turns_the_prefilter_off() {
    let unknown_only = search("Processes.user=unknown");
    let level = search("Processes.process_integrity_level=high");
    assert!(Prefilter::for_searches(&[&comsvcs_rule(), &unknown_only]).is_none());
    assert!(Prefilter::for_searches(&[&level]).is_none());
    let or = search("Processes.process=*comsvcs* OR Processes.user=*comsvcs*");
    assert!(Prefilter::for_searches(&[&or]).is_none());
    let comsvcs = comsvcs_rule();
    let prefilter = Prefilter::for_searches(&[&comsvcs]).unwrap();
    // `process_name` is computed from the command line when an event has no image, so it
    // gives no literal; `process` may be the filled `unknown`, which these literals rule out.
    assert_eq!(prefilter.pieces(), [vec!["comsvcs.dll", "dump", "m", "n"]]);
    // An `OR` needs what all its terms need: `comsvcs` of three, none of the other pieces.
    let three = search(
        r#"Processes.process="*comsvcs*dump*" OR Processes.process="*dump*comsvcs*" OR Processes.process="*comsvcs*""#,
    );
    assert_eq!(Prefilter::for_searches(&[&three]).unwrap().pieces(), [vec!["comsvcs"]]);
}

#[test]
fn fixtures_give_the_same_rows_with_and_without_prefilter() {
    let comsvcs = comsvcs_rule();
    let rundll = search("Processes.process_name=rundll32.exe");
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in ["events", "content/fixtures/datasets", "content/fixtures/benign"] {
        paths.extend(files_below(&fixture(dir)));
    }
    let mut matched = 0;
    for path in &paths {
        let tables = same_rows(&[&comsvcs, &rundll], path);
        matched += tables.iter().map(total_count).sum::<u64>();
    }
    assert!(matched > 0, "no fixture matched: the comparison proves nothing");
}

#[test]
fn generated_export_gives_the_known_rows_with_and_without_prefilter() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let written = synthetic::write_export(&mut file, 7, 3 << 20).unwrap();
    file.flush().unwrap();
    assert!(written.positives > 0 && written.near_misses > 0);
    let comsvcs = comsvcs_rule();
    let tables = same_rows(&[&comsvcs], file.path());
    assert_eq!(tables.iter().map(total_count).sum::<u64>(), written.positives);

    let gz = tempfile::NamedTempFile::new().unwrap();
    let mut encoder =
        flate2::write::GzEncoder::new(gz.reopen().unwrap(), flate2::Compression::fast());
    synthetic::write_export(&mut encoder, 7, 1 << 20).unwrap();
    encoder.finish().unwrap();
    same_rows(&[&comsvcs], gz.path());
}

/// Cases of the form `rundll32.exe <comsvcs.dll> <MiniDump>` built from pieces of the rule's
/// literals in random case, with line breaks inside values.
fn mangled(literal: &'static str) -> impl Strategy<Value = String> {
    (proptest::collection::vec(any::<bool>(), literal.len()), 0..literal.len() + 1, 0..3usize)
        .prop_map(move |(upper, cut, brk)| {
            let mut out: String = literal
                .chars()
                .zip(upper)
                .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            // Sometimes cut the literal with a line break, which must then not match.
            let line_break = ["", "\n", "\r\n"][brk];
            if !line_break.is_empty() && cut > 0 && cut < out.len() {
                out.insert_str(cut, line_break);
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prefilter_never_drops_a_matching_event(
        parts in proptest::collection::vec(
            (mangled("rundll32.exe"), mangled("comsvcs.dll"), mangled("minidump"), 0..3usize, any::<bool>()),
            1..12,
        ),
        read_block in 1..300usize,
    ) {
        let mut text = String::new();
        for (image, dll, dump, separator, security) in &parts {
            let separator = [" ", "\n", "\r\n"][*separator];
            let command = format!("{image}{separator}C:\\{dll},{separator}{dump} 624 out.dmp");
            let image = format!("C:\\Windows\\{image}");
            if *security {
                text.push_str(&event(4688, "Security", &[("NewProcessName", &image), ("CommandLine", &command)]));
            } else {
                text.push_str(&sysmon(&image, &command, "CORP\\x"));
            }
        }
        let file = write_temp(&text);
        let comsvcs = comsvcs_rule();
        let off = ScanOptions { prefilter: false, ..ScanOptions::default() };
        let baseline = scan(&[&comsvcs], file.path(), off);
        for split_at_least in [0, 1] {
            let on = ScanOptions { read_block, split_at_least, ..ScanOptions::default() };
            prop_assert_eq!(&scan(&[&comsvcs], file.path(), on), &baseline);
        }
    }
}

/// A file read in pieces on two threads, while this thread feeds them in order, gives the
/// rows and the report of reading it on one: every record selected (a search without
/// literals), and skips and notes, with their lines, in pieces read before the lines of
/// those before them were counted.
#[test]
fn a_file_read_in_pieces_gives_the_rows_and_lines_of_one_thread() {
    let mut text = String::new();
    for n in 0..400u32 {
        if n % 37 == 5 {
            let _ = writeln!(text, "# export note {n}");
        }
        if n % 53 == 9 {
            let _ = writeln!(text, "stray text {n}");
        }
        if n % 71 == 13 {
            // A start tag whose event never ends before the next one.
            let _ = writeln!(text, "<Event xmlns='x'><System><EventID>1</EventID>");
        }
        let image = format!(r"C:\x\p{}.exe", n % 17);
        text.push_str(&sysmon(&image, &format!("{image} /c {n}"), r"CORP\u"));
        text.push('\n');
    }
    let baseline = same_in_pieces(&text);
    let report = &baseline.reports[0].1;
    assert_eq!(total_count(&baseline.tables[0]), 400);
    assert_eq!(report.skipped_total, 14, "{:?}", report.skipped);
    assert!(report.skipped.iter().all(|skip| skip.location.line.is_some()));
    assert_eq!(report.notes.iter().filter(|note| note.starts_with("line ")).count(), 11);
}

/// Pieces of about 1, 512 and 8,192 bytes (see `ScanOptions::split_at_least`): an event
/// each, a few, dozens.
const PIECE_SPLITS: [u64; 3] = [1, 1024, 16 << 10];

/// A search that selects every process launch.
fn every_launch() -> Search {
    let text =
        format!("| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes {BY}");
    Search::compile(&text, &MacroTable::default(), "none_filter").unwrap()
}

/// The outcome of [`every_launch`] over `text` on one thread, asserted the same, rows and
/// report, when the file is read in pieces of every size of [`PIECE_SPLITS`].
#[track_caller]
fn same_in_pieces(text: &str) -> detection::scan::ScanOutcome {
    let file = write_temp(text);
    let every = every_launch();
    let paths = [file.path().to_path_buf()];
    let one = ScanOptions { parallel: false, ..ScanOptions::default() };
    let baseline = scan_files(&[&every], &paths, one).unwrap();
    for split_at_least in PIECE_SPLITS {
        let options = ScanOptions { split_at_least, ..ScanOptions::default() };
        let pieces = scan_files(&[&every], &paths, options).unwrap();
        assert_eq!(pieces.tables, baseline.tables, "split {split_at_least}");
        assert_eq!(pieces.reports, baseline.reports, "split {split_at_least}");
    }
    baseline
}

/// A strict read fails at the first skip, naming its line, whether the file is read on one
/// thread or in pieces (the line of a later piece is known only once the pieces before it
/// are read); the readers of the pieces after it stop.
#[test]
fn a_strict_read_in_pieces_fails_where_one_thread_does() {
    let mut text = String::new();
    for n in 0..300u32 {
        if n == 211 {
            let _ = writeln!(text, "stray text");
        }
        text.push_str(&sysmon(r"C:\x\a.exe", &format!("a.exe /c {n}"), r"CORP\u"));
        text.push('\n');
    }
    let file = write_temp(&text);
    let every = every_launch();
    let paths = [file.path().to_path_buf()];
    let error = |options: ScanOptions| {
        let options = ScanOptions { strict: true, ..options };
        scan_files(&[&every], &paths, options).map(|_| ()).unwrap_err().to_string()
    };
    let one = error(ScanOptions { parallel: false, ..ScanOptions::default() });
    let stray = text.find("stray text").unwrap();
    let line = 1 + text[..stray].matches('\n').count();
    assert!(one.contains(&format!(":{line} (byte {stray})")), "{one}");
    for split_at_least in PIECE_SPLITS {
        let pieces = error(ScanOptions { split_at_least, ..ScanOptions::default() });
        assert_eq!(pieces, one, "split {split_at_least}");
    }
}

/// An `</Event>` in the text between events (a comment line, a classic event's message)
/// ends no event: a file is never cut there, so its pieces read that text as reading the
/// file whole does. And a note a reader makes once (classic events were read) is made once
/// for the file, however many pieces hold such events.
#[test]
fn event_end_tags_in_text_between_events_do_not_cut_the_file() {
    let xml = |n: u32| {
        let image = format!(r"C:\x\p{}.exe", n % 5);
        sysmon(&image, &format!("{image} /c {n}"), r"CORP\u") + "\n"
    };
    let classic = std::fs::read_to_string(fixture("events/classic_export.log")).unwrap();
    let classic = classic.replace(
        "Message=A new process has been created.",
        "Message=A new process has been created. </Event>",
    );
    assert!(classic.contains("created. </Event>"));
    let mut text = String::new();
    for n in 0..60u32 {
        text.push_str(&xml(n));
        match n % 10 {
            3 => text.push_str("# exported by a tool </Event> at 10:00\n"),
            5 => text.push_str("# a comment that ends </Event>\n"),
            7 => text.push_str(&classic),
            _ => {}
        }
    }
    let baseline = same_in_pieces(&text);
    let report = &baseline.reports[0].1;
    let classic_note = report.notes.iter().filter(|note| note.starts_with("classic")).count();
    assert_eq!(classic_note, 1, "{:?}", report.notes);
    assert!(baseline.tables[0].len() > 5, "{:?}", baseline.tables[0]);
}

#[test]
fn damaged_input_around_candidates_gives_the_same_rows() {
    let rundll = r"C:\Windows\System32\rundll32.exe";
    let positive = |n: u32| sysmon(rundll, &format!("rundll32 comsvcs.dll MiniDump {n}"), r"C\u");
    let literals = "rundll32.exe comsvcs.dll MiniDump";
    let mut text = positive(1);
    // A start tag whose event never ends before the next one.
    let _ = writeln!(text, "<Event xmlns='x'><System><EventID>1</EventID> {literals}");
    text.push_str(&positive(2));
    // The literals in text between events.
    let _ = writeln!(text, "stray text {literals}");
    // An event larger than MAX_EVENT_BYTES, then one that is fine.
    let _ = write!(text, "<Event xmlns='x'><System>{literals}");
    // Past the limit by more than a read, however reads fall.
    text.push_str(&"x".repeat(detection::events::MAX_EVENT_BYTES + (3 << 20)));
    text.push_str("</System></Event>\n");
    text.push_str(&positive(3));
    // A start tag at the end of input that never ends.
    let _ = write!(text, "<Event xmlns='x'><System>{literals}");
    let file = write_temp(&text);
    let comsvcs = comsvcs_rule();
    let paths = [file.path().to_path_buf()];
    let off = ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() };
    let baseline = scan_files(&[&comsvcs], &paths, off).unwrap();
    assert_eq!(total_count(&baseline.tables[0]), 3);
    for read_block in [64, 4096, 0] {
        for split_at_least in [0, 1] {
            let options = ScanOptions { read_block, split_at_least, ..ScanOptions::default() };
            let outcome = scan_files(&[&comsvcs], &paths, options).unwrap();
            assert_eq!(
                outcome.tables, baseline.tables,
                "read {read_block}, split {split_at_least}"
            );
            let reasons: Vec<String> =
                outcome.reports[0].1.skipped.iter().map(|skip| skip.reason.to_string()).collect();
            assert!(
                reasons.iter().any(|reason| reason.contains("truncated"))
                    && reasons.iter().any(|reason| reason.contains("larger than")),
                "{reasons:?}"
            );
        }
    }
}

#[track_caller]
fn raw(text: &str) -> Search {
    Search::compile(text, &MacroTable::default(), "none_filter").unwrap()
}

#[test]
fn a_raw_search_prefilters_on_free_text_and_verbatim_fields_only() {
    // A free-text term is found in `_raw` ("Search terms … are matched against the raw
    // event", Search Reference: search command), which is the event's bytes.
    let term = raw("search comsvcs EventCode=1 | stats count");
    assert_eq!(Prefilter::for_searches(&[&term]).unwrap().pieces(), [vec!["1", "comsvcs"]]);
    // `CommandLine` is an extracted `Data` value, verbatim in the bytes.
    let field = raw("search CommandLine=*MiniDump* | stats count");
    assert_eq!(Prefilter::for_searches(&[&field]).unwrap().pieces(), [vec!["dump", "m", "n"]]);
    // `source` comes from where the file was indexed, an eventtype from the add-on's
    // definitions, and `NOT` requires an absence: none says what the bytes hold.
    for text in [
        "search source=XmlWinEventLog:Security | stats count",
        "search eventtype=wineventlog_security | stats count",
        "search NOT comsvcs | stats count",
        "search comsvcs OR EventCode=4688 | stats count",
    ] {
        assert!(Prefilter::for_searches(&[&raw(text)]).is_none(), "{text}");
    }
}

#[test]
fn raw_searches_are_selected_by_their_event_codes_then_what_else_they_need() {
    // Selection asks an event only the searches its code, and then one of its values, may
    // interest (see `scan::select`); `=` compares "string values" (Search Reference,
    // search), so an `EventCode` named whole is a code the event must have. Searches that
    // name their codes whole, in lists and in `OR`s, by a wildcard, not at all, or in a
    // `NOT`, give the rows asking every search of every event gives.
    let channel = "Microsoft-Windows-Sysmon/Operational";
    let events = [
        event(
            1,
            channel,
            &[
                ("Image", r"C:\Windows\System32\rundll32.exe"),
                ("CommandLine", "rundll32 comsvcs.dll MiniDump"),
                ("User", "admin"),
            ],
        ),
        event(1, channel, &[("Image", r"C:\x\cmd.exe"), ("CommandLine", "cmd /c whoami")]),
        event(11, channel, &[("TargetFilename", r"C:\t\lsass.dmp")]),
        event(3, channel, &[("DestinationPort", "445")]),
        event(3, channel, &[("DestinationPort", "80")]),
        event(10, channel, &[("CommandLine", "x comsvcs y")]),
    ];
    let file = write_temp(&events.concat());
    let cases = [
        (r"EventCode=1 Image=*\rundll32.exe", 1),
        ("EventCode IN (1, 11) (TargetFilename=*.dmp OR CommandLine=*minidump*)", 2),
        ("(EventCode=1 User=admin) OR (EventCode=3 DestinationPort=445)", 2),
        ("EventCode=1*", 4),
        ("EventCode=3 source=*sysmon*", 2),
        ("CommandLine=*comsvcs* OR EventCode=11", 3),
        ("NOT EventCode=1", 4),
    ];
    let searches: Vec<Search> = cases
        .iter()
        .map(|(condition, _)| raw(&format!("search {condition} | stats count")))
        .collect();
    let all: Vec<&Search> = searches.iter().collect();
    let tables = same_rows(&all, file.path());
    for ((condition, expected), table) in cases.iter().zip(&tables) {
        assert_eq!(total_count(table), *expected, "{condition}");
    }
}

#[test]
fn raw_searches_read_classic_events_between_xml_ones_either_way() {
    // The classic fixture mixes XML and classic text events: with a search over raw
    // events the text between XML events is read, prefilter on or off.
    let classic = fixture("events/classic_export.log");
    let by_code = raw("search rundll32 | stats count by EventCode sourcetype");
    let tables = same_rows(&[&by_code, &comsvcs_rule()], &classic);
    let sourcetypes: Vec<String> = (0..tables[0].len())
        .map(|row| tables[0].value(row, "sourcetype").unwrap().joined())
        .collect();
    assert!(sourcetypes.contains(&"WinEventLog".to_owned()), "{sourcetypes:?}");
}

#[test]
fn a_tstats_inside_a_join_reads_the_records_the_top_search_does_not() {
    // Both halves of a split file send on only what some search reads; the subsearch's
    // `tstats` reads records the top `tstats` does not select.
    let text = sysmon(r"C:\Windows\System32\rundll32.exe", "rundll32 comsvcs.dll", "LAB\\ann")
        + &sysmon(r"C:\Windows\System32\cmd.exe", "cmd /c whoami", "LAB\\bob")
        + &sysmon(r"C:\Windows\System32\rundll32.exe", "rundll32 x.dll", "LAB\\cid");
    let file = write_temp(&text);
    let joined = raw("| tstats count from datamodel=Endpoint.Processes \
         where Processes.process_name=rundll32.exe by Processes.user \
         | join type=left Processes.user [| tstats count as shells \
         from datamodel=Endpoint.Processes where Processes.process_name=cmd.exe \
         by Processes.user]");
    assert!(joined.selects(&detection::datamodel::NodeRecord {
        node: "Processes",
        time_micros: 0,
        fields: [("process_name", "cmd.exe".to_owned()), ("user", "bob".to_owned())].into(),
    }));
    let tables = same_rows(&[&joined], file.path());
    assert_eq!(tables[0].len(), 2);
}

#[test]
fn classic_events_between_xml_ones_reach_tstats_with_the_prefilter_on() {
    // The candidate search jumps over the text between XML events; a file holding classic
    // events (a `LogName=` line) is read by the streaming reader instead, so the classic
    // 4688 below is a Processes record either way.
    let xml = sysmon(r"C:\Windows\System32\cmd.exe", "cmd /c whoami", "LAB\\bob");
    let classic = std::fs::read_to_string(fixture("events/classic_export.log")).unwrap();
    let file = write_temp(&format!("{xml}{classic}{xml}"));
    let tables = same_rows(&[&comsvcs_rule()], file.path());
    assert_eq!(total_count(&tables[0]), 1);
    assert_eq!(tables[0].value(0, "user").unwrap().joined(), "LAB\\erin");
}

/// A `tstats` without literals reads the records of its dataset, and those come from events
/// of a few codes (`Processes`: Sysmon 1, Security 4688): events of other codes are passed
/// over unparsed where their bytes show the code plainly, and parsed where they do not (a
/// comment or CDATA near the `EventID`, a prefix, an entity). The rows are those of reading
/// every event; a search over raw events reads any code, so then nothing is passed over.
#[test]
fn a_rule_without_literals_passes_over_events_of_codes_its_dataset_lacks() {
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    let launch = |n: u32| {
        [("Image", r"C:\x\a.exe"), ("CommandLine", if n.is_multiple_of(2) { "a" } else { "b" })]
    };
    let mut text = String::new();
    for n in 0..40u32 {
        text.push_str(&event(1, sysmon, &launch(n)));
        text.push_str(&event(7, sysmon, &[("ImageLoaded", r"C:\x\b.dll")]));
        text.push_str(&event(3, sysmon, &[("DestinationIp", "10.0.0.1")]));
        text.push_str(&event(4688, "Security", &[("NewProcessName", r"C:\x\c.exe")]));
    }
    // Shapes whose code the bytes do not show plainly, or show with attributes and spaces:
    // parsed, so their records count. (The parser keeps CDATA as written, so that event is
    // skipped as malformed either way.)
    let odd = |system: &str| event(1, sysmon, &launch(0)).replace("<EventID>1</EventID>", system);
    text.push_str(&odd("<!-- 7 --><EventID>1</EventID>"));
    text.push_str(&odd("<e:EventID xmlns:e='x'>1</e:EventID>"));
    text.push_str(&odd("<EventID Qualifiers='0'> 1 </EventID>"));
    text.push_str(&odd("<EventID><![CDATA[1]]></EventID>"));
    let file = write_temp(&text);
    let launches =
        raw("| tstats count from datamodel=Endpoint.Processes by Processes.process_name");
    let tables = same_rows(&[&launches], file.path());
    assert_eq!(total_count(&tables[0]), 40 + 40 + 3, "{:?}", tables[0]);
    let paths = [file.path().to_path_buf()];
    let prefiltered = |searches: &[&Search]| {
        let outcome = scan_files(searches, &paths, ScanOptions::default()).unwrap();
        outcome.reports[0].1.prefiltered
    };
    assert_eq!(prefiltered(&[&launches]), 80);
    let by_code = raw("search EventCode=7 | stats count");
    assert_eq!(prefiltered(&[&launches, &by_code]), 0);
}

/// A search over raw events gets only the fields of an event its commands name, up to the
/// first command that keeps only the fields it names (`stats`, `table`, `fields`), and the
/// internal ones; the rows are those of giving it every field. Searches whose commands may
/// read a field they do not name (a wildcard, `searchmatch`, `fillnull` of every field, no
/// command that keeps only named fields) get every field.
#[test]
fn a_search_over_raw_events_reads_the_fields_it_names_with_the_rows_of_every_field() {
    let mut text = String::new();
    for n in 0..30u32 {
        let image = format!(r"C:\x\P{}.exe", n % 4);
        let mut data = vec![
            ("Image", image.as_str()),
            ("CommandLine", if n % 3 == 0 { "cmd /c whoami" } else { "cmd /c dir" }),
            ("User", r"CORP\u"),
        ];
        if n % 5 == 0 {
            data.push(("ParentImage", r"C:\x\parent.exe"));
        }
        text.push_str(&event(1, "Microsoft-Windows-Sysmon/Operational", &data));
        text.push_str(&event(
            3,
            "Microsoft-Windows-Sysmon/Operational",
            &[("DestinationIp", "10.0.0.9")],
        ));
    }
    let file = write_temp(&text);
    let searches = [
        r#"search EventCode=1 | eval exe=lower(mvindex(split(Image, "\\"), -1)) | where len(exe) > 3 | stats count by exe Computer"#,
        "search EventCode=1 | table CommandLine Image",
        "search EventCode=1 | fields + Image User",
        "search EventCode=1 | rename Image as img | stats values(img) as images by Computer",
        "search EventCode=1 | dedup Image | sort - Image | head 3 | table Image _time",
        r#"search EventCode=1 | rex field=CommandLine "/c (?<verb>\w+)" | stats count by verb"#,
        "search EventCode=1 | fillnull value=none ParentImage | stats count by ParentImage",
        "search EventCode=1 | eventstats count as seen by Image | table Image seen",
        "search EventCode=1 | bin _time span=1h | stats count by _time",
        "search EventCode=1 | search whoami | stats count by User",
        "search EventCode=1 | stats count(eval(Image!=\"x\")) as images dc(CommandLine) as lines",
        // Fields written over, or renamed from one an event lacks; a regex over `_raw`.
        "search EventCode=1 | eventstats count as User by ParentImage | stats count by User",
        r#"search EventCode=1 | rename Missing as User | eval u=coalesce(User, "none") | stats count by u"#,
        "search EventCode=1 | regex \"whoami\" | table Image",
        // Subsearches and the pipelines of `join` and `append` name their own fields.
        "search EventCode=1 | join Image [search EventCode=1 | stats count as n by Image] | table Image n",
        "search EventCode=1 | append [search EventCode=1 | table User] | table Image User",
        "search EventCode=1 [search EventCode=1 CommandLine=*whoami* | fields Image] | table Image",
        // Every field: a wildcard, searchmatch, fillnull of every field, no projection.
        "search EventCode=1 | table *",
        "search EventCode=1 | stats values(*) as * by Image",
        r#"search EventCode=1 | where searchmatch("User=*u") | stats count"#,
        "search EventCode=1 | fillnull value=none | stats count by ParentImage",
        "search EventCode=1 | head 4",
        "search EventCode=3",
    ];
    let paths = [file.path().to_path_buf()];
    for search in searches {
        let compiled = raw(search);
        let run = |named_fields_only: bool| {
            let options = ScanOptions { named_fields_only, ..ScanOptions::default() };
            scan_files(&[&compiled], &paths, options).unwrap().tables
        };
        let every_field = run(false);
        assert!(!every_field[0].is_empty(), "{search}: no rows");
        assert_eq!(run(true), every_field, "{search}");
    }
}

#[test]
fn many_files_read_on_two_threads_give_what_one_after_another_gives() {
    // Files are read two at a time and fed in the order given: rows and each file's report
    // are those of reading them one by one, for every format and either read path.
    let mut paths: Vec<PathBuf> = files_below(&fixture("events"));
    paths.extend(files_below(&fixture("content/fixtures/datasets")));
    paths.extend(files_below(&fixture("content/fixtures/benign")));
    let by_code = raw("search EventCode=1 OR EventCode=4688 | stats count by Computer");
    let rundll = search("Processes.process_name=rundll32.exe");
    let searches = [&comsvcs_rule(), &rundll, &by_code];
    for prefilter in [true, false] {
        let one_by_one = ScanOptions { prefilter, parallel: false, ..ScanOptions::default() };
        let two_threads = ScanOptions { prefilter, ..ScanOptions::default() };
        let expected = scan_files(&searches, &paths, one_by_one).unwrap();
        let got = scan_files(&searches, &paths, two_threads).unwrap();
        assert_eq!(got.tables, expected.tables, "prefilter {prefilter}");
        assert_eq!(got.reports, expected.reports, "prefilter {prefilter}");
        assert!(expected.tables.iter().all(|table| !table.is_empty()));
    }
    // A file that cannot be read stops the scan with the same error either way.
    let mut with_bad = paths.clone();
    with_bad.insert(2, fixture("events").join("no_such_file.log"));
    let parallel = scan_files(&searches, &with_bad, ScanOptions::default()).unwrap_err();
    let sequential =
        scan_files(&searches, &with_bad, ScanOptions { parallel: false, ..ScanOptions::default() })
            .unwrap_err();
    assert_eq!(parallel.to_string(), sequential.to_string());
}

/// Many small files, more than the readers may take ahead of the feeding: the rows, in
/// event order, and every file's report are those of reading them one after another, and a
/// file far down the list that cannot be read, or that holds a skip in a strict read,
/// stops the scan with the same error.
#[test]
fn many_small_files_are_fed_in_order_with_the_readers_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for n in 0..120u32 {
        let mut text = String::new();
        for k in 0..(n % 4) {
            let image = format!(r"C:\x\p{}.exe", (n + k) % 7);
            text.push_str(&sysmon(&image, &format!("{image} /c {n}.{k}"), r"CORP\u"));
        }
        if n % 29 == 3 && n > 60 {
            text.push_str("stray text\n");
        }
        let path = dir.path().join(format!("{n:03}.log"));
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let in_order = raw("search EventCode=1 | table CommandLine");
    let searches = [&in_order, &every_launch()];
    let one = ScanOptions { parallel: false, ..ScanOptions::default() };
    let expected = scan_files(&searches, &paths, one).unwrap();
    let got = scan_files(&searches, &paths, ScanOptions::default()).unwrap();
    assert_eq!(expected.tables[0].len(), 180);
    assert_eq!(got.tables, expected.tables);
    assert_eq!(got.reports, expected.reports);
    let error = |paths: &[PathBuf], options: ScanOptions| {
        scan_files(&searches, paths, options).map(|_| ()).unwrap_err().to_string()
    };
    let mut with_bad = paths.clone();
    with_bad.insert(100, dir.path().join("missing.log"));
    assert_eq!(error(&with_bad, ScanOptions::default()), error(&with_bad, one));
    let strict = ScanOptions { strict: true, ..ScanOptions::default() };
    let failed = error(&paths, strict);
    assert!(failed.contains("061.log"), "{failed}");
    assert_eq!(failed, error(&paths, ScanOptions { parallel: false, ..strict }));
}

#[test]
fn now_is_the_newest_record_the_search_reads_whatever_else_is_read() {
    // Splunk's `now()` "returns the time that the search was started"; offline there is no
    // such time that keeps results from changing with the day, so it is the newest record
    // the search reads (the docs are silent on replayed data). Records only another search
    // reads, or that the prefilter passes over, must not move it: the shortcuts and the
    // other rules of a library never change a rule's rows.
    let later = |text: String| text.replace("2024-03-01T10:00:00", "2024-03-02T10:00:00");
    let text = sysmon(r"C:\Windows\System32\rundll32.exe", "rundll32 comsvcs.dll", "LAB\\ann")
        + &later(sysmon(r"C:\Windows\System32\cmd.exe", "cmd /c whoami", "LAB\\bob"));
    let file = write_temp(&text);
    let with_now = raw("| tstats count from datamodel=Endpoint.Processes \
         where Processes.process_name=rundll32.exe by Processes.user | eval now=now()");
    let other = raw("| tstats count from datamodel=Endpoint.Processes \
         where Processes.process_name=cmd.exe by Processes.user");
    let alone = same_rows(&[&with_now], file.path());
    let together = same_rows(&[&with_now, &other], file.path());
    assert_eq!(together.first(), alone.first());
    let table = &alone[0];
    assert_eq!(table.len(), 1);
    // 2024-03-01T10:00:00Z, the rundll32 event's time, not the later cmd event's.
    assert_eq!(table.value(0, "now").unwrap().joined(), "1709287200");
    // A search that reads no event has no such time: 0, whatever else is read.
    let generated = raw("| makeresults | eval now=now()");
    let tables = same_rows(&[&generated, &other], file.path());
    assert_eq!(tables[0].value(0, "now").unwrap().joined(), "0");
}

#[test]
fn rows_of_times_a_float_cannot_tell_apart_come_in_one_order() {
    // `tstats … by _time` orders bucket starts as numbers; past 2^33 seconds two times a
    // microsecond apart are the same float, and the order of such rows must not come from
    // the hash table that holds the groups (it differs from run to run).
    let search = raw("| tstats count from datamodel=Endpoint.Processes by _time");
    let base: i64 = 19_880_000_000 * 1_000_000;
    let order = || {
        let records = (1..=4).rev().map(|n| detection::datamodel::NodeRecord {
            node: "Processes",
            time_micros: base + n,
            fields: std::collections::BTreeMap::new(),
        });
        let table = search.run(records.collect::<Vec<_>>()).unwrap();
        (0..table.len()).map(|row| table.value(row, "_time").unwrap().joined()).collect::<Vec<_>>()
    };
    let first = order();
    assert_eq!(first.len(), 4);
    for _ in 0..20 {
        assert_eq!(order(), first);
    }
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted);
}

#[test]
fn rows_handed_on_as_made_put_together_are_the_tables_returned() {
    // A hunting search that tables every launch gives its rows a batch at a time, so that a
    // caller printing or hashing them never holds them all; a search that must see every
    // row first (`sort`) gives one piece. Either way the pieces, in order, are the table.
    let batch = detection::eval::FINISH_BATCH_ROWS;
    let launches = 2 * batch + 7;
    let text: String =
        (0..launches).map(|i| sysmon(r"C:\x\a.exe", &format!("a.exe ({i}"), r"LAB\ann")).collect();
    let file = write_temp(&text);
    let tstats = "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes";
    let every_launch =
        compile(&format!("{tstats} by Processes.process | eval x=1 | fields x, count"));
    let sorted = compile(&format!("{tstats} by Processes.process | sort - firstTime"));
    // `match` takes each command line as a pattern, and `(` is never closed.
    let fails_late = compile(&format!(
        "{tstats} by Processes.process | rename Processes.* as * \
         | eval a=if(match(\"x\", process), 1, 0)"
    ));
    let searches = [&every_launch, &sorted];
    let paths = [file.path().to_path_buf()];
    for options in
        [ScanOptions::default(), ScanOptions { group_memory: 0, ..ScanOptions::default() }]
    {
        let expected = scan_files(&searches, &paths, options).unwrap().tables;
        let pieces: Vec<std::sync::Mutex<Vec<ResultTable>>> =
            searches.iter().map(|_| std::sync::Mutex::default()).collect();
        let inputs: Vec<ScanInput> = paths.iter().cloned().map(ScanInput::derived).collect();
        let reports = scan_inputs_each(&searches, &inputs, options, &|index, rows| {
            pieces[index].lock().unwrap().push(rows);
        })
        .unwrap();
        assert_eq!(reports.len(), 1);
        let pieces: Vec<Vec<ResultTable>> =
            pieces.into_iter().map(|pieces| pieces.into_inner().unwrap()).collect();
        assert_eq!(expected[0].len(), launches);
        assert_eq!(pieces[0].len(), launches.div_ceil(batch));
        assert!(pieces[0].iter().all(|piece| piece.len() <= batch));
        assert_eq!(pieces[1].len(), 1);
        for (pieces, expected) in pieces.into_iter().zip(&expected) {
            let mut pieces = pieces.into_iter();
            let mut table = pieces.next().unwrap();
            pieces.for_each(|piece| table.append(piece));
            assert_eq!(&table, expected);
        }
    }
    // A search that fails still fails, whatever it handed on before.
    let searches = [&every_launch, &fails_late];
    let inputs = [ScanInput::derived(paths[0].clone())];
    let err = scan_inputs_each(&searches, &inputs, ScanOptions::default(), &|_, _| {}).unwrap_err();
    let expected = scan_files(&searches, &paths, ScanOptions::default()).unwrap_err();
    assert!(matches!(err, detection::scan::ScanError::Eval { index: 1, .. }), "{err}");
    assert_eq!(err.to_string(), expected.to_string());
}

#[track_caller]
fn compile(text: &str) -> Search {
    Search::compile(text, &MacroTable::default(), "none_filter").unwrap()
}
