//! Property tests over generated input, with a bounded case count so `cargo test` stays
//! quick: wildcard matching against a plain reference matcher, pattern sets against their
//! patterns one by one, SPL printing that parses back
//! to the same pipeline, and scans that give the same rows however an export is split into
//! files at event boundaries, and `tstats` groups dropped before an inner `join` that would
//! drop them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use detection::content::{load_macro_table, load_rule};
use detection::datamodel::NodeRecord;
use detection::scan::{ScanOptions, scan_files};
use detection::spl::{FieldGlob, MacroDefinition, MacroTable, Pattern, PatternSet, Search};
use proptest::prelude::*;

use crate::support::fixture;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) }
}

/// Whether `value` matches `pattern`, `*` matching any run: dynamic programming over
/// prefixes, the textbook way, sharing nothing with the library's matcher.
fn reference_glob(pattern: &[char], value: &[char]) -> bool {
    // matched[j]: the pattern so far matches value[..j].
    let mut matched = vec![false; value.len() + 1];
    matched[0] = true;
    for &p in pattern {
        let mut next = vec![false; value.len() + 1];
        if p == '*' {
            let mut any = false;
            for j in 0..=value.len() {
                any |= matched[j];
                next[j] = any;
            }
        } else {
            for j in 1..=value.len() {
                next[j] = matched[j - 1] && value[j - 1] == p;
            }
        }
        matched = next;
    }
    matched[value.len()]
}

fn chars_lower(text: &str) -> Vec<char> {
    text.chars().flat_map(char::to_lowercase).collect()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn pattern_matches_as_a_case_insensitive_glob(
        pattern in "[abAB.\\\\ *]{0,10}",
        value in "[abAB.\\\\ *]{0,12}",
    ) {
        let expected = reference_glob(&chars_lower(&pattern), &chars_lower(&value));
        prop_assert_eq!(Pattern::new(&pattern).matches(&value), expected);
    }

    #[test]
    fn a_pattern_set_matches_as_its_patterns_one_by_one(
        patterns in proptest::collection::vec("[abAB.É *]{0,6}", 0..24),
        values in proptest::collection::vec("[abAB.éÉ ]{0,8}", 1..8),
    ) {
        let patterns: Vec<Pattern> = patterns.iter().map(|p| Pattern::new(p)).collect();
        let set = PatternSet::new(&patterns);
        for value in &values {
            prop_assert_eq!(set.matches(value), patterns.iter().any(|p| p.matches(value)));
        }
    }

    #[test]
    fn pattern_matches_whatever_its_stars_cover(
        pieces in proptest::collection::vec("[abAB.\\\\ ]{0,3}", 1..5),
        fillers in proptest::collection::vec("[abAB.\\\\ *]{0,4}", 4),
    ) {
        // A value built by filling each `*` of the pattern, in another case, must match.
        let pattern = pieces.join("*");
        let mut value = String::new();
        for (idx, piece) in pieces.iter().enumerate() {
            if idx > 0 {
                value.push_str(&fillers[idx - 1]);
            }
            value.push_str(&piece.to_uppercase());
        }
        prop_assert!(Pattern::new(&pattern).matches(&value), "{pattern:?} vs {value:?}");
    }

    #[test]
    fn field_glob_matches_case_sensitively_and_captures_what_it_matched(
        glob in "[abA.\\\\ *]{0,8}",
        name in "[abA.\\\\ ]{0,10}",
    ) {
        let chars = |text: &str| text.chars().collect::<Vec<_>>();
        let field_glob = FieldGlob::new(&glob);
        let expected = reference_glob(&chars(&glob), &chars(&name));
        prop_assert_eq!(field_glob.matches(&name), expected);
        if let Some(captures) = field_glob.captures(&name) {
            prop_assert_eq!(captures.len(), field_glob.wildcards());
            prop_assert_eq!(field_glob.fill(&captures), name);
        }
    }
}

/// An unquoted SPL value: no whitespace, quotes, operators or parentheses.
fn bare_value() -> impl Strategy<Value = String> + Clone {
    "[a-zA-Z0-9_.:\\\\*-]{1,8}"
}

/// A double-quoted SPL value with the escapes `\"` and `\\`.
fn quoted_value() -> impl Strategy<Value = String> + Clone {
    "[a-zA-Z .*|()=,`\\\\\"]{0,8}"
        .prop_map(|text| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")))
}

fn value() -> impl Strategy<Value = String> + Clone {
    prop_oneof![bare_value(), quoted_value()]
}

/// A search condition over `fields`, nested a few levels.
fn condition(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    condition_of(fields, value())
}

/// A search condition over `fields` with values drawn from `value`.
fn condition_of(
    fields: &'static [&'static str],
    value: impl Strategy<Value = String> + Clone + 'static,
) -> impl Strategy<Value = String> {
    let field = proptest::sample::select(fields);
    let op = proptest::sample::select(&["=", "!=", "<", "<=", ">", ">="][..]);
    let leaf = prop_oneof![
        4 => (field.clone(), op, value.clone()).prop_map(|(f, op, v)| format!("{f}{op}{v}")),
        1 => (field, proptest::collection::vec(value, 1..3))
            .prop_map(|(f, vs)| format!("{f} IN ({})", vs.join(", "))),
        1 => Just("*".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// A `where` expression over a few fields, numbers and strings.
fn where_expr() -> impl Strategy<Value = String> {
    let operand = prop_oneof![
        proptest::sample::select(&["count", "user", "process_name", "firstTime"][..])
            .prop_map(str::to_owned),
        "-?[0-9]{1,3}(\\.[0-9])?",
        quoted_value(),
    ];
    let op = proptest::sample::select(&["=", "==", "!=", "<", "<=", ">", ">="][..]);
    let leaf = (operand.clone(), op, operand).prop_map(|(a, op, b)| format!("{a} {op} {b}"));
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

const NODE_FIELDS: &[&str] =
    &["Processes.process", "Processes.process_name", "Processes.user", "Processes.dest"];
const ROW_FIELDS: &[&str] = &["process", "process_name", "user", "dest", "count", "by"];

fn command() -> impl Strategy<Value = String> {
    let row_field = proptest::sample::select(ROW_FIELDS);
    prop_oneof![
        Just("`drop_dm_object_name(Processes)`".to_owned()),
        Just("`security_content_ctime(firstTime)`".to_owned()),
        Just("convert timeformat=\"%d %b %Y\" ctime(lastTime) as last".to_owned()),
        Just("rename count as \"n \\\"c\\\"\", Processes.* AS *".to_owned()),
        condition(ROW_FIELDS).prop_map(|c| format!("search {c}")),
        where_expr().prop_map(|w| format!("where {w}")),
        proptest::collection::vec(row_field.clone(), 1..4)
            .prop_map(|fields| format!("table {}", fields.join(", "))),
        (
            proptest::sample::select(&["", "+ ", "- "][..]),
            proptest::collection::vec(row_field, 1..3)
        )
            .prop_map(|(sign, fields)| format!("fields {sign}{}", fields.join(" "))),
    ]
}

/// Searches the parser accepts by construction: a `tstats` and a few commands after it.
fn search() -> impl Strategy<Value = String> {
    let options = proptest::sample::subsequence(
        &[
            "`security_content_summariesonly`",
            "summariesonly=t",
            "fillnull_value=\"n/a \\\"x\\\"\"",
        ][..],
        0..=2,
    );
    let aggregate = proptest::sample::select(
        &[
            "count",
            "count(Processes.process)",
            "min(_time) as firstTime",
            "max(_time) as lastTime",
            "values(Processes.user)",
            "dc(Processes.dest) AS hosts",
            "earliest(Processes.process)",
            "latest(\"Processes.user\")",
        ][..],
    );
    let by = proptest::sample::subsequence(NODE_FIELDS, 0..=3);
    (
        options,
        proptest::collection::vec(aggregate, 1..4),
        proptest::option::of(condition(NODE_FIELDS)),
        by,
        proptest::collection::vec(command(), 0..4),
    )
        .prop_map(|(options, aggregates, filter, by, commands)| {
            let mut text = format!(
                "| tstats {} {} from datamodel=Endpoint.Processes",
                options.join(" "),
                aggregates.join(", ")
            );
            if let Some(filter) = filter {
                write!(text, " where {filter}").unwrap();
            }
            if !by.is_empty() {
                write!(text, " by {}", by.join(", ")).unwrap();
            }
            for command in commands {
                write!(text, " | {command}").unwrap();
            }
            text
        })
}

fn macros() -> &'static MacroTable {
    static MACROS: OnceLock<MacroTable> = OnceLock::new();
    MACROS.get_or_init(|| {
        let text = std::fs::read_to_string(fixture("spl/macros.yml")).unwrap();
        let definitions: Vec<MacroDefinition> = serde_yaml::from_str(&text).unwrap();
        definitions.into_iter().collect()
    })
}

fn compile(text: &str) -> Result<Search, String> {
    Search::compile(text, macros(), "fuzz_filter").map_err(|error| format!("{error}: {text}"))
}

proptest! {
    // Generated searches are cheap (well under a millisecond each) and the nesting that
    // needs parentheses is rare among them, so this one runs more cases.
    #![proptest_config(config(1024))]

    #[test]
    fn printed_spl_parses_back_to_the_same_pipeline(text in search()) {
        let parsed = compile(&text).map_err(TestCaseError::fail)?;
        let printed = parsed.to_string();
        let reparsed = compile(&printed).map_err(TestCaseError::fail)?;
        prop_assert_eq!(reparsed.to_string(), printed.clone(), "from {}", text);
        // Printing keeps the pipeline itself, not only a fixed point of printing.
        let ast = |search: &Search| serde_json::to_value(search.commands()).unwrap();
        prop_assert_eq!(ast(&reparsed), ast(&parsed), "printed as {}", printed);
    }
}

/// The printer's promise, as the spl fuzz target checks it: the printed search compiles,
/// prints the same again, and is the same pipeline.
#[track_caller]
fn assert_round_trip(text: &str) {
    let parsed = compile(text).unwrap();
    let printed = parsed.to_string();
    let reparsed = compile(&printed).unwrap_or_else(|error| panic!("{error}\n{printed}"));
    assert_eq!(reparsed.to_string(), printed, "from {text}");
    let ast = |search: &Search| serde_json::to_value(search.commands()).unwrap();
    assert_eq!(ast(&reparsed), ast(&parsed), "printed as {printed}");
}

#[test]
fn fuzzer_finds_print_searches_that_read_back_the_same() {
    // The fuzzer's find: a field of backslashes printed bare lost half of them at each
    // reading, as a bare word's `\\` is one backslash.
    for text in [
        r##"| search "\x11" AND \\\\\\ = "#*""##,
        r#"| search "a b"="x" "a|b"!="y""#,
        r#"| search "NOT"=x "by"<2 "earliest"=1"#,
        r#"| search "a\"b" IN (x, y) c\\d IN (z)"#,
    ] {
        assert_round_trip(text);
    }
    // An eval target holding a `'` cannot go in single quotes, which have no escape.
    for text in ["x | eval LLby'&=I55y", "x | eval \"a'b c\"=1, x=\"it's\""] {
        assert_round_trip(text);
    }
    // A sort key takes one sign: the printed `+ "-7--"` is the field `-7--`, ascending.
    for text in ["x | sort +-7--, -+a", "x | sort - -b"] {
        assert_round_trip(text);
    }
    // 76 negations parse (nesting 76 of 128); printed one pair of parentheses each, they
    // nested 152 deep and the printed search was refused.
    let deep = format!(
        "%mfrocesses | where nnly=s_name{}ssemodeEndpndesses | where nnly=s_name{}ssemodeEndpnpo",
        "-".repeat(76),
        "-".repeat(18)
    );
    assert_round_trip(&deep);
    // So did a run of 200 operations, which the parser reads iteratively, at one level.
    let chain = format!("x | where y = a{} * 2 . c", " - b + 1".repeat(100));
    assert_round_trip(&chain);
    // A literal too large for a float is infinity, which printed as `inf` read back as a
    // field.
    let huge = format!(
        "v|eval x=-----5{}E5{} | eval y=1{}",
        "5".repeat(40),
        "5".repeat(20),
        "0".repeat(400)
    );
    assert_round_trip(&huge);
    // 127 negations inside an operation: one pair of parentheses per operation took the
    // printed text past the limit, so only the pairs precedence needs are printed.
    let deep = format!("v | eval x=3 - {}security_content - 1", "-".repeat(127));
    assert_round_trip(&deep);
    // An eval target holding a `"` printed in single quotes opened a quoted string for the
    // search's own reading, which knows only double quotes.
    for text in [
        "v|eval xx+--FF>otimeform\"t%a=Y-ded\u{5}<,\\| dedup\\| dp\\| ded%m-%dT%H:%M:%S\"",
        "x | eval \"a\\\"b\"=1",
        "x | eval \"oce-| search M-T(((\"=1, \"a[b]`c`\"=2",
        // Printed bare, a target with a backtick called a macro.
        "modtwov|eval\"x\\\\+D`A\"= la\\\\\\\\cNOmodtwov|eval\"x\\\\(D`A\"= la\\\\\\\\ce",
    ] {
        assert_round_trip(text);
    }
    // `NOT` takes in every operator from comparisons up that follows it: in parentheses
    // only where one follows, so deep mixes of `NOT` and minus print no deeper than read.
    for text in [
        "x | where ((NOT a) == b) OR (a + NOT b) OR (NOT a AND b) OR (-NOT a . c)",
        "v|eval xx+--------999999999999999999999=--------------------v|eval xx+--------999999999999999999999999999999999--V-----=----------------------------6-------------------2--- NOT  NOT $x$------------ NOT  NOT $x$----------------1--- NOT $x$----------------6-----sgcur----1--- NOT  NOT $x$-----------------2--- NOT  NOT $x$------------ NOT 1--- NOT $x$-------1--- NOT $x$----------------6-----sgcur----1--- NOT  NOT $x$---------------- NOT $x$----------------0--- NOT $x$-------------- NOT  NOT $x$---------------- NOT $x$----------------0--- NOT $x$----------------6-----sgcur----1--- NOT  NOT $x$-------------0-1--- NOT 3v-alue-s",
    ] {
        assert_round_trip(text);
    }
    // Plain field names stay bare.
    let printed = compile("| search Processes.process_name=x").unwrap().to_string();
    assert!(printed.contains(r#"Processes.process_name = "x""#), "{printed}");
}

/// The comsvcs rule of the fixture content tree compiled with its macros (a copy, so that
/// editing the workspace's own rule never changes what these tests check).
fn comsvcs_search() -> &'static Search {
    static SEARCH: OnceLock<Search> = OnceLock::new();
    SEARCH.get_or_init(|| {
        let root = fixture("content");
        let rule = load_rule(&root.join("detections/endpoint/dump_lsass_via_comsvcs_dll.yml"))
            .unwrap_or_else(|error| panic!("{error}"));
        let macros = load_macro_table(&root).unwrap_or_else(|error| panic!("{error}"));
        Search::compile(&rule.search, &macros, &rule.filter_macro_name())
            .unwrap_or_else(|error| panic!("{error}"))
    })
}

/// The fixture content tree's T1003.001 stand-in and the offsets where one event ends and
/// the next begins (the start and the end of the file included).
fn export_and_boundaries() -> &'static (Vec<u8>, Vec<usize>) {
    static EXPORT: OnceLock<(Vec<u8>, Vec<usize>)> = OnceLock::new();
    EXPORT.get_or_init(|| {
        let bytes =
            std::fs::read(fixture("content/fixtures/datasets/T1003.001-stand-in.log")).unwrap();
        let mut boundaries = vec![0, bytes.len()];
        for (offset, window) in bytes.windows(b"</Event>".len()).enumerate() {
            if window == b"</Event>" {
                boundaries.push(offset + window.len());
            }
            // `<EventData>` and `<EventID>` start the same way but are inside an event.
            if window.starts_with(b"<Event ") || window.starts_with(b"<Event>") {
                boundaries.push(offset);
            }
        }
        boundaries.sort_unstable();
        boundaries.dedup();
        (bytes, boundaries)
    })
}

fn scan_rows(paths: &[PathBuf]) -> String {
    let outcome = scan_files(
        &[comsvcs_search()],
        paths,
        ScanOptions { strict: true, ..ScanOptions::default() },
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let mut out = Vec::new();
    outcome.tables[0].write_json_lines(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn comsvcs_rule_finds_rows_in_the_whole_export() {
    // The split property below compares against this; it must not be empty.
    let rows = scan_rows(&[fixture("content/fixtures/datasets/T1003.001-stand-in.log")]);
    assert!(rows.lines().count() >= 1, "no rows: {rows}");
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn splitting_an_export_at_an_event_boundary_keeps_the_rows(pick in any::<proptest::sample::Index>()) {
        let (bytes, boundaries) = export_and_boundaries();
        let at = boundaries[pick.index(boundaries.len())];
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&first, &bytes[..at]).unwrap();
        std::fs::write(&second, &bytes[at..]).unwrap();
        let whole = scan_rows(&[fixture("content/fixtures/datasets/T1003.001-stand-in.log")]);
        prop_assert_eq!(scan_rows(&[first, second]), whole, "split at byte {}", at);
    }
}

/// A long `OR` list in `tstats … where` becomes sets of patterns; `search` after `tstats`
/// still tries its terms one by one on each row. Over the `by` fields both select the same
/// groups, so the rows must be equal, whatever the mix of exact values, wildcards, `IN`
/// lists and case.
#[test]
fn a_long_or_list_gives_the_rows_of_its_terms_tried_one_by_one() {
    let mut export = tempfile::NamedTempFile::new().unwrap();
    detection::scan::synthetic::write_export(&mut export, 3, 2 << 20).unwrap();
    let mut terms: Vec<String> =
        (0..3000).map(|n| format!("Processes.process_name=tool{n}.exe")).collect();
    terms.extend((0..40).map(|n| format!("Processes.process=\"*\\\\dropper{n}.dll*\"")));
    terms.push("Processes.process_name=RUNDLL32.EXE".to_owned());
    terms.push("Processes.process=\"*shell32.dll,Control_RunDLL*\"".to_owned());
    terms.push("Processes.process_name IN (cmd.exe, \"Net.*\", taskhostw.exe)".to_owned());
    terms.push("(Processes.process=*comsvcs* NOT Processes.process_name=rundll32.exe)".to_owned());
    let condition = terms.join(" OR ");
    let by = "by Processes.dest Processes.process_name Processes.process";
    let texts = [
        format!("| tstats count from datamodel=Endpoint.Processes where {condition} {by}"),
        format!("| tstats count from datamodel=Endpoint.Processes {by} | search {condition}"),
    ];
    let searches: Vec<Search> = texts
        .iter()
        .map(|text| Search::compile(text, &MacroTable::default(), "none_filter").unwrap())
        .collect();
    let paths =
        [export.path().to_path_buf(), fixture("content/fixtures/datasets/T1003.001-stand-in.log")];
    let outcome = scan_files(&[&searches[0], &searches[1]], &paths, ScanOptions::default())
        .unwrap_or_else(|error| panic!("{error}"));
    let [sets, one_by_one] = &outcome.tables[..] else { panic!("two tables") };
    assert!(sets.len() >= 5, "too few groups to compare: {}", sets.len());
    assert_eq!(sets, one_by_one);
}

/// A piece of an export: events the comsvcs rule matches or not, and the text between
/// events that once made the fast path slow, with and without the rule's literals.
fn export_piece() -> impl Strategy<Value = String> {
    const LITERALS: &str = r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 756 x full";
    let event = |command: &str, id: u32| {
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
             <Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
             <TimeCreated SystemTime='2021-03-04T05:06:07.123Z'/><EventRecordID>{id}</EventRecordID>\
             <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws01</Computer>\
             </System><EventData><Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data>\
             <Data Name='CommandLine'>{command}</Data><Data Name='User'>LAB\\u{id}</Data>\
             </EventData></Event>"
        )
    };
    prop_oneof![
        (0..5u32).prop_map(move |id| event(LITERALS, id)),
        (0..5u32).prop_map(move |id| event("rundll32.exe shell32.dll,Control_RunDLL", id)),
        (1..200usize).prop_map(|lines| format!("{LITERALS}\n").repeat(lines)),
        Just(format!("01/14/2021 11:41:39 PM\nLogName=Security\nMessage={LITERALS}\n\n")),
        Just(format!("</Event> {LITERALS} </Event>\n")),
        Just(format!("<Event><System>{LITERALS}")),
        Just(format!("<EventData>{LITERALS}</EventData>")),
        Just("\n".to_owned()),
        "[a-zA-Z<>/ =\n]{0,40}",
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn text_between_events_never_changes_the_prefilter_rows(
        pieces in proptest::collection::vec(export_piece(), 1..12),
        read_block in 1..200usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.log");
        std::fs::write(&path, pieces.concat()).unwrap();
        let paths = [path];
        let rows = |options: ScanOptions| {
            scan_files(&[comsvcs_search()], &paths, options).unwrap().tables
        };
        let full = rows(ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() });
        for split_at_least in [0, 1] {
            let fast = rows(ScanOptions { read_block, split_at_least, ..ScanOptions::default() });
            prop_assert_eq!(&fast, &full, "read {} bytes at a time, split {}", read_block, split_at_least);
        }
    }
}

/// A Processes or Filesystem record over few values, so that joins both find and miss.
fn join_record() -> impl Strategy<Value = NodeRecord> {
    let value = |prefix: &'static str| (0..3u8).prop_map(move |n| format!("{prefix}{n}"));
    (any::<bool>(), 0..4i64, value("d"), value("g"), proptest::option::of(value("u")), value("f"))
        .prop_map(|(process, hour, dest, guid, user, name)| {
            let mut fields: BTreeMap<&'static str, String> =
                [("dest", dest), ("process_guid", guid)].into();
            if let Some(user) = user {
                fields.insert("user", user);
            }
            fields.insert(if process { "process_name" } else { "file_name" }, name);
            NodeRecord {
                node: if process { "Processes" } else { "Filesystem" },
                time_micros: (1_700_000_000 + hour * 1800) * 1_000_000,
                fields,
            }
        })
}

/// A broad `tstats`, commands that may or may not let its groups be dropped before the
/// join, and a join whose subsearch gives single values, multivalues or nulls.
fn join_search() -> impl Strategy<Value = String> {
    let renamed = prop_oneof![4 => Just("| rename Processes.* as *"), 1 => Just("")];
    let between = proptest::collection::vec(
        prop_oneof![
            Just("| rename process_guid as guid"),
            Just("| rename dest as process_guid"),
            Just("| convert ctime(firstTime)"),
            Just("| convert ctime(process_guid)"),
            Just("| search dest!=d1"),
            Just("| eval guid=\"g1\""),
            Just("| where user!=\"u0\""),
            Just("| head 2"),
            Just("| fields - dest"),
        ],
        0..3,
    );
    let join = prop_oneof![Just("join"), Just("join max=0"), Just("join type=left max=0")];
    let fields = prop_oneof![
        Just("process_guid"),
        Just("guid"),
        Just("process_guid dest"),
        Just("_time dest"),
        Just("Processes.process_guid"),
        Just("user"),
        Just(""),
    ];
    let subsearch = prop_oneof![
        Just("| rename Filesystem.* as *"),
        Just("| rename Filesystem.* as * | stats values(process_guid) as process_guid by dest"),
        Just("| rename Filesystem.* as * | eval guid=process_guid | search file_name=f1"),
        Just("| rename Filesystem.process_guid as Processes.process_guid"),
    ];
    (renamed, between, join, fields, subsearch).prop_map(
        |(renamed, between, join, fields, subsearch)| {
            let between = between.join(" ");
            format!(
                "| tstats count min(_time) as firstTime values(Processes.process_name) as names \
                 from datamodel=Endpoint.Processes by _time span=1h Processes.dest \
                 Processes.process_guid Processes.user {renamed} {between} | {join} {fields} \
                 [| tstats count as files values(Filesystem.file_name) as file_name \
                 from datamodel=Endpoint.Filesystem by _time span=1h Filesystem.dest \
                 Filesystem.process_guid {subsearch}]"
            )
        },
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn dropping_groups_an_inner_join_drops_never_changes_the_rows(
        text in join_search(),
        records in proptest::collection::vec(join_record(), 0..24),
    ) {
        let search = compile(&text).unwrap();
        let run = |mut run: detection::eval::SearchRun<'_>| {
            for record in &records {
                run.add(record).unwrap();
            }
            run.finish()
        };
        prop_assert_eq!(run(search.start()), run(search.start().unpruned()), "{}", text);
    }
}

/// Sysmon launches (image, command line, user) of a few values, in several cases.
fn launches() -> impl Strategy<Value = Vec<(&'static str, &'static str, &'static str)>> {
    let image = proptest::sample::select(
        &[
            r"C:\Windows\System32\cmd.exe",
            r"C:\WINDOWS\SYSTEM32\CMD.EXE",
            r"C:\Windows\System32\rundll32.exe",
            r"C:\x\a.exe",
        ][..],
    );
    let command = proptest::sample::select(&["cmd.exe /c x", "RUNDLL32.EXE a.dll", "x", ""][..]);
    let user = proptest::sample::select(&[r"LAB\ann", r"lab\ANN", "x"][..]);
    proptest::collection::vec((image, command, user), 0..8)
}

/// The tables of a search per condition (`search` writes each) over an export of
/// `launches`, with the prefilter and the selectors it goes with, and without.
fn rows_both_ways(
    conditions: &[String],
    search: impl Fn(&str) -> String,
    launches: &[(&str, &str, &str)],
) -> (Vec<detection::eval::ResultTable>, Vec<detection::eval::ResultTable>) {
    let searches: Vec<Search> =
        conditions.iter().map(|condition| compile(&search(condition)).unwrap()).collect();
    let searches: Vec<&Search> = searches.iter().collect();
    let text: String = launches
        .iter()
        .map(|(image, command, user)| crate::scan::sysmon(image, command, user))
        .collect();
    let rows = |prefilter: bool| {
        let options = ScanOptions { prefilter, parallel: false, ..ScanOptions::default() };
        tables_over(&searches, &text, options)
    };
    (rows(true), rows(false))
}

/// Values of the Sysmon events below and patterns over them, in several cases.
const POOL: &[&str] = &[
    "cmd.exe",
    "CMD.EXE",
    "rundll32.exe",
    "\"*.exe\"",
    "cmd*",
    "*DLL*",
    "\"*run*32*\"",
    "\"LAB\\\\ann\"",
    "lab*",
    "\"\"",
    "x",
];

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn asking_only_the_searches_a_record_interests_keeps_the_rows(
        conditions in proptest::collection::vec(
            condition_of(NODE_FIELDS, proptest::sample::select(POOL).prop_map(str::to_owned)),
            1..6,
        ),
        events in launches(),
    ) {
        let search = |condition: &str| {
            format!(
                "| tstats count from datamodel=Endpoint.Processes where {condition} \
                 by Processes.process_name Processes.user"
            )
        };
        let (fast, plain) = rows_both_ways(&conditions, search, &events);
        prop_assert_eq!(fast, plain, "{:?}", conditions);
    }
}

/// The tables of `searches` over an export of `text`, read with `options`.
fn tables_over(
    searches: &[&Search],
    text: &str,
    options: ScanOptions,
) -> Vec<detection::eval::ResultTable> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.log");
    std::fs::write(&path, text).unwrap();
    scan_files(searches, &[path], options).unwrap().tables
}

/// A Sysmon launch `hour` hours into 2024-03-01, with a `ParentProcessId` when `parent`
/// says, as one line of an export.
fn launch_at(hour: u32, image: &str, command: &str, user: &str, parent: Option<&str>) -> String {
    let parent = parent.map(|id| format!("<Data Name='ParentProcessId'>{id}</Data>"));
    let (day, hour) = (1 + hour / 24, hour % 24);
    format!(
        "<Event><System><EventID>1</EventID>\
         <TimeCreated SystemTime='2024-03-{day:02}T{hour:02}:00:00Z'/>\
         <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws</Computer>\
         </System><EventData><Data Name='Image'>{image}</Data>\
         <Data Name='CommandLine'>{command}</Data><Data Name='User'>{user}</Data>{}\
         </EventData></Event>\n",
        parent.unwrap_or_default()
    )
}

/// `tstats` that group alike or almost alike: the same fields in another order, another
/// span, another fill value, a field some records or none have.
const GROUPINGS: &[&str] = &[
    "count from datamodel=Endpoint.Processes by Processes.process_name Processes.user",
    "count values(Processes.process) as p from datamodel=Endpoint.Processes by Processes.process_name Processes.user",
    "count from datamodel=Endpoint.Processes where Processes.user=\"lab*\" by Processes.process_name Processes.user",
    "count from datamodel=Endpoint.Processes by Processes.user Processes.process_name",
    "count from datamodel=Endpoint.Processes by _time span=1h Processes.user",
    "count from datamodel=Endpoint.Processes by _time span=1d Processes.user",
    "count from datamodel=Endpoint.Processes by Processes.user Processes.parent_process_id",
    "fillnull_value=\"n/a\" count from datamodel=Endpoint.Processes by Processes.user Processes.parent_process_id",
    "fillnull_value=\"-\" count from datamodel=Endpoint.Processes by Processes.user Processes.parent_process_id",
    "fillnull_value=\"-\" count from datamodel=Endpoint.Processes by Processes.user Processes.process_id",
    "count from datamodel=Endpoint.Processes by host Processes.user",
    "count min(_time) as first from datamodel=Endpoint.Processes by Processes.user \
     | join Processes.user [| tstats count as n from datamodel=Endpoint.Processes \
     by Processes.user Processes.process_name]",
];

/// A process launch: image, user, parent process id, hour.
type Launch = (&'static str, &'static str, Option<u32>, u32);

fn launch() -> impl Strategy<Value = Launch> {
    (
        proptest::sample::select(&[r"C:\Windows\System32\cmd.exe", r"C:\x\a.exe"][..]),
        proptest::sample::select(&[r"LAB\ann", r"lab\bob", "x"][..]),
        proptest::option::of(0..3u32),
        0..30u32,
    )
}

/// `events` as an export, in time order as exports are: hours apart, so that spans part
/// them.
fn export_of(events: &[Launch]) -> String {
    let mut hours: Vec<u32> = events.iter().map(|event| event.3).collect();
    hours.sort_unstable();
    let mut text = String::new();
    for ((image, user, parent, _), hour) in events.iter().zip(hours) {
        let parent = parent.map(|id| id.to_string());
        text.push_str(&launch_at(hour, image, &format!("{image} /c"), user, parent.as_deref()));
    }
    text
}

proptest! {
    #![proptest_config(config(96))]

    /// A record's group key made once for every `tstats` that groups alike gives each the
    /// rows it makes on its own.
    #[test]
    fn sharing_group_keys_keeps_the_rows(
        groupings in proptest::collection::vec(proptest::sample::select(GROUPINGS), 1..7),
        events in proptest::collection::vec(launch(), 0..12),
    ) {
        let searches: Vec<Search> =
            groupings.iter().map(|tstats| compile(&format!("| tstats {tstats}")).unwrap()).collect();
        let searches: Vec<&Search> = searches.iter().collect();
        let text = export_of(&events);
        let rows = |share_keys: bool| {
            let options = ScanOptions { share_keys, parallel: false, ..ScanOptions::default() };
            tables_over(&searches, &text, options)
        };
        prop_assert_eq!(rows(true), rows(false), "{:?}", groupings);
    }
}

/// `tstats` that build the very same groups, whatever their columns are called, and ones
/// that build others: joins whose `Processes` side is the same and whose subsearches are
/// not, a subsearch that builds the groups of a top search, an aggregate that does not
/// spill.
const ALIKE: &[&str] = &[
    "count from datamodel=Endpoint.Processes by Processes.user Processes.process_name",
    "count as n from datamodel=Endpoint.Processes by Processes.user Processes.process_name",
    "count from datamodel=Endpoint.Processes by Processes.process_name Processes.user",
    "count from datamodel=Endpoint.Processes where Processes.user=\"lab*\" \
     by Processes.user Processes.process_name",
    "count min(_time) as first from datamodel=Endpoint.Processes by Processes.user \
     | join Processes.user [| tstats count as n from datamodel=Endpoint.Processes \
     by Processes.user Processes.process_name]",
    "count min(_time) as earliest from datamodel=Endpoint.Processes by Processes.user \
     | join Processes.user [| tstats count from datamodel=Endpoint.Processes \
     where Processes.process_name=\"a.exe\" by Processes.user]",
    "avg(Processes.parent_process_id) as mean from datamodel=Endpoint.Processes by Processes.user",
    "avg(Processes.parent_process_id) as m from datamodel=Endpoint.Processes by Processes.user",
    "count from datamodel=Endpoint.Processes by _time span=1h Processes.user",
];

proptest! {
    #![proptest_config(config(96))]

    /// The `tstats` that build the same groups build them once, for all: each gives the
    /// rows it makes on its own, with its groups in memory or spilled every few records.
    #[test]
    fn sharing_groups_keeps_the_rows(
        groupings in proptest::collection::vec(proptest::sample::select(ALIKE), 1..7),
        events in proptest::collection::vec(launch(), 0..16),
        every in 1..4usize,
    ) {
        let searches: Vec<Search> =
            groupings.iter().map(|tstats| compile(&format!("| tstats {tstats}")).unwrap()).collect();
        let searches: Vec<&Search> = searches.iter().collect();
        let text = export_of(&events);
        let rows = |share_groups: bool, group_memory: usize| {
            let options = ScanOptions {
                share_groups,
                group_memory,
                memory_check_every: every,
                parallel: false,
                ..ScanOptions::default()
            };
            tables_over(&searches, &text, options)
        };
        let alone = rows(false, usize::MAX);
        prop_assert_eq!(&rows(true, usize::MAX), &alone, "{:?}", groupings);
        prop_assert_eq!(&rows(true, 0), &alone, "spilled: {:?}", groupings);
    }
}

/// `tstats` of every aggregate that spills, and one that does not (`avg`), with and
/// without `by` fields, `_time` spans and a join; and raw searches' `stats` alike, one by a
/// multivalue field.
const SPILLED: &[&str] = &[
    "count dc(Processes.process) as dc values(Processes.process) as v list(Processes.process) as l \
     min(Processes.process) as lo max(_time) as hi from datamodel=Endpoint.Processes \
     by Processes.process_name Processes.user",
    "count earliest(Processes.process) as e latest(Processes.process) as la \
     earliest_time(Processes.process) as et first(Processes.user) as f last(Processes.user) as ls \
     mode(Processes.user) as m from datamodel=Endpoint.Processes by _time span=1h",
    "median(Processes.parent_process_id) as med perc90(Processes.parent_process_id) as p90 \
     range(Processes.parent_process_id) as r from datamodel=Endpoint.Processes by Processes.user",
    "avg(Processes.parent_process_id) as mean count from datamodel=Endpoint.Processes by Processes.user",
    "count min(_time) as first from datamodel=Endpoint.Processes",
    "count from datamodel=Endpoint.Processes where Processes.user=\"nobody\"",
    "fillnull_value=\"-\" count from datamodel=Endpoint.Processes by _time span=1d Processes.parent_process_id",
    "count min(_time) as first from datamodel=Endpoint.Processes by Processes.user \
     | join Processes.user [| tstats count as n values(Processes.process_name) as names \
     from datamodel=Endpoint.Processes by Processes.user]",
    // Raw searches whose `stats` is fed the events as they are read.
    "search EventCode=1 | stats count dc(CommandLine) as dc values(CommandLine) as v \
     list(User) as l min(Image) as lo max(_time) as hi by Image User",
    "search EventCode=1 | eval p=lower(User) | stats median(ParentProcessId) as med \
     perc90(ParentProcessId) as p90 range(ParentProcessId) as r mode(Image) as m by p",
    "search EventCode=1 | stats avg(ParentProcessId) as mean count by User",
    "search EventCode=1 | stats count max(_time) as last",
    "search EventCode=1 | makemv delim=\"\\\\\" Image | stats count by Image ParentProcessId",
];

proptest! {
    #![proptest_config(config(64))]

    /// Groups spilled to disk every few records and merged back give the rows of groups
    /// held in memory: "Lower limits to max_mem_usage_mb can cause a search to be slower to
    /// complete, but there should be no loss of results" (Search Manual, "Memory and stats
    /// search performance").
    #[test]
    fn spilling_groups_keeps_the_rows(
        groupings in proptest::collection::vec(proptest::sample::select(SPILLED), 1..5),
        events in proptest::collection::vec(
            (
                proptest::sample::select(&[r"C:\Windows\System32\cmd.exe", r"C:\x\a.exe", r"C:\x\B.exe"][..]),
                proptest::sample::select(&[r"LAB\ann", r"lab\bob", "x"][..]),
                proptest::option::of(proptest::sample::select(&["0", "7", "12", "x", "2.5"][..])),
                0..60u32,
            ),
            0..24,
        ),
        every in 1..6usize,
    ) {
        let searches: Vec<Search> = groupings
            .iter()
            .map(|text| match text.strip_prefix("search ") {
                Some(_) => compile(text).unwrap(),
                None => compile(&format!("| tstats {text}")).unwrap(),
            })
            .collect();
        let searches: Vec<&Search> = searches.iter().collect();
        let mut text = String::new();
        let mut hours: Vec<u32> = events.iter().map(|event| event.3).collect();
        hours.sort_unstable();
        for ((image, user, parent, _), hour) in events.iter().zip(hours) {
            // The hour in the command line: launches apart in time are apart in `process`.
            let command = format!("{image} /c {}", hour % 24);
            text.push_str(&launch_at(hour, image, &command, user, *parent));
        }
        let rows = |group_memory| rows_within(&searches, &text, group_memory, every);
        prop_assert_eq!(rows(0), rows(usize::MAX), "{:?}", groupings);
    }
}

/// A raw search's `stats` takes the events 256 at a time, more than a generated case
/// holds: its groups spilled every few events and merged back give the rows held in
/// memory, over enough launches that most groups are in several pieces.
#[test]
fn spilling_a_raw_searchs_stats_keeps_the_rows() {
    let searches: Vec<Search> = SPILLED
        .iter()
        .filter(|text| text.starts_with("search "))
        .map(|text| compile(text).unwrap())
        .collect();
    let searches: Vec<&Search> = searches.iter().collect();
    let images = [r"C:\Windows\System32\cmd.exe", r"C:\x\a.exe", r"C:\x\B.exe"];
    let users = [r"LAB\ann", r"lab\bob", "x"];
    let parents = [None, Some("0"), Some("7"), Some("12"), Some("2.5")];
    let text: String = (0..1500u32)
        .map(|n| {
            let pick =
                |len: usize, step: u32| (n.wrapping_mul(step) as usize + n as usize / 7) % len;
            let (image, user) = (images[pick(3, 7)], users[pick(3, 11)]);
            let command = format!("{image} /c {}", n % 97);
            launch_at(n / 60, image, &command, user, parents[pick(5, 13)])
        })
        .collect();
    let expected = rows_within(&searches, &text, usize::MAX, 0);
    assert!(expected.iter().all(|table| !table.is_empty()));
    for every in [1, 7, 300] {
        let spilled = rows_within(&searches, &text, 0, every);
        assert_eq!(spilled, expected, "spilled every {every} events");
    }
}

/// The rows of `searches` over `text` on one thread, their groups held within
/// `group_memory` bytes, looked at every `every` records or events (0: the default).
fn rows_within(
    searches: &[&Search],
    text: &str,
    group_memory: usize,
    every: usize,
) -> Vec<detection::eval::ResultTable> {
    let options = ScanOptions {
        group_memory,
        memory_check_every: every,
        parallel: false,
        ..ScanOptions::default()
    };
    tables_over(searches, text, options)
}

/// A broad `tstats` and commands after it: row by row ones that make the same columns for
/// any rows, one that does not (`spath` over JSON some rows hold), and ones that wait for
/// every row.
fn batched_search() -> impl Strategy<Value = String> {
    let command = prop_oneof![
        Just("| rename dest as host_name"),
        Just("| convert ctime(firstTime)"),
        Just("| search dest!=d1"),
        Just("| search user=u*"),
        Just("| where isnotnull(user)"),
        Just("| eval seen=if(count>1, \"many\", null())"),
        Just("| eval guid=upper(process_guid)"),
        Just("| fields - process_guid"),
        Just("| rex field=dest \"(?<letter>[a-z])(?<digit>\\d)\""),
        Just("| fillnull value=none user"),
        Just("| makemv delim=\"1\" dest"),
        Just("| mvexpand dest"),
        Just("| bin count span=2"),
        Just("| eval j=if(dest=\"d1\", \"{\\\"k\\\": 1}\", \"x\") | spath input=j | eval after=1"),
        Just("| foreach d* [eval <<FIELD>>=\"<<FIELD>>\"]"),
        Just("| foreach count [head 1]"),
        // Patterns made of values: `(` does not compile, and the first command to fail, at
        // its first failing row, is the error.
        Just("| eval a=if(match(\"x\", dest), 1, 0)"),
        Just("| where match(\"x\", user)"),
        Just("| head 3"),
        Just("| sort - dest"),
        Just("| stats count by user"),
        // Order-dependent aggregates fold the batches in the table's order.
        Just("| stats latest(dest) as last dc(process_guid) as guids values(user) as u by dest"),
        Just("| dedup user"),
        Just("| dedup 2 dest keepempty=true"),
        Just("| dedup consecutive=true user"),
        Just("| table user, d*, count, names"),
        Just(
            "| search [| tstats count from datamodel=Endpoint.Processes \
              where Processes.dest=d1 by Processes.user Processes.dest \
              | rename Processes.* as * | dedup user | table user]"
        ),
        Just(
            "| join dest [| tstats count as n values(Processes.process_name) as more \
              from datamodel=Endpoint.Processes by Processes.dest Processes.user \
              | rename Processes.* as * | dedup dest | table dest, user, n, more]"
        ),
        Just(
            "| join type=left max=0 user [| tstats count as n \
              from datamodel=Endpoint.Processes where Processes.dest=d1 \
              by Processes.user Processes.dest | rename Processes.* as *]"
        ),
    ];
    proptest::collection::vec(command, 0..5).prop_map(|commands| {
        format!(
            "| tstats count min(_time) as firstTime values(Processes.process_name) as names \
             from datamodel=Endpoint.Processes by _time span=1h Processes.dest \
             Processes.process_guid Processes.user | rename Processes.* as * {}",
            commands.join(" ")
        )
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// A `tstats`'s rows made and sent through the row-by-row commands after it a few at a
    /// time give the table those commands give over all of them at once.
    #[test]
    fn finishing_a_few_rows_at_a_time_keeps_the_table(
        text in batched_search(),
        records in proptest::collection::vec(join_record(), 0..24)
            .prop_map(|records| records.into_iter().map(|mut record| {
                // Every record a launch with a user, so that most make rows; some values
                // are broken patterns.
                record.node = "Processes";
                record.fields.entry("user").or_insert_with(|| "u9".to_owned());
                for (field, broken) in [("dest", "d2"), ("user", "u2")] {
                    if record.fields.get(field).is_some_and(|value| value == broken) {
                        record.fields.insert(field, format!("{broken}("));
                    }
                }
                record
            }).collect::<Vec<_>>()),
        batch in 1..5usize,
    ) {
        let search = compile(&text).unwrap();
        whole_and_in_batches(&search, batch, |run| {
            for record in &records {
                run.add(record).unwrap();
            }
        })?;
    }
}

/// A raw search's `stats` and commands after it, as [`batched_search`] gives for a `tstats`.
fn batched_raw_search() -> impl Strategy<Value = String> {
    let command = prop_oneof![
        Just("| rename Image as image"),
        Just("| search User!=u1"),
        Just("| where count>1"),
        Just("| eval seen=if(count>1, \"many\", null())"),
        Just("| fields - cmds"),
        Just("| table User, I*, count"),
        Just("| dedup User"),
        Just("| dedup 2 Image keepempty=true"),
        Just("| eval a=if(match(\"x\", User), 1, 0)"),
        Just("| head 2"),
        Just("| sort - count"),
        Just("| stats first(Image) as first count by User"),
        Just("| join User [search EventCode=1 Image=a.exe | stats count as n by User]"),
        Just("| search [search EventCode=1 Image=b.exe | stats count by User | fields User]"),
    ];
    proptest::collection::vec(command, 0..4).prop_map(|commands| {
        format!(
            "search EventCode=1 | stats count values(CommandLine) as cmds by Image User {}",
            commands.join(" ")
        )
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// A raw search's `stats` rows made and sent through the row-by-row commands after it a
    /// few at a time give the table those commands give over all of them at once.
    #[test]
    fn a_raw_searchs_stats_finished_a_few_rows_at_a_time_keeps_the_table(
        text in batched_raw_search(),
        events in proptest::collection::vec(
            (
                proptest::sample::select(&["a.exe", "b.exe", "c.exe"][..]),
                // `u2(` is no pattern: `match` fails on it.
                proptest::sample::select(&["u1", "u2", "u3", "u2("][..]),
                proptest::sample::select(&["x", "y"][..]),
            ),
            0..24,
        ),
        batch in 1..5usize,
    ) {
        let search = compile(&text).unwrap();
        let events: Vec<crate::pipeline::Fake> = events
            .iter()
            .enumerate()
            .map(|(n, (image, user, command))| {
                let seconds = 1_700_000_000 + i64::try_from(n).unwrap();
                let pairs = [("EventCode", "1"), ("Image", *image), ("User", *user), ("CommandLine", *command)];
                crate::pipeline::Fake::at(seconds, &pairs)
            })
            .collect();
        whole_and_in_batches(&search, batch, |run| {
            for event in &events {
                run.add_event(event).unwrap();
            }
        })?;
    }
}

/// Runs `search`, fed by `feed`, with its rows made all at once and `batch` at a time: the
/// same table with the same columns, or the same error.
fn whole_and_in_batches(
    search: &Search,
    batch: usize,
    feed: impl Fn(&mut detection::eval::SearchRun<'_>),
) -> Result<(), TestCaseError> {
    let run = |mut run: detection::eval::SearchRun<'_>| {
        feed(&mut run);
        run.finish()
    };
    let whole = run(search.start().whole());
    let batched = run(search.start().in_batches_of(batch));
    let text = search.expanded();
    prop_assert_eq!(&batched, &whole, "{}", text);
    if let Ok(table) = &whole {
        let columns = batched.as_ref().map(|t| t.columns().to_vec()).ok();
        prop_assert_eq!(columns, Some(table.columns().to_vec()), "{}", text);
    }
    Ok(())
}

/// Sysmon fields as a raw search names them, one derived by the add-on's tables.
const EVENT_FIELDS: &[&str] = &["Image", "CommandLine", "User", "EventCode", "process_name"];

/// Values of [`launches`] as raw searches see them, and patterns over them.
const EVENT_POOL: &[&str] = &[
    "1",
    "3",
    "cmd.exe",
    "\"C:\\\\Windows\\\\System32\\\\cmd.exe\"",
    "\"*\\\\CMD.EXE\"",
    "\"*run*32*\"",
    "\"LAB\\\\ann\"",
    "lab*",
    "\"*/c*\"",
    "x",
];

proptest! {
    #![proptest_config(config(96))]

    /// Asking only the searches over raw events whose conditions' guards an event's values
    /// meet reads the events asking every search reads.
    #[test]
    fn asking_only_the_raw_searches_an_event_interests_keeps_the_rows(
        conditions in proptest::collection::vec(
            condition_of(EVENT_FIELDS, proptest::sample::select(EVENT_POOL).prop_map(str::to_owned)),
            1..6,
        ),
        events in launches(),
    ) {
        let search =
            |condition: &str| format!("search {condition} | table _time Image CommandLine User");
        let (fast, plain) = rows_both_ways(&conditions, search, &events);
        prop_assert_eq!(fast, plain, "{:?}", conditions);
    }
}

/// Over all rows at once, the error is that of the first command to fail, at its first
/// failing row: a batch that fails at a later command does not hide an earlier command
/// failing on a later batch.
#[test]
fn a_batch_reports_the_error_the_whole_table_would() {
    let search = compile(
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.user \
         | rename Processes.* as * | eval a=if(match(\"x\", dest), 1, 0) \
         | eval b=if(match(\"x\", user), 1, 0)",
    )
    .unwrap();
    let record = |dest: &str, user: &str| NodeRecord {
        node: "Processes",
        time_micros: 1_700_000_000_000_000,
        fields: BTreeMap::from([("dest", dest.to_owned()), ("user", user.to_owned())]),
    };
    // The first row fails the second `eval`, the second row the first.
    let records = [record("a", "("), record("b(", "ok")];
    let run = |mut run: detection::eval::SearchRun<'_>| {
        for record in &records {
            run.add(record).unwrap();
        }
        run.finish()
    };
    let whole = run(search.start().whole());
    assert!(whole.as_ref().is_err_and(|err| err.to_string().contains("col 121")), "{whole:?}");
    assert_eq!(run(search.start().in_batches_of(1)), whole);
}
