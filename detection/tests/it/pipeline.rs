//! The commands after the generating one, and searches over raw events, each checked
//! against the Search Reference sentence it follows (quoted above each case). Events are
//! built here as plain field maps, so that only the evaluator is under test.

use detection::eval::{EventFields, FieldValue, ResultTable};
use detection::spl::{MacroTable, Search};

/// An event given as its fields; `_raw` is one of them when a test needs it.
pub(crate) struct Fake {
    pub(crate) time: i64,
    pub(crate) fields: Vec<(String, FieldValue)>,
}

impl Fake {
    /// An event at `seconds` with `pairs`; a value holding `|` is a multivalue.
    pub(crate) fn at(seconds: i64, pairs: &[(&str, &str)]) -> Self {
        let fields = pairs
            .iter()
            .map(|(name, value)| {
                let value = if value.contains('|') {
                    FieldValue::Multi(value.split('|').map(str::to_owned).collect())
                } else {
                    FieldValue::Single((*value).to_owned())
                };
                ((*name).to_owned(), value)
            })
            .collect();
        Fake { time: seconds * 1_000_000, fields }
    }
}

impl EventFields for Fake {
    fn time_micros(&self) -> i64 {
        self.time
    }

    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        if field == "_time" {
            return Some(test(&(self.time / 1_000_000).to_string()));
        }
        let (_, value) = self.fields.iter().find(|(name, _)| name == field)?;
        Some(value.values().any(test))
    }

    fn fields(&self) -> Vec<(String, FieldValue)> {
        let mut fields =
            vec![("_time".to_owned(), FieldValue::Single((self.time / 1_000_000).to_string()))];
        fields.extend(self.fields.iter().cloned());
        fields
    }
}

#[track_caller]
pub(crate) fn run(search: &str, events: &[Fake]) -> ResultTable {
    run_with(search, events, &detection::lookup::Lookups::new())
}

/// [`run`] with lookup tables.
#[track_caller]
pub(crate) fn run_with(
    search: &str,
    events: &[Fake],
    lookups: &detection::lookup::Lookups,
) -> ResultTable {
    let macros = MacroTable::default();
    let context = detection::spl::Context { macros: &macros, lookups };
    let search = Search::compile_in(search, context, "x_filter")
        .unwrap_or_else(|err| panic!("{search}: {err}"));
    let mut run = search.start().at(1_700_000_000_000_000);
    for event in events {
        run.add_event(event).unwrap();
    }
    run.finish().unwrap_or_else(|err| panic!("{err}"))
}

/// Each row as `field=value` cells in column order, nulls left out, multivalues joined by `|`.
pub(crate) fn cells(table: &ResultTable) -> Vec<String> {
    table
        .rows()
        .iter()
        .map(|row| {
            table
                .columns()
                .iter()
                .zip(row)
                .filter_map(|(column, value)| {
                    let value = value.as_ref()?;
                    Some(format!("{column}={}", value.values().collect::<Vec<_>>().join("|")))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[track_caller]
fn check(search: &str, events: &[Fake], expected: &[&str]) {
    assert_eq!(cells(&run(search, events)), expected, "{search}");
}

fn users() -> Vec<Fake> {
    vec![
        Fake::at(100, &[("user", "alice"), ("host", "a"), ("bytes", "10")]),
        Fake::at(200, &[("user", "bob"), ("host", "a"), ("bytes", "5")]),
        Fake::at(300, &[("user", "alice"), ("host", "b"), ("bytes", "x")]),
        Fake::at(400, &[("host", "b"), ("bytes", "20")]),
    ]
}

#[test]
fn a_search_over_events_returns_them_newest_first() {
    // Search Manual, "About retrieving events": "Events are retrieved from the indexes in
    // reverse time order. The results of a search are ordered from most recent to least
    // recent by default."
    check("host=a | table _time user", &users(), &["_time=200 user=bob", "_time=100 user=alice"]);
    // "The AND operator is always implied between terms and expressions."
    check("host=b user=alice | table user", &users(), &["user=alice"]);
}

#[test]
fn a_long_list_decides_as_its_terms_over_events_and_over_rows() {
    // Search Reference, search: "use error IN (400, 402, 404, 500) instead of error=400 OR
    // error=402 OR error=404 OR error=500"; and the Search Manual: "By default, searches are
    // case-insensitive." A list of thousands selects events, and filters rows after
    // `stats`, as its one matching value alone does.
    let filler: Vec<String> = (0..3000).map(|n| format!("u{n}")).collect();
    let list = format!("({}, ALICE, c*)", filler.join(", "));
    let terms: Vec<String> = filler.iter().map(|value| format!("user={value}")).collect();
    let ors = format!("({} OR user=ALICE OR user=c*)", terms.join(" OR "));
    for condition in [format!("user IN {list}"), ors] {
        let events = run(&format!("{condition} | table _time"), &users());
        assert_eq!(cells(&events), ["_time=300", "_time=100"], "events, {} terms", filler.len());
        let rows = format!("* | stats count by user host | search NOT {condition} | table user");
        assert_eq!(cells(&run(&rows, &users())), ["user=bob"], "rows, {} terms", filler.len());
    }
}

#[test]
fn not_keeps_events_without_the_field_and_not_equal_does_not() {
    // Search Reference, search: "NOT fieldA="value2" … returns everything except
    // fieldA="value2"", while "fieldA!="value2"" "returns events where fieldA exists and does
    // not have the value".
    check("NOT user=alice | table _time", &users(), &["_time=400", "_time=200"]);
    check("user!=alice | table _time", &users(), &["_time=200"]);
    // "NOT fieldA=* returns events where fieldA is null or undefined, and fieldA!=* never
    // returns any events."
    check("NOT user=* | table _time", &users(), &["_time=400"]);
    check("user!=* | table _time", &users(), &[]);
}

#[test]
fn search_values_are_case_insensitive_and_compare_numbers_as_numbers() {
    // Search Manual: "By default, searches are case-insensitive."
    check("user=ALICE host=a | table user", &users(), &["user=alice"]);
    // Search Reference, search: "Comparison expressions with greater than or less than
    // operators < > <= >= numerically compare two numbers and lexicographically compare
    // other values." (`x` compares as text, and "x" > "9").
    check("bytes>9 | table bytes", &users(), &["bytes=20", "bytes=x", "bytes=10"]);
    // "Comparison expressions with the equal ( = ) or not equal ( != ) operator compare
    // string values. For example, "1" does not match "1.0"."
    check("bytes=10.0 | table bytes", &users(), &[]);
    // "use error IN (400, 402, 404, 500) instead of error=400 OR …"; wildcards allowed.
    check("user IN (bo*, carol) | table user", &users(), &["user=bob"]);
}

#[test]
fn or_binds_before_and_in_a_search() {
    // Search Reference, search: "The order in which Boolean expressions are evaluated with
    // the search command is: Expressions within parentheses; NOT clauses; OR clauses; AND
    // clauses".
    check("user=bob OR user=alice host=b | table _time", &users(), &["_time=300"]);
}

#[test]
fn free_text_terms_match_segments_of_the_raw_event() {
    // Search Reference, search: "When searching for strings and quoted strings (anything
    // that's not a search modifier), Splunk software searches the _raw field". Terms match
    // whole segments split by the breakers of segmenters.conf (major: blanks and `[ ] < > (
    // ) { } | ! ; , ' " * & ? +`; minor: `/ : = @ . - $ # % \ _`).
    let events = [
        Fake::at(1, &[("_raw", r"<Data Name='Image'>C:\Windows\System32\rundll32.exe</Data>")]),
        Fake::at(2, &[("_raw", "powershell -enc AAAA")]),
    ];
    check("rundll32.exe | table _time", &events, &["_time=1"]);
    check("RUNDLL32 | table _time", &events, &["_time=1"]);
    check("dll32 | table _time", &events, &[]);
    check("*dll32* | table _time", &events, &["_time=1"]);
    check("\"-enc AAAA\" | table _time", &events, &["_time=2"]);
    check("powershell NOT rundll32 | table _time", &events, &["_time=2"]);
}

#[test]
fn where_and_eval_compare_case_sensitively() {
    // Search Reference, where: "The <eval-expression> is case-sensitive." and "If the string
    // is not quoted, it is treated as a field name."
    check("* | where user=\"ALICE\" | table user", &users(), &[]);
    check("* | where user=\"alice\" | table _time", &users(), &["_time=300", "_time=100"]);
    let pair = [Fake::at(1, &[("a", "x"), ("b", "x")]), Fake::at(2, &[("a", "x"), ("b", "y")])];
    check("* | where a=b | table _time", &pair, &["_time=1"]);
    // "You can only specify a wildcard by using the like function with the where command."
    check("* | where like(user, \"al%\") | table _time", &users(), &["_time=300", "_time=100"]);
    check("* | where user LIKE \"b_b\" | table user", &users(), &["user=bob"]);
}

#[test]
fn where_drops_rows_whose_condition_is_null() {
    // Search Reference, where: "The where command returns only the results for which the
    // eval expression returns true." A missing field makes the comparison null.
    check("* | where user!=\"bob\" | table _time", &users(), &["_time=300", "_time=100"]);
    check("* | where NOT user=\"bob\" | table _time", &users(), &["_time=300", "_time=100"]);
    check(
        "* | where isnull(user) OR user=\"bob\" | table _time",
        &users(),
        &["_time=400", "_time=200"],
    );
}

#[test]
fn eval_assigns_left_to_right_and_null_removes_the_field() {
    // Search Reference, eval: "The search processes multiple eval expressions left-to-right
    // and lets you reference previously evaluated fields in subsequent expressions."
    check("user=bob | eval a=1, b=a+1, c=b*2 | table a b c", &users(), &["a=1 b=2 c=4"]);
    // null(): "Setting a field value to NULL clears the field value."
    check("user=bob | eval user=null() | table _time user", &users(), &["_time=200"]);
    // "If the field name that you specify matches a field name that already exists in the
    // search results, the results of the eval expression overwrite the values in that field."
    check("user=bob | eval host=host.\"-x\" | table host", &users(), &["host=a-x"]);
}

#[test]
fn eval_arithmetic_and_concatenation() {
    // Search Reference, eval: "The plus ( + ) operator accepts two numbers for addition, or
    // two strings for concatenation." "The period ( . ) operator concatenates both strings
    // and number. Numbers are concatenated in their string represented form."
    check(
        "user=bob | eval a=bytes+1, b=\"x\"+\"y\", c=bytes.1, d=10/4, e=7%3, f=bytes/0 | table a b c d e f",
        &users(),
        // "Division by zero results in a null field."
        &["a=6 b=xy c=51 d=2.5 e=1"],
    );
    // A field whose value is not a number makes arithmetic null (the documentation: "with the
    // exception of addition, arithmetic operations might not produce valid results if the
    // values are not numerical").
    check("host=b user=alice | eval a=bytes*2 | table user a", &users(), &["user=alice"]);
}

#[test]
fn eval_cannot_store_a_boolean() {
    // Search Reference, eval: "The result of an eval expression cannot be a Boolean."
    let error = Search::compile("* | eval x=a==b", &MacroTable::default(), "f").unwrap_err();
    assert!(error.to_string().contains("a boolean cannot be stored"), "{error}");
    check("user=bob | eval x=if(host==\"a\", \"yes\", \"no\") | table x", &users(), &["x=yes"]);
}

#[test]
fn xor_binds_loosest_in_eval() {
    // Search Reference, eval: "The order in which Boolean expressions are evaluated with the
    // eval command is: Expressions within parentheses; NOT clauses; AND clauses; OR clauses;
    // XOR clauses".
    let one = [Fake::at(1, &[("a", "1")])];
    // true XOR (false OR true) is false; (true XOR false) OR true would be true.
    check("* | eval r=if(a=1 XOR a=2 OR a=1, \"t\", \"f\") | table r", &one, &["r=f"]);
    // true OR (false AND false) is true; (true OR false) AND false would be false.
    check("* | eval r=if(a=1 OR a=2 AND a=3, \"t\", \"f\") | table r", &one, &["r=t"]);
}

#[test]
fn stats_groups_by_and_drops_rows_without_the_by_field() {
    // tstats documents "tstats omits rows for events with one or more null field values";
    // stats' documentation is silent and it is widely reported to do the same.
    check(
        "* | stats count dc(host) as hosts values(host) as host_list by user",
        &users(),
        &["user=alice count=2 hosts=2 host_list=a|b", "user=bob count=1 hosts=1 host_list=a"],
    );
    // Without `by` stats answers one row, even over nothing.
    check("nothing=here | stats count", &users(), &["count=0"]);
}

#[test]
fn stats_numeric_functions_ignore_text_values() {
    // sum: "Returns the sum of the values of the field X"; a value that is not a number is
    // not added (`x`).
    check(
        "* | stats sum(bytes) as s avg(bytes) as a min(bytes) as lo max(bytes) as hi range(bytes) as r count(bytes) as n",
        &users(),
        // max: numbers rank before text, so the largest value is the text `x`.
        &["s=35 a=11.666666666666666 lo=5 hi=x r=15 n=4"],
    );
}

#[test]
fn stats_first_and_last_follow_the_event_order() {
    // Search Reference, first(): "The first seen value of the field is the most recent
    // instance of this field"; events arrive newest first.
    check(
        "* | stats first(user) as newest last(user) as oldest earliest(user) as e latest(host) as l list(host) as all",
        &users(),
        &["newest=alice oldest=alice e=alice l=b all=b|b|a|a"],
    );
}

#[test]
fn count_of_an_eval_expression_counts_where_it_holds() {
    // Search Manual, "Add comments to searches" example: `count(eval(action="addtocart")) AS
    // addtocart` counts the events where the expression is true.
    check("* | stats count(eval(host=\"a\")) as on_a", &users(), &["on_a=2"]);
}

#[test]
fn eventstats_adds_group_statistics_to_every_row() {
    // Search Reference, eventstats: "Generates summary statistics from fields in your events
    // and saves those statistics in a new field."
    check(
        "* | eventstats count as n by host | table _time host n",
        &users(),
        &[
            "_time=400 host=b n=2",
            "_time=300 host=b n=2",
            "_time=200 host=a n=2",
            "_time=100 host=a n=2",
        ],
    );
}

#[test]
fn streamstats_accumulates_in_event_order() {
    // Search Reference, streamstats: "Adds cumulative summary statistics to all search
    // results in a streaming manner".
    check(
        "* | streamstats count as n by host | table _time n",
        &users(),
        &["_time=400 n=1", "_time=300 n=2", "_time=200 n=1", "_time=100 n=2"],
    );
    // "current: If true, the search includes the given, or current, event in the summary
    // calculations."
    check(
        "* | streamstats current=f count as n | table _time n",
        &users(),
        &["_time=400 n=0", "_time=300 n=1", "_time=200 n=2", "_time=100 n=3"],
    );
    // window=2: the statistics of the last two events only.
    check(
        "* | streamstats window=2 sum(bytes) as s | table s",
        &users(),
        &["s=20", "s=20", "s=5", "s=15"],
    );
}

#[test]
fn bin_puts_times_into_spans_aligned_to_the_epoch() {
    // Search Reference, bin: "Puts continuous numerical values into discrete sets, or bins,
    // by adjusting the value of <field> so that all of the items in a particular set have
    // the same value." Spans under a day start at multiples of the span since epoch 0 (the
    // base that `aligntime` would move).
    let events = [Fake::at(3599, &[]), Fake::at(3600, &[]), Fake::at(7300, &[])];
    check(
        "* | bin _time span=1h | stats count by _time",
        &events,
        &["_time=0 count=1", "_time=3600 count=1", "_time=7200 count=1"],
    );
    check(
        "* | bucket span=2h _time as slot | table slot",
        &events,
        &["slot=7200", "slot=0", "slot=0"],
    );
}

#[test]
fn rex_extracts_named_groups() {
    // Search Reference, rex: "The rex command matches the value of the specified field
    // against the unanchored regular expression and extracts the named groups into fields of
    // the corresponding names." "max_match … Use 0 to specify unlimited matches."
    let events = [Fake::at(1, &[("cmd", "a=1 b=2 c=3")])];
    check("* | rex field=cmd \"(?<k>\\w)=(?<v>\\d)\" | table k v", &events, &["k=a v=1"]);
    check(
        "* | rex field=cmd max_match=0 \"(?<k>\\w)=(?<v>\\d)\" | table k v",
        &events,
        &["k=a|b|c v=1|2|3"],
    );
    // "Use \n for back references, where "n" is a single digit." "g to replace all matches".
    check(
        "* | rex field=cmd mode=sed \"s/(\\w)=/\\1:/g\" | table cmd",
        &events,
        &["cmd=a:1 b:2 c:3"],
    );
    check("* | rex field=cmd mode=sed \"y/abc/xyz/\" | table cmd", &events, &["cmd=x=1 y=2 z=3"]);
    // No match leaves the field as it was (the documentation is silent).
    check("* | eval k=\"kept\" | rex field=cmd \"(?<k>zzz)\" | table k", &events, &["k=kept"]);
}

#[test]
fn regex_not_equal_keeps_rows_without_the_field() {
    // Search Reference, regex: "You can use a regex command with != to filter for events
    // that don't have a field value matching the regular expression, or for which the field
    // is null."
    check("* | regex user=\"^b\" | table _time", &users(), &["_time=200"]);
    check(
        "* | regex user!=\"^b\" | table _time",
        &users(),
        &["_time=400", "_time=300", "_time=100"],
    );
}

#[test]
fn fillnull_fills_fields_that_exist_somewhere() {
    // Search Reference, fillnull: "If you do not specify a field list, the value is applied
    // to all fields." and "In order for a field to exist in the schema, it must have at least
    // one non-null value in the event set." Default value: "zero ( 0 )".
    check(
        "* | table _time user | fillnull",
        &users(),
        &["_time=400 user=0", "_time=300 user=alice", "_time=200 user=bob", "_time=100 user=alice"],
    );
    // "If you specify a field that didn't previously exist, the field is created."
    check(
        "user=bob | fillnull value=none extra | table user extra",
        &users(),
        &["user=bob extra=none"],
    );
}

#[test]
fn dedup_keeps_the_first_and_drops_rows_missing_the_field() {
    // Search Reference, dedup: "Events returned by dedup are based on search order." and
    // "keepempty … Default: false. All events where any of the selected fields are null are
    // dropped."
    check("* | dedup user | table _time", &users(), &["_time=300", "_time=200"]);
    check(
        "* | dedup user keepempty=true | table _time",
        &users(),
        &["_time=400", "_time=300", "_time=200"],
    );
    // "consecutive: If true, only remove events with duplicate combinations of values that
    // are consecutive."
    check("* | dedup host consecutive=true | table _time", &users(), &["_time=400", "_time=200"]);
}

#[test]
fn sort_orders_numbers_as_numbers_and_missing_values_last() {
    // Search Reference, sort: "Results missing a given field are treated as having the
    // smallest or largest possible value of that field if the order is descending or
    // ascending, respectively."
    check(
        "* | sort - user | table _time",
        &users(),
        &["_time=200", "_time=300", "_time=100", "_time=400"],
    );
    // auto: "If the field contains numeric values, the collating sequence is numeric";
    // `x` is text and sorts after the numbers.
    check(
        "* | sort bytes | table bytes",
        &users(),
        &["bytes=5", "bytes=10", "bytes=20", "bytes=x"],
    );
    check(
        "* | sort str(bytes) | table bytes",
        &users(),
        &["bytes=10", "bytes=20", "bytes=5", "bytes=x"],
    );
    // "If the first argument to the sort command is a number, then at most that many results
    // are returned".
    check("* | sort 1 -num(bytes) | table bytes", &users(), &["bytes=20"]);
}

#[test]
fn head_and_tail() {
    // head: "If no options or limits are specified, the head command returns the first 10
    // results." tail: "The events are returned in reverse order, starting at the end of the
    // result set."
    check("* | head 2 | table _time", &users(), &["_time=400", "_time=300"]);
    check("* | tail 2 | table _time", &users(), &["_time=100", "_time=200"]);
    check("* | reverse | head 1 | table _time", &users(), &["_time=100"]);
}

#[test]
fn multivalue_commands() {
    let events = [Fake::at(1, &[("list", "a,b,,c")]), Fake::at(2, &[("other", "x")])];
    // makemv: delim "Default: A single space"; "allowempty … by default does not produce any
    // value for the empty string".
    check("* | makemv delim=\",\" list | table list", &events, &["", "list=a|b|c"]);
    // mvexpand: "Expands the values of a multivalue field into separate events, one event
    // for each value"; rows without the field are dropped (as Splunk is reported to do).
    check(
        "* | makemv delim=\",\" list | mvexpand list | table list",
        &events,
        &["list=a", "list=b", "list=c"],
    );
    check("* | makemv delim=\",\" list | nomv list | table list", &events, &["", "list=a\nb\nc"]);
}

#[test]
fn rename_table_and_fields() {
    // rename: "If fieldB does exist, the result of the rename is that the data in fieldB is
    // removed." when fieldA does not exist.
    check("user=bob | rename nothing AS host | table user host", &users(), &["user=bob"]);
    check(
        "user=bob | rename \"user\" AS \"the user\" | table \"the user\"",
        &users(),
        &["the user=bob"],
    );
    // table: "Columns are displayed in the same order that fields are specified."
    check("user=bob | table bytes user", &users(), &["bytes=5 user=bob"]);
    // fields: "The fields command does not remove these internal fields unless you
    // explicitly specify that the fields should not appear".
    check("user=bob | fields user", &users(), &["_time=200 user=bob"]);
    check("user=bob | fields - _time bytes", &users(), &["user=bob host=a"]);
}

#[test]
fn foreach_runs_its_commands_for_each_matching_field() {
    // Search Reference, foreach: "<<FIELD>> The whole field name."; "<<MATCHSTR>> The part of
    // the field name that matches the wildcard values in the wildcard field." The example
    // `foreach myfield_* [eval <<FIELD>> = '<<FIELD>>' + <<MATCHSTR>>]` on 5 and 10 gives 6
    // and 12.
    let events = [Fake::at(1, &[("myfield_1", "5"), ("myfield_2", "10"), ("other", "null")])];
    check(
        "* | foreach myfield_* [eval <<FIELD>> = '<<FIELD>>' + <<MATCHSTR>>] | table myfield_1 myfield_2",
        &events,
        &["myfield_1=6 myfield_2=12"],
    );
    // The form security_content writes: turn the text "null" into a real null.
    check(
        "* | foreach * [eval <<FIELD>> = if(<<FIELD>>=\"null\",null(),<<FIELD>>)] | table other myfield_1",
        &events,
        &["myfield_1=5"],
    );
}

#[test]
fn quoted_macro_arguments_expand_as_written() {
    // macros.conf: "The Splunk platform replaces the $<arg>$ pattern globally in the string,
    // even inside quotation marks." `drop_dm_object_name("Processes")` expands to
    // `rename "Processes".* AS *`, which renames the `Processes.` fields.
    let events = [Fake::at(1, &[("Processes.dest", "h")])];
    check("* | `drop_dm_object_name(\"Processes\")` | table dest", &events, &["dest=h"]);
}

#[test]
fn stats_with_only_order_free_aggregates_streams_and_agrees_with_the_buffered_path() {
    // The selected events feed stats as they are read, or are held and put in order first;
    // both give the same rows for aggregates that do not depend on the order.
    let events: Vec<Fake> = (0..1000)
        .map(|i| Fake::at(i, &[("k", if i % 3 == 0 { "a" } else { "b" }), ("v", &i.to_string())]))
        .collect();
    let streamed = run("* | stats count sum(v) as s by k", &events);
    let held = run("* | sort 0 _time | stats count sum(v) as s by k", &events);
    assert_eq!(cells(&streamed), cells(&held));
    assert_eq!(cells(&streamed), ["k=a count=334 s=166833", "k=b count=666 s=332667"]);
}
