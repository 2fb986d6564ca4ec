//! Lookups, subsearches, joins and the commands that bring in structured data or merge rows,
//! each against the Search Reference (or transforms.conf) sentence it follows.

use detection::lookup::Lookups;

use crate::pipeline::{Fake, cells, run, run_with};

#[track_caller]
fn check(search: &str, events: &[Fake], expected: &[&str]) {
    assert_eq!(cells(&run(search, events)), expected, "{search}");
}

#[track_caller]
fn check_with(search: &str, events: &[Fake], lookups: &Lookups, expected: &[&str]) {
    assert_eq!(cells(&run_with(search, events, lookups)), expected, "{search}");
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn lookups() -> Lookups {
    let mut lookups = Lookups::new();
    lookups.insert_table(
        "tools",
        strings(&["name", "category", "score"]),
        vec![
            strings(&["psexec.exe", "remote", "70"]),
            strings(&["mimikatz.exe", "credential", "100"]),
            strings(&["PsExec.exe", "remote-upper", "60"]),
            strings(&["*.ps1", "script", "10"]),
        ],
        None,
        true,
    );
    lookups.insert_table(
        "wild",
        strings(&["pattern", "net", "label"]),
        vec![
            strings(&["*.ps1", "10.0.0.0/8", "internal script"]),
            strings(&["*.exe", "0.0.0.0/0", "any program"]),
        ],
        Some("WILDCARD(pattern), CIDR(net)"),
        false,
    );
    lookups
}

fn launches() -> Vec<Fake> {
    vec![
        Fake::at(100, &[("process", "psexec.exe"), ("ip", "10.1.1.1"), ("category", "old")]),
        Fake::at(200, &[("process", "PSEXEC.EXE"), ("ip", "8.8.8.8")]),
        Fake::at(300, &[("process", "run.PS1"), ("ip", "10.2.2.2")]),
        Fake::at(400, &[("process", "calc.exe"), ("ip", "192.168.1.1")]),
    ]
}

#[test]
fn lookup_matches_exactly_and_case_sensitively_by_default() {
    // transforms.conf, case_sensitive_match: "If set to true, Splunk software performs case
    // sensitive matching for all fields in a lookup table … Default: true"; match_type
    // "Default: EXACT". OUTPUT: "the output lookup fields overwrite existing fields".
    check_with(
        "* | lookup tools name AS process OUTPUT category | table process category",
        &launches(),
        &lookups(),
        &[
            "process=calc.exe",
            "process=run.PS1",
            "process=PSEXEC.EXE",
            "process=psexec.exe category=remote",
        ],
    );
}

#[test]
fn outputnew_leaves_rows_that_have_the_field() {
    // "If the OUTPUTNEW clause is specified, the lookup is not performed for events in which
    // the output fields already exist."
    check_with(
        "* | lookup tools name AS process OUTPUTNEW category | table _time category",
        &[
            Fake::at(1, &[("process", "psexec.exe"), ("category", "old")]),
            Fake::at(2, &[("process", "psexec.exe")]),
        ],
        &lookups(),
        &["_time=2 category=remote", "_time=1 category=old"],
    );
}

#[test]
fn lookup_without_output_writes_every_other_column() {
    // "if an OUTPUT or OUTPUTNEW clause is not specified, all of the fields in the lookup
    // table that are not the match fields are used as output fields."
    // The search matches `PSEXEC.EXE` too, which the case-sensitive lookup does not.
    check_with(
        "process=psexec.exe | lookup tools name AS process | table category score",
        &launches(),
        &lookups(),
        &["", "category=remote score=70"],
    );
}

#[test]
fn wildcard_cidr_and_case_insensitive_lookups_match_every_row() {
    // match_type: "WILDCARD, CIDR, and EXACT"; several matches (up to max_matches, "Default:
    // 100 matches … in file order") give multivalues.
    check_with(
        "* | lookup wild pattern AS process OUTPUT label | table process label",
        &launches(),
        &lookups(),
        &[
            "process=calc.exe label=any program",
            "process=run.PS1 label=internal script",
            "process=PSEXEC.EXE label=any program",
            "process=psexec.exe label=any program",
        ],
    );
    check_with(
        "* | lookup wild net AS ip OUTPUT label | table ip label",
        &launches(),
        &lookups(),
        &[
            "ip=192.168.1.1 label=any program",
            "ip=10.2.2.2 label=internal script|any program",
            "ip=8.8.8.8 label=any program",
            "ip=10.1.1.1 label=internal script|any program",
        ],
    );
}

#[test]
fn inputlookup_reads_rows_and_filters_them() {
    // inputlookup WHERE: "Supports a limited set of search query operators … Also supports
    // wildcard string searches."
    check_with(
        "| inputlookup tools where category=remote* | table name",
        &[],
        &lookups(),
        &["name=psexec.exe", "name=PsExec.exe"],
    );
}

#[test]
fn unknown_lookups_are_errors() {
    let macros = detection::spl::MacroTable::default();
    let lookups = Lookups::new();
    let context = detection::spl::Context { macros: &macros, lookups: &lookups };
    let error = detection::spl::Search::compile_in("* | lookup nowhere a OUTPUT b", context, "f")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "search: col 5: unknown lookup `nowhere`: no lookups/<name>.yml defines it"
    );
}

#[test]
fn a_lookup_file_is_read_by_the_searches_that_use_it_alone() {
    // A tree's tables are read when a search first needs them: one that does not read (its
    // third line is not UTF-8) stops the searches that use it, naming the file and line,
    // and no other search.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("lookups");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("good.yml"), "name: good\nfilename: good.csv\n").unwrap();
    std::fs::write(folder.join("good.csv"), "name,score\npsexec.exe,70\n").unwrap();
    std::fs::write(folder.join("bad.yml"), "name: bad\nfilename: bad.csv\n").unwrap();
    std::fs::write(folder.join("bad.csv"), b"name,score\na,1\n\xff\xfe,2\n").unwrap();
    std::fs::write(folder.join("gone.yml"), "name: gone\nfilename: gone.csv\n").unwrap();
    let lookups = Lookups::load(dir.path()).unwrap();

    let macros = detection::spl::MacroTable::default();
    let context = detection::spl::Context { macros: &macros, lookups: &lookups };
    let compile = |search: &str| detection::spl::Search::compile_in(search, context, "f");
    let bad = compile("* | lookup bad name AS process OUTPUT score").unwrap_err().to_string();
    let path = folder.join("bad.csv");
    assert!(bad.starts_with("search: col 5: lookup `bad`: "), "{bad}");
    assert!(bad.contains(&format!("{}: line 3: ", path.display())), "{bad}");
    let gone = compile("| inputlookup gone").unwrap_err().to_string();
    assert!(gone.contains(&format!("{}: cannot read", folder.join("gone.csv").display())));

    check_with(
        "| inputlookup good | table name score",
        &[],
        &lookups,
        &["name=psexec.exe score=70"],
    );
    // The content check reads every table, used or not.
    assert!(lookups.get("bad").unwrap().check().is_err());
    assert!(lookups.get("gone").unwrap().check().is_err());
    assert!(lookups.get("good").unwrap().check().is_ok());
}

#[test]
fn a_subsearch_becomes_the_condition_its_rows_format_to() {
    // format: "( ( host="mylaptop" AND source="syslog.log" AND sourcetype="syslog" ) OR ( … ) )"
    // — every row's fields ANDed, rows ORed — and the subsearch runs first.
    let events = [
        Fake::at(1, &[("kind", "alert"), ("user", "alice")]),
        Fake::at(2, &[("kind", "logon"), ("user", "alice")]),
        Fake::at(3, &[("kind", "logon"), ("user", "bob")]),
        Fake::at(4, &[("kind", "logon"), ("user", "carol")]),
    ];
    check(
        "kind=logon [search kind=alert | fields user] | table _time user",
        &events,
        &["_time=2 user=alice"],
    );
    check(
        "kind=logon NOT [search kind=alert | fields user] | table user",
        &events,
        &["user=carol", "user=bob"],
    );
}

#[test]
fn a_subsearch_without_rows_matches_nothing() {
    // format, emptystr: "The value that the format command outputs instead of the default
    // empty string NOT( ) if the results generated up to that point are empty"; the example
    // shows that the outer search then returns no results.
    let events = [Fake::at(1, &[("kind", "logon"), ("user", "alice")])];
    check("kind=logon [search kind=alert | fields user] | table user", &events, &[]);
    check("* | format | table search", &[], &["search=NOT ( )"]);
}

#[test]
fn format_and_return_write_search_text() {
    let events = [
        Fake::at(1, &[("host", "a"), ("user", "x")]),
        Fake::at(2, &[("host", "b"), ("user", "y|z")]),
    ];
    check(
        "* | table host user | format | table search",
        &events,
        &[
            "search=( ( host=\"b\" AND ( user=\"y\" OR user=\"z\" ) ) OR ( host=\"a\" AND user=\"x\" ) )",
        ],
    );
    // return: "By default, the return command uses only the first row of results."; "'return
    // 2 user ip' might output '(user=bob ip=10.1.11.2) OR (user=fred ip=10.2.12.3)'"; `$field`
    // gives the value only.
    check("* | return host | table search", &events, &["search=host=\"b\""]);
    check("* | return 2 host | table search", &events, &["search=(host=\"b\") OR (host=\"a\")"]);
    check("* | return $host | table search", &events, &["search=\"b\""]);
    // "If index=A test_errror returns 0 events, the subsearch returns an empty string. The
    // final result of the full search is all events from index=B."
    check("* [search nothing=here | return host] | table host", &events, &["host=b", "host=a"]);
}

#[test]
fn join_is_inner_by_default_keeps_the_first_match_and_overwrites() {
    let events = [
        Fake::at(1, &[("kind", "proc"), ("guid", "g1"), ("name", "cmd.exe")]),
        Fake::at(2, &[("kind", "proc"), ("guid", "g2"), ("name", "calc.exe")]),
        Fake::at(3, &[("kind", "net"), ("guid", "g1"), ("dest", "1.1.1.1"), ("name", "net-side")]),
        Fake::at(4, &[("kind", "net"), ("guid", "g1"), ("dest", "2.2.2.2")]),
    ];
    // "The results of an inner join do not include events from the main search that have no
    // matches in the subsearch." max: "Default: 1"; overwrite: "Default: true".
    check(
        "kind=proc | join guid [search kind=net | table guid dest name] | table guid name dest",
        &events,
        &["guid=g1 name=cmd.exe dest=2.2.2.2"],
    );
    // "max=0, there is no limit"; "The results of a left (or outer) join includes all of the
    // events in the main search".
    check(
        "kind=proc | join type=left max=0 overwrite=false guid [search kind=net | table guid dest name] | table guid name dest",
        &events,
        &[
            "guid=g2 name=calc.exe",
            "guid=g1 name=cmd.exe dest=2.2.2.2",
            "guid=g1 name=cmd.exe dest=1.1.1.1",
        ],
    );
}

#[test]
fn append_and_appendpipe_add_rows() {
    // append: "Appends the results of a subsearch to the current results."
    let events = [Fake::at(1, &[("kind", "a")]), Fake::at(2, &[("kind", "b")])];
    check("kind=a | append [search kind=b] | table kind", &events, &["kind=a", "kind=b"]);
    // appendpipe: "Appends the result of the subpipeline to the search results. Unlike a
    // subsearch, the subpipeline is not run first."
    check(
        "* | stats count by kind | appendpipe [stats sum(count) as count | eval kind=\"total\"] | table kind count",
        &events,
        &["kind=a count=1", "kind=b count=1", "kind=total count=2"],
    );
}

#[test]
fn spath_xmlkv_and_fromjson_extract_structured_fields() {
    let events = [Fake::at(
        1,
        &[
            ("json", r#"{"user":{"name":"alice","roles":["admin","dev"]}}"#),
            ("xml", "<Data><Name>Settlers of Catan</Name><Year>1995</Year></Data>"),
        ],
    )];
    // spath: "If you do not specify an output argument, the value for the path argument
    // becomes the field name"; `{}` takes every array element.
    check(
        "* | spath input=json path=user.roles{} output=roles | table roles",
        &events,
        &["roles=admin|dev"],
    );
    check(
        "* | spath input=json | table user.name user.roles{}",
        &events,
        &["user.name=alice user.roles{}=admin|dev"],
    );
    // xmlkv: `<name>Settlers of Catan</name>` gives name="Settlers of Catan".
    check("* | xmlkv xml | table Name Year", &events, &["Name=Settlers of Catan Year=1995"]);
    check(
        "* | fromjson json prefix=j_ | table j_user",
        &events,
        &[r#"j_user={"name":"alice","roles":["admin","dev"]}"#],
    );
}

#[test]
fn transaction_groups_events_within_the_span() {
    // transaction: the result has "the time and date fields of the earliest member", a
    // `duration` ("the difference between the timestamps for the first and last events")
    // and an `eventcount`; "The events in the transaction must span less than" maxspan.
    let events = [
        Fake::at(0, &[("user", "a"), ("op", "start")]),
        Fake::at(30, &[("user", "a"), ("op", "step")]),
        Fake::at(200, &[("user", "a"), ("op", "late")]),
        Fake::at(10, &[("user", "b"), ("op", "start")]),
    ];
    check(
        "* | transaction user maxspan=1m | table _time user duration eventcount op",
        &events,
        &[
            "_time=200 user=a duration=0 eventcount=1 op=late",
            "_time=10 user=b duration=0 eventcount=1 op=start",
            "_time=0 user=a duration=30 eventcount=2 op=start|step",
        ],
    );
    // startswith/endswith: a transaction opens and closes on matching events; others are
    // dropped (keepevicted defaults to false).
    check(
        "* | transaction user startswith=(op=start) endswith=(op=step) | table user eventcount",
        &events,
        &["user=a eventcount=2"],
    );
}

#[test]
fn replace_and_addtotals() {
    // replace: `replace "::ffff:*" with * in src` strips the prefix.
    let events = [Fake::at(1, &[("src", "::ffff:10.0.0.1"), ("a", "1"), ("b", "2.5"), ("c", "x")])];
    check("* | replace \"::ffff:*\" with * in src | table src", &events, &["src=10.0.0.1"]);
    // addtotals: "computes the arithmetic sum of all numeric fields for each event".
    check("* | fields - _time | addtotals fieldname=Score | table Score", &events, &["Score=3.5"]);
}

#[test]
fn makeresults_makes_rows_at_the_search_time() {
    // makeresults: "generates one result with only the _time field."
    check(
        "| makeresults count=2 | eval x=1 | table _time x",
        &[],
        &["_time=1700000000 x=1", "_time=1700000000 x=1"],
    );
}

/// "A maximum of 50,000 rows in the right-side dataset can be joined with the left-side
/// dataset" (Search Reference, `join`): a main row whose key only a later subsearch row
/// holds is not joined, whether the subsearch's rows are made all at once or a batch at a
/// time, when no more are made past what the join reads.
#[test]
fn a_join_reads_the_first_fifty_thousand_rows_of_its_subsearch() {
    use detection::datamodel::NodeRecord;
    use detection::eval::JOIN_MAX_ROWS;
    use detection::spl::{MacroTable, Search};

    // Subsearch rows come in `dest` order: the last the join reads holds h049999.
    let (mut records, last) = launches_around(JOIN_MAX_ROWS, 10_000);
    // The join of main.exe launches with a subsearch of sub.exe ones, ending in `more`.
    let joining = |more: &str| {
        let text = format!(
            "| tstats count from datamodel=Endpoint.Processes \
             where Processes.process_name=main.exe by Processes.dest | rename Processes.* as * \
             | join dest [| tstats count as n from datamodel=Endpoint.Processes \
             where Processes.process_name=sub.exe by Processes.dest \
             | rename Processes.* as * {more}]"
        );
        Search::compile(&text, &MacroTable::default(), "none").unwrap()
    };
    // The `dest` of each row.
    let run = |records: &[NodeRecord], mut run: detection::eval::SearchRun<'_>| {
        for record in records {
            run.add(record).unwrap();
        }
        let table = run.finish()?;
        Ok::<_, detection::eval::EvalError>(
            (0..table.len()).map(|row| table.value(row, "dest").unwrap().joined()).collect(),
        )
    };
    let search = joining("");
    let expected = Ok(vec![last]);
    assert_eq!(run(&records, search.start().whole().unpruned()), expected);
    assert_eq!(run(&records, search.start()), expected);
    assert_eq!(run(&records, search.start().in_batches_of(7)), expected);

    // A subsearch row past those the join reads still fails the search, as it does when the
    // subsearch is made whole: `z(` sorts last and is no pattern.
    records.push(launch_on("sub.exe", "z(".to_owned()));
    let failing = joining("| eval a=if(match(\"x\", dest), 1, 0)");
    let whole = run(&records, failing.start().whole().unpruned());
    assert!(whole.is_err(), "{whole:?}");
    assert_eq!(run(&records, failing.start()), whole);
}

/// "By default, subsearches return a maximum of 10,000 results" (Search Manual, "About
/// subsearches"): a main row that only a later subsearch row matches is not kept, whether
/// the subsearch's rows are made all at once or a batch at a time, through a `dedup` and a
/// `table` that go with the batches.
#[test]
fn a_search_condition_reads_the_first_ten_thousand_rows_of_its_subsearch() {
    use detection::eval::SUBSEARCH_MAX_ROWS;
    use detection::spl::{MacroTable, Search};

    // Subsearch rows come in `dest` order: the last the condition reads holds h009999.
    let (records, last) = launches_around(SUBSEARCH_MAX_ROWS, 3_000);
    let search = Search::compile(
        "| tstats count from datamodel=Endpoint.Processes \
         where Processes.process_name=main.exe by Processes.dest | rename Processes.* as * \
         | search [| tstats count as n from datamodel=Endpoint.Processes \
         where Processes.process_name=sub.exe by Processes.dest \
         | rename Processes.* as * | dedup dest | table dest]",
        &MacroTable::default(),
        "none",
    )
    .unwrap();
    let run = |mut run: detection::eval::SearchRun<'_>| {
        for record in &records {
            run.add(record).unwrap();
        }
        let table = run.finish().unwrap();
        (0..table.len()).map(|row| table.value(row, "dest").unwrap().joined()).collect::<Vec<_>>()
    };
    assert_eq!(run(search.start().whole()), vec![last.clone()]);
    assert_eq!(run(search.start()), vec![last.clone()]);
    assert_eq!(run(search.start().in_batches_of(7)), vec![last]);
}

/// `cap + more` launches of sub.exe on hosts `h000000`, `h000001`…, and two of main.exe: one
/// on the last host of the first `cap`, whose name is returned, and one on the host after.
fn launches_around(cap: usize, more: usize) -> (Vec<detection::datamodel::NodeRecord>, String) {
    let host = |n: usize| format!("h{n:06}");
    let mut records: Vec<_> = (0..cap + more).map(|n| launch_on("sub.exe", host(n))).collect();
    let last = host(cap - 1);
    records.push(launch_on("main.exe", last.clone()));
    records.push(launch_on("main.exe", host(cap)));
    (records, last)
}

/// A launch of `name` on host `dest`.
fn launch_on(name: &str, dest: String) -> detection::datamodel::NodeRecord {
    detection::datamodel::NodeRecord {
        node: "Processes",
        time_micros: 1_700_000_000_000_000,
        fields: std::collections::BTreeMap::from([
            ("process_name", name.to_owned()),
            ("dest", dest),
        ]),
    }
}
