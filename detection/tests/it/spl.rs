//! Tests of the spl area: compiling searches (macros, parsing, errors) and evaluating them
//! over hand-built `Endpoint.Processes` records as Splunk would.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use detection::datamodel::NodeRecord;
use detection::eval::{FieldValue, ResultTable};
use detection::spl::{MacroDefinition, MacroTable, Search, filter_macro_name};

use crate::support::{fixture, with_snapshots};

/// The comsvcs rule's search, as `security_content` wrote it in 2020.
const COMSVCS_SEARCH: &str = "| tstats `security_content_summariesonly` count min(_time) as firstTime max(_time) as lastTime from datamodel=Endpoint.Processes where Processes.process_name=rundll32.exe Processes.process=*comsvcs.dll* Processes.process=*MiniDump* by Processes.user Processes.process_name Processes.process Processes.dest | `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)` | `security_content_ctime(lastTime)` | `dump_lsass_via_comsvcs_dll_filter`";

const RULE_NAME: &str = "Dump LSASS via comsvcs DLL";

/// 2020-02-21T13:14:15Z.
const T0: i64 = 1_582_290_855;

fn macros() -> MacroTable {
    let text = std::fs::read_to_string(fixture("spl/macros.yml")).unwrap();
    let definitions: Vec<MacroDefinition> = serde_yaml::from_str(&text).unwrap();
    definitions.into_iter().collect()
}

#[track_caller]
fn compile(search: &str) -> Search {
    Search::compile(search, &macros(), &filter_macro_name(RULE_NAME))
        .unwrap_or_else(|error| panic!("{error}"))
}

#[track_caller]
fn compile_error(search: &str) -> String {
    match Search::compile(search, &macros(), &filter_macro_name(RULE_NAME)) {
        Ok(compiled) => panic!("compiled: {:?}", compiled.commands()),
        Err(error) => error.to_string(),
    }
}

#[track_caller]
fn run(search: &str, records: &[NodeRecord]) -> ResultTable {
    compile(search).run(records).unwrap()
}

fn process(seconds: i64, fields: &[(&'static str, &str)]) -> NodeRecord {
    NodeRecord {
        node: "Processes",
        time_micros: seconds * 1_000_000,
        fields: fields.iter().map(|(name, value)| (*name, (*value).to_owned())).collect(),
    }
}

/// The table's rows as `column=value` lists, null fields left out, for short asserts.
fn cells(table: &ResultTable) -> Vec<Vec<String>> {
    table
        .rows()
        .iter()
        .map(|row| {
            table
                .columns()
                .iter()
                .zip(row)
                .filter_map(|(column, value)| {
                    value
                        .as_ref()
                        .map(|v| format!("{column}={}", v.values().collect::<Vec<_>>().join("|")))
                })
                .collect()
        })
        .collect()
}

fn json_lines(table: &ResultTable) -> String {
    let mut out = Vec::new();
    table.write_json_lines(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn comsvcs_records() -> Vec<NodeRecord> {
    let dump = r"C:\Windows\System32\rundll32.exe C:\windows\System32\comsvcs.dll, MiniDump 624 C:\Users\alice\lsass.dmp full";
    let base = |seconds, user: &str, name: &str, command: &str| {
        process(
            seconds,
            &[
                ("process_name", name),
                ("process", command),
                ("user", user),
                ("dest", "win-host.corp"),
                ("parent_process_name", "cmd.exe"),
            ],
        )
    };
    vec![
        // Two launches by the same user, process and host: one row, count 2.
        base(T0 + 345, r"CORP\alice", "rundll32.exe", dump),
        base(T0, r"CORP\alice", "rundll32.exe", dump),
        // Values compare case-insensitively.
        base(T0 + 60, r"CORP\bob", "RUNDLL32.EXE", "rundll32 COMSVCS.DLL #24 minidump 700 x.dmp"),
        // Near misses.
        base(T0, r"CORP\alice", "rundll32.exe", r"rundll32.exe C:\windows\system32\comsvcs.dll"),
        base(T0, r"CORP\alice", "rundll32.exe", "rundll32.exe dbghelp.dll, MiniDump 624 out.dmp"),
        base(
            T0,
            r"CORP\alice",
            "powershell.exe",
            "powershell rundll32.exe comsvcs.dll, MiniDump 624 out.dmp",
        ),
        // A match without `user`: tstats drops it from `by Processes.user`.
        process(
            T0,
            &[("process_name", "rundll32.exe"), ("process", dump), ("dest", "win-host.corp")],
        ),
        // The same fields in another node are not read.
        NodeRecord { node: "Filesystem", ..base(T0, "x", "rundll32.exe", dump) },
    ]
}

#[test]
fn comsvcs_rule_groups_launches_and_formats_first_and_last_time() {
    let table = run(COMSVCS_SEARCH, &comsvcs_records());
    assert_eq!(
        table.columns(),
        ["user", "process_name", "process", "dest", "count", "firstTime", "lastTime"]
    );
    assert_eq!(table.len(), 2);
    let value = |row, column| table.value(row, column).cloned();
    let single = |text: &str| Some(FieldValue::Single(text.to_owned()));
    assert_eq!(value(0, "user"), single(r"CORP\alice"));
    assert_eq!(value(0, "count"), single("2"));
    assert_eq!(value(0, "firstTime"), single("2020-02-21T13:14:15"));
    assert_eq!(value(0, "lastTime"), single("2020-02-21T13:20:00"));
    assert_eq!(value(1, "user"), single(r"CORP\bob"));
    assert_eq!(value(1, "process_name"), single("RUNDLL32.EXE"));
    with_snapshots(|| {
        insta::assert_snapshot!("json@dump_lsass_via_comsvcs_dll", json_lines(&table));
    });
}

#[test]
fn comsvcs_rule_writes_csv_and_text() {
    let table = run(COMSVCS_SEARCH, &comsvcs_records());
    let mut csv = Vec::new();
    table.write_csv(&mut csv).unwrap();
    let mut text = Vec::new();
    table.write_text(&mut text).unwrap();
    let both = format!("{}\n{}", String::from_utf8(csv).unwrap(), String::from_utf8(text).unwrap());
    with_snapshots(|| insta::assert_snapshot!("csv_and_text@dump_lsass_via_comsvcs_dll", both));
}

#[test]
fn comsvcs_rule_expands_to_plain_spl() {
    let search = compile(COMSVCS_SEARCH);
    with_snapshots(|| {
        insta::assert_snapshot!("expanded@dump_lsass_via_comsvcs_dll", search.expanded());
    });
}

#[test]
fn comsvcs_rule_requires_its_three_literals() {
    let search = compile(COMSVCS_SEARCH);
    let filter = search.tstats().and_then(|t| t.filter.as_ref()).unwrap();
    let literals: Vec<String> = filter.required_literals().into_iter().collect();
    assert_eq!(literals, ["comsvcs.dll", "minidump", "rundll32.exe"]);
    let or = compile(
        "| tstats count from datamodel=Endpoint.Processes where Processes.process=*a.dll*x* OR (Processes.process_name=a.dll* NOT Processes.process=*z*) by Processes.dest",
    );
    let literals: BTreeSet<String> =
        or.tstats().and_then(|t| t.filter.as_ref()).unwrap().required_literals();
    assert_eq!(literals.into_iter().collect::<Vec<_>>(), ["a.dll"]);
}

#[test]
fn filter_macro_defined_in_content_wins_over_the_builtin() {
    let mut macros = macros();
    macros.insert(MacroDefinition {
        name: "dump_lsass_via_comsvcs_dll_filter".to_owned(),
        arguments: Vec::new(),
        definition: "search user!=*bob".to_owned(),
    });
    let search = Search::compile(COMSVCS_SEARCH, &macros, &filter_macro_name(RULE_NAME)).unwrap();
    let table = search.run(comsvcs_records()).unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(table.value(0, "user").and_then(|v| v.values().next()), Some(r"CORP\alice"));
}

/// Records for the matching tests; `id` names each in the `by` output.
fn semantics_records() -> Vec<NodeRecord> {
    vec![
        process(
            T0,
            &[
                ("id", "r1"),
                ("process_name", "rundll32.exe"),
                ("process", r"C:\Windows\system32\rundll32.exe comsvcs.dll MiniDump"),
                ("user", "alice"),
                ("pid", "100"),
            ],
        ),
        process(
            T0,
            &[
                ("id", "r2"),
                ("process_name", "RUNDLL32.EXE"),
                ("process", "rundll32 a.b"),
                ("pid", "9"),
            ],
        ),
        process(
            T0,
            &[
                ("id", "r3"),
                ("process_name", "cmd.exe"),
                ("process", "cmd /c echo a*b"),
                ("user", "Bob"),
                ("pid", "1000"),
            ],
        ),
        process(T0, &[("id", "r4"), ("process_name", "ab"), ("process", ""), ("user", "alice")]),
        process(T0, &[("id", "r5"), ("process", r"x.y\z"), ("user", "carol")]),
    ]
}

/// The ids of the records `condition` (a `tstats … where` clause) keeps.
#[track_caller]
fn matched(condition: &str) -> Vec<String> {
    let search = format!(
        "| tstats count from datamodel=Endpoint.Processes where {condition} by Processes.id"
    );
    let table = run(&search, &semantics_records());
    (0..table.len())
        .filter_map(|row| table.value(row, "Processes.id").and_then(|v| v.values().next()))
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn check_matches(cases: &[(&str, &[&str])]) {
    for (condition, expected) in cases {
        assert_eq!(matched(condition), *expected, "where {condition}");
    }
}

#[test]
fn values_compare_case_insensitively_and_field_names_do_not() {
    check_matches(&[
        ("Processes.process_name=RUNDLL32.exe", &["r1", "r2"]),
        ("Processes.user=ALICE", &["r1", "r4"]),
        (r#"Processes.process="*\SYSTEM32\*""#, &["r1"]),
        ("Processes.Process_name=rundll32.exe", &[]),
        ("Processes.USER=alice", &[]),
    ]);
}

#[test]
fn wildcards_match_the_whole_value() {
    check_matches(&[
        ("Processes.process_name=*", &["r1", "r2", "r3", "r4"]),
        // `*` alone matches the empty string, not a null field.
        ("Processes.process=*", &["r1", "r2", "r3", "r4", "r5"]),
        ("Processes.process_name=rundll32*", &["r1", "r2"]),
        ("Processes.process_name=*.exe", &["r1", "r2", "r3"]),
        ("Processes.process_name=*32.*", &["r1", "r2"]),
        ("Processes.process_name=a*b*", &["r4"]),
        ("Processes.process_name=r*n*l*e", &["r1", "r2"]),
        // Anchored: no implicit leading or trailing `*`.
        ("Processes.process_name=rundll32.ex", &[]),
        ("Processes.process_name=undll32.exe", &[]),
        // Dots, backslashes and `?` are literal; `*` spans spaces and backslashes.
        ("Processes.process_name=rundll32?exe", &[]),
        ("Processes.process=*a.b", &["r2"]),
        ("Processes.process=*a_b", &[]),
        (r"Processes.process=x.y\z", &["r5"]),
        (r"Processes.process=x?y\z", &[]),
        (r"Processes.process=C:*MiniDump", &["r1"]),
        (r#"Processes.process="cmd /c echo a*b""#, &["r3"]),
        (r#"Processes.process="""#, &["r4"]),
    ]);
}

/// Splunk's search evaluates `NOT`, then `OR`, then `AND` (explicit or implied by a space),
/// as its Search Manual ("Boolean expressions") documents; `where` differs (see below).
#[test]
fn search_evaluates_not_then_or_then_and() {
    check_matches(&[
        ("Processes.user=alice OR Processes.user=bob Processes.process_name=cmd.exe", &["r3"]),
        (
            "Processes.user=alice OR (Processes.user=bob Processes.process_name=cmd.exe)",
            &["r1", "r3", "r4"],
        ),
        ("Processes.user=alice AND Processes.process_name=ab", &["r4"]),
        ("Processes.id=r1 OR Processes.id=r2 AND Processes.pid=9", &["r2"]),
        ("Processes.pid=9 AND Processes.id=r1 OR Processes.id=r2", &["r2"]),
        ("Processes.pid=9 Processes.id=r1 OR Processes.id=r2", &["r2"]),
        ("NOT Processes.user=alice OR Processes.user=carol", &["r2", "r3", "r5"]),
        ("NOT Processes.user=alice Processes.process_name=ab", &[]),
        ("NOT (Processes.user=alice Processes.process_name=ab)", &["r1", "r2", "r3", "r5"]),
        ("NOT NOT Processes.user=carol", &["r5"]),
        ("*", &["r1", "r2", "r3", "r4", "r5"]),
    ]);
}

#[test]
fn where_evaluates_and_before_or() {
    assert_eq!(after_tstats(r#"where id="r1" OR id="r2" AND count=5"#).len(), 1);
    assert_eq!(after_tstats(r#"where (id="r1" OR id="r2") AND count=5"#).len(), 0);
    assert_eq!(after_tstats(r#"where NOT id="r1" AND user="alice""#).len(), 1);
}

#[test]
fn in_lists_match_any_pattern() {
    check_matches(&[
        (r#"Processes.process_name IN (cmd.exe, "AB", rundll*)"#, &["r1", "r2", "r3", "r4"]),
        ("Processes.user IN (carol)", &["r5"]),
        ("NOT Processes.user IN (alice, bob)", &["r2", "r5"]),
    ]);
}

#[test]
fn not_equal_skips_null_fields_but_not_equal_does_not() {
    check_matches(&[
        ("Processes.user!=alice", &["r3", "r5"]),
        ("NOT Processes.user=alice", &["r2", "r3", "r5"]),
        ("Processes.user!=*", &[]),
        ("NOT Processes.user=*", &["r2"]),
    ]);
}

#[test]
fn ordering_comparisons_are_numeric_for_numbers() {
    check_matches(&[
        ("Processes.pid>50", &["r1", "r3"]),
        ("Processes.pid<=100", &["r1", "r2"]),
        ("Processes.pid>=1000", &["r3"]),
        ("Processes.pid<9", &[]),
        // Strings compare byte by byte: uppercase sorts before lowercase.
        ("Processes.process_name<b", &["r2", "r4"]),
    ]);
}

#[test]
fn null_by_fields_drop_records_unless_filled() {
    let by_user = "| tstats count from datamodel=Endpoint.Processes by Processes.user";
    assert_eq!(
        cells(&run(by_user, &semantics_records())),
        [
            ["Processes.user=Bob", "count=1"],
            ["Processes.user=alice", "count=2"],
            ["Processes.user=carol", "count=1"],
        ]
    );
    let filled = "| tstats fillnull_value=NULL count from datamodel=Endpoint.Processes by Processes.user Processes.process_name";
    assert_eq!(
        cells(&run(filled, &semantics_records())),
        [
            ["Processes.user=Bob", "Processes.process_name=cmd.exe", "count=1"],
            ["Processes.user=NULL", "Processes.process_name=RUNDLL32.EXE", "count=1"],
            ["Processes.user=alice", "Processes.process_name=ab", "count=1"],
            ["Processes.user=alice", "Processes.process_name=rundll32.exe", "count=1"],
            ["Processes.user=carol", "Processes.process_name=NULL", "count=1"],
        ]
    );
}

#[test]
fn rows_sort_by_the_by_fields_bytewise() {
    let records: Vec<NodeRecord> = ["b", "B", "a", "10", "9", "A", "a"]
        .iter()
        .map(|user| process(T0, &[("user", user), ("dest", "h")]))
        .collect();
    let table = run(
        "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.user | rename Processes.* AS *",
        &records,
    );
    let users: Vec<&str> =
        (0..table.len()).filter_map(|row| table.value(row, "user")?.values().next()).collect();
    assert_eq!(users, ["10", "9", "A", "B", "a", "b"]);
    assert_eq!(table.value(4, "count"), Some(&FieldValue::Single("2".to_owned())));
}

#[test]
fn aggregates_count_min_max_values_dc_earliest_latest() {
    let records = vec![
        process(T0 + 2, &[("dest", "h"), ("user", "bob"), ("pid", "10")]),
        process(T0, &[("dest", "h"), ("user", "alice"), ("pid", "9")]),
        process(T0 + 1, &[("dest", "h"), ("pid", "abc")]),
        NodeRecord {
            time_micros: (T0 + 3) * 1_000_000 + 250_000,
            ..process(0, &[("dest", "h"), ("user", "alice")])
        },
    ];
    let search = "| tstats count count(Processes.user) as users min(Processes.pid) max(Processes.pid) \
                  values(Processes.user) dc(Processes.user) earliest(Processes.user) latest(Processes.user) \
                  min(_time) max(_time) from datamodel=Endpoint.Processes by Processes.dest";
    assert_eq!(
        cells(&run(search, &records)),
        [[
            "Processes.dest=h",
            "count=4",
            "users=3",
            "min(Processes.pid)=9",
            "max(Processes.pid)=abc",
            "values(Processes.user)=alice|bob",
            "dc(Processes.user)=2",
            "earliest(Processes.user)=alice",
            "latest(Processes.user)=alice",
            "min(_time)=1582290855",
            "max(_time)=1582290858.25",
        ]]
    );
}

#[test]
fn tstats_without_by_answers_one_row_even_without_records() {
    let table = run("| tstats count min(_time) as first from datamodel=Endpoint.Processes", &[]);
    assert_eq!(cells(&table), [["count=0"]]);
    assert_eq!(table.columns(), ["count", "first"]);
}

#[test]
fn multivalues_are_json_arrays_and_newline_joined_in_csv_and_text() {
    let records = vec![
        process(T0, &[("dest", "h"), ("user", "bob")]),
        process(T0, &[("dest", "h"), ("user", "alice, \"the admin\"")]),
    ];
    let table = run(
        "| tstats values(Processes.user) as users from datamodel=Endpoint.Processes by Processes.dest",
        &records,
    );
    assert_eq!(
        serde_json::to_string(&table).unwrap(),
        r#"[{"Processes.dest":"h","users":["alice, \"the admin\"","bob"]}]"#
    );
    let mut csv = Vec::new();
    table.write_csv(&mut csv).unwrap();
    let mut text = Vec::new();
    table.write_text(&mut text).unwrap();
    let all = format!(
        "{}\n{}\n{}",
        json_lines(&table),
        String::from_utf8(csv).unwrap(),
        String::from_utf8(text).unwrap()
    );
    with_snapshots(|| insta::assert_snapshot!("multivalue_outputs", all));
}

/// `tstats` by user and process name over the semantics records, renamed, then `rest`.
#[track_caller]
fn after_tstats(rest: &str) -> Vec<Vec<String>> {
    let search = format!(
        "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes by Processes.id Processes.user | rename Processes.* AS * | {rest}"
    );
    cells(&run(&search, &semantics_records()))
}

#[test]
fn search_over_rows_uses_search_semantics() {
    assert_eq!(after_tstats("search user=ALICE").len(), 2);
    assert_eq!(after_tstats("search *").len(), 4);
    assert_eq!(after_tstats("search user!=alice id=r*").len(), 2);
    assert_eq!(after_tstats("search NOT id IN (r1, r3)").len(), 2);
    assert_eq!(after_tstats("search Id=r1").len(), 0);
}

#[test]
fn where_compares_exactly_and_drops_nulls() {
    assert_eq!(after_tstats(r#"where user="alice""#).len(), 2);
    assert_eq!(after_tstats(r#"where user=="ALICE""#).len(), 0);
    assert_eq!(after_tstats(r#"where user!="alice""#).len(), 2);
    assert_eq!(after_tstats("where count > 0 AND NOT (id = \"r1\" OR id = \"r4\")").len(), 2);
    assert_eq!(after_tstats("where firstTime >= 1582290855 AND count < 2").len(), 4);
    assert_eq!(after_tstats("where missing != \"x\"").len(), 0);
    assert_eq!(after_tstats("where NOT missing = \"x\"").len(), 0);
    assert_eq!(after_tstats("where id = user").len(), 0);
}

#[test]
fn rename_handles_wildcards_pairs_and_collisions() {
    assert_eq!(
        after_tstats("rename id AS ident, user AS who | table ident who")[0],
        ["ident=r1", "who=alice"]
    );
    let table = run(
        "| tstats count from datamodel=Endpoint.Processes by Processes.process_name Processes.id | rename Processes.*_name AS name_of_*, count AS id",
        &semantics_records(),
    );
    assert_eq!(table.columns(), ["name_of_process", "Processes.id", "id"]);
    let moved = run(
        "| tstats count from datamodel=Endpoint.Processes by Processes.id | rename Processes.id AS count",
        &semantics_records(),
    );
    assert_eq!(moved.columns(), ["count"]);
    assert_eq!(cells(&moved)[0], ["count=r1"]);
    assert_eq!(after_tstats("rename nothing* AS else*")[0].len(), 4);
}

#[test]
fn convert_formats_in_place_or_into_a_new_field() {
    assert_eq!(
        after_tstats("convert ctime(firstTime) | table firstTime")[0],
        ["firstTime=02/21/2020 13:14:15"]
    );
    assert_eq!(
        after_tstats(
            r#"convert timeformat="%d %b %Y %H:%M:%S %Z" ctime(firstTime) as shown | table firstTime shown"#
        )[0],
        ["firstTime=1582290855", "shown=21 Feb 2020 13:14:15 UTC"]
    );
    assert_eq!(after_tstats("convert ctime(user) ctime(missing) | table user")[0], ["user=alice"]);
}

#[test]
fn table_and_fields_choose_columns() {
    assert_eq!(
        compile("| tstats count from datamodel=Endpoint.Processes | table missing count")
            .run(&[])
            .unwrap()
            .columns(),
        ["missing", "count"]
    );
    assert_eq!(after_tstats("table *e*")[0], ["user=alice", "firstTime=1582290855"]);
    assert_eq!(after_tstats("fields count, id")[0], ["count=1", "id=r1"]);
    assert_eq!(after_tstats("fields + user")[0], ["user=alice"]);
    assert_eq!(after_tstats("fields - *Time user")[0], ["id=r1", "count=1"]);
}

#[test]
fn errors_point_at_the_offending_span() {
    let wrong_arity = COMSVCS_SEARCH.replace("ctime(firstTime)", "ctime(firstTime, x)");
    let cases = [
        (
            "unknown command",
            "| tstats count from datamodel=Endpoint.Processes | anomalydetection count",
        ),
        ("unknown function", "| tstats count from datamodel=Endpoint.Processes | eval x=nosuch(1)"),
        (
            "wrong number of arguments",
            "| tstats count from datamodel=Endpoint.Processes | where like(count)",
        ),
        (
            "boolean stored by eval",
            "| tstats count from datamodel=Endpoint.Processes | eval x=count>1",
        ),
        (
            "bad regular expression",
            "| tstats count from datamodel=Endpoint.Processes | where match(count, \"(\")",
        ),
        (
            "rex without a named group",
            "| tstats count from datamodel=Endpoint.Processes | rex field=count \"a+\"",
        ),
        (
            "unclosed bracket",
            "| tstats count from datamodel=Endpoint.Processes | foreach * [eval x=1",
        ),
        (
            "eval in a tstats aggregate",
            "| tstats count(eval(x=1)) from datamodel=Endpoint.Processes",
        ),
        ("bad span", "| tstats count from datamodel=Endpoint.Processes | bin _time span=5x"),
        ("prestats", "| tstats prestats=true count from datamodel=Endpoint.Processes"),
        ("time modifier in a search", "index=main earliest=-1d"),
        (
            "unclosed quote",
            r#"| tstats count from datamodel=Endpoint.Processes where Processes.user="bob"#,
        ),
        (
            "unclosed parenthesis",
            "| tstats count from datamodel=Endpoint.Processes where (Processes.user=a OR Processes.user=b by Processes.dest",
        ),
        ("unknown macro", "| tstats `no_such_macro` count from datamodel=Endpoint.Processes"),
        ("wrong macro arity", wrong_arity.as_str()),
        (
            "rename with mismatched wildcards",
            "| tstats count from datamodel=Endpoint.Processes | rename Processes.* AS x",
        ),
        ("tstats without from", "| tstats count by Processes.dest"),
        ("tstats from a bare data model", "| tstats count from datamodel=Endpoint"),
        (
            "field of another node",
            "| tstats count from datamodel=Endpoint.Processes where Filesystem.file_name=x",
        ),
        (
            "lowercase operator",
            "| tstats count from datamodel=Endpoint.Processes where Processes.user=a or Processes.user=b",
        ),
        ("not a generating command first", "| eval x=1"),
        ("unknown aggregate", "| tstats foo(Processes.pid) from datamodel=Endpoint.Processes"),
        (
            "unsupported time directive",
            "| tstats count from datamodel=Endpoint.Processes | convert timeformat=\"%Q\" ctime(count)",
        ),
        (
            "unknown lookup in a subsearch",
            "| tstats count from datamodel=Endpoint.Processes | search [ | inputlookup x ]",
        ),
        ("refused command", "| tstats count from datamodel=Endpoint.Processes | outputlookup y"),
        (
            "tstats after the first command",
            "| tstats count from datamodel=Endpoint.Processes | tstats count from datamodel=Endpoint.Processes",
        ),
        (
            "span without _time",
            "| tstats count from datamodel=Endpoint.Processes by Processes.dest span=1h",
        ),
    ];
    let mut report = String::new();
    for (label, search) in cases {
        writeln!(report, "{label}:\n  {search}\n  {}", compile_error(search)).unwrap();
    }
    with_snapshots(|| insta::assert_snapshot!("compile_errors", report));
}

#[test]
fn macro_errors_name_the_macro_and_its_call() {
    let mut macros = macros();
    for (name, definition) in [
        ("loop_a", "`loop_b`"),
        ("loop_b", "search `loop_a`"),
        ("broken", "search (x=1"),
        ("outer", "`broken`"),
    ] {
        macros.insert(MacroDefinition {
            name: name.to_owned(),
            arguments: Vec::new(),
            definition: definition.to_owned(),
        });
    }
    let cases = [
        "| tstats count from datamodel=Endpoint.Processes | `loop_a`",
        "| tstats count from datamodel=Endpoint.Processes | `broken`",
        "| tstats count from datamodel=Endpoint.Processes | `outer`",
        "| tstats count from datamodel=Endpoint.Processes | `broken",
    ];
    let mut report = String::new();
    for search in cases {
        let error = Search::compile(search, &macros, "none").unwrap_err();
        writeln!(report, "{search}\n  {error}\n  span {:?}", error.location.span).unwrap();
    }
    with_snapshots(|| insta::assert_snapshot!("macro_errors", report));
}

#[test]
fn nested_macros_pass_their_arguments_down() {
    let mut macros = macros();
    for (name, arguments, definition) in [
        ("name_is", vec!["name"], "Processes.process_name=$name$"),
        ("either", vec!["a", "b"], "(`name_is($a$)` OR `name_is($b$)`)"),
    ] {
        macros.insert(MacroDefinition {
            name: name.to_owned(),
            arguments: arguments.into_iter().map(str::to_owned).collect(),
            definition: definition.to_owned(),
        });
    }
    let search = Search::compile(
        "| tstats count from datamodel=Endpoint.Processes where `either(cmd.exe, \"ab\")` by Processes.id",
        &macros,
        "none",
    )
    .unwrap();
    assert_eq!(
        search.expanded(),
        "| tstats count from datamodel=Endpoint.Processes where (Processes.process_name=cmd.exe OR Processes.process_name=\"ab\") by Processes.id"
    );
    // Owned records stream through as well as borrowed ones.
    let table = search.run(semantics_records()).unwrap();
    assert_eq!(cells(&table), [["Processes.id=r3", "count=1"], ["Processes.id=r4", "count=1"]]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "| tstats count from datamodel=Endpoint.Processes where {}Processes.user=a{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(compile_error(&deep).contains("nested deeper than"));
    let nots = format!(
        "| tstats count from datamodel=Endpoint.Processes | where {}x=1",
        "NOT ".repeat(10_000)
    );
    assert!(compile_error(&nots).contains("nested deeper than"));
    let shallow = format!(
        "| tstats count from datamodel=Endpoint.Processes where {}Processes.user=alice{} by Processes.id",
        "(".repeat(30),
        ")".repeat(30)
    );
    assert_eq!(run(&shallow, &semantics_records()).len(), 2);
}

/// Every truncation and every one-character deletion of the rule's search, and a few odd
/// inputs, compile to a search or an error, and what compiles runs: no input panics.
#[test]
fn malformed_searches_never_panic() {
    let macros = macros();
    let filter = filter_macro_name(RULE_NAME);
    let records = comsvcs_records();
    let mut inputs: Vec<String> = Vec::new();
    for (index, _) in COMSVCS_SEARCH.char_indices() {
        inputs.push(COMSVCS_SEARCH[..index].to_owned());
        let mut deleted = COMSVCS_SEARCH.to_owned();
        deleted.remove(index);
        inputs.push(deleted);
    }
    inputs.extend(
        [
            "",
            "|",
            "| |",
            "`",
            "\"",
            "| tstats count from datamodel=Endpoint.Processes where Processes.user=é*ü by Processes.user | search user=\"\\\"",
            "| tstats count from datamodel=Endpoint.Processes | where NOT",
            "| tstats count from datamodel=Endpoint.Processes | rename",
            "| tstats count from datamodel=Endpoint.Processes | convert ctime(",
            "| tstats count from datamodel=Endpoint.Processes | fields -",
            "| tstats count from datamodel=. where",
            "| tstats min(_time) as t from datamodel=Endpoint.Processes | convert timeformat=\"%\" ctime(t)",
        ]
        .map(str::to_owned),
    );
    let mut compiled = 0;
    for input in &inputs {
        if let Ok(search) = Search::compile(input, &macros, &filter) {
            compiled += 1;
            search.run(&records).unwrap();
        }
    }
    // Some deletions still parse (e.g. a shorter field name); most do not.
    assert!(compiled > 0 && compiled < inputs.len(), "{compiled} of {}", inputs.len());
}

#[test]
fn a_node_no_event_maps_to_is_refused_not_run_empty() {
    // Splunk would read Ports records; none are made here, so running the search would
    // answer "no rows" for a rule that might fire.
    let error = Search::compile(
        "| tstats count from datamodel=Endpoint.Ports by Ports.dest",
        &MacroTable::default(),
        "x_filter",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "search: col 21: no events map to `Endpoint.Ports` in this engine"
    );
    assert_eq!(error.blocker(), Some(detection::spl::Blocker::DataModel("Endpoint.Ports".into())));
}

#[test]
fn triple_backtick_comments_are_blanked_before_macros_expand() {
    // Search Manual, "Add comments to searches": "The search processor replaces comments
    // with a space when the search is run."
    let search = Search::compile(
        "| tstats count from datamodel=Endpoint.Processes ```a `macro` in a comment```\
         by Processes.dest | `x_filter` ``` the end ```",
        &MacroTable::default(),
        "x_filter",
    )
    .unwrap();
    assert!(!search.expanded().contains("macro"), "{}", search.expanded());
    assert_eq!(detection::spl::macro_calls("a ```b `c` ``` `d`").unwrap().len(), 1);
    // Inside a quoted string backquotes are text.
    assert_eq!(detection::spl::blank_comments(r#"x="```" y"#).unwrap(), r#"x="```" y"#);
    let error =
        Search::compile("| tstats count ```open", &MacroTable::default(), "x_filter").unwrap_err();
    assert_eq!(error.to_string(), "search: col 16: comment has no closing ```");
}

#[test]
fn a_tstats_aggregate_over_a_field_the_node_lacks_reads_null() {
    // Splunk's tstats documentation is silent on a field the data model does not define;
    // like any absent field it is null ("If a field has no value, it is not counted" in the
    // stats functions' reference), so `dc` is 0, `values` empty, and the groups still come.
    let search = compile(
        "| tstats count dc(process_name) as names values(Processes.process) as process \
         from datamodel=Endpoint.Processes by Processes.dest",
    );
    assert_eq!(search.tstats().unwrap().foreign_aggregates, ["process_name"]);
    let rows = search
        .run(&[process(1, &[("dest", "pc"), ("process", "a.exe"), ("process_name", "a.exe")])])
        .unwrap();
    assert_eq!(cells(&rows), [["Processes.dest=pc", "count=1", "names=0", "process=a.exe"]]);
}
