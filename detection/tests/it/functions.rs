//! The eval functions, each against the Search Reference ("Evaluation functions") sentence
//! it follows, quoted above its cases. Every case evaluates over one event whose fields are
//! `s` ("Hello World"), `n` ("42"), `empty` (""), `mv` (the values `b`, `a`, `b`) and `path`.

use crate::pipeline::{Fake, cells, run};

fn event() -> Fake {
    Fake::at(
        1_582_290_855,
        &[
            ("s", "Hello World"),
            ("n", "42"),
            ("empty", ""),
            ("mv", "b|a|b"),
            ("path", r"C:\Windows\System32\rundll32.exe"),
            ("ip", "10.1.2.3"),
            ("json", r#"{"a":{"b":[1,2]}}"#),
        ],
    )
}

/// The value of `expression` as the row shows it (`|` between multivalue values), or
/// `(null)`.
#[track_caller]
fn value(expression: &str) -> String {
    let search = format!("* | eval r={expression} | table r");
    let table = run(&search, &[event()]);
    let shown = cells(&table).join("");
    shown.strip_prefix("r=").map_or_else(|| "(null)".to_owned(), str::to_owned)
}

/// Whether a condition holds, through `if`, since eval cannot store a boolean.
#[track_caller]
fn holds(condition: &str) -> String {
    value(&format!("if({condition}, \"true\", if(NOT ({condition}), \"false\", \"null\"))"))
}

#[track_caller]
fn check(cases: &[(&str, &str)]) {
    for (expression, expected) in cases {
        assert_eq!(value(expression), *expected, "{expression}");
    }
}

#[track_caller]
fn check_conditions(cases: &[(&str, &str)]) {
    for (condition, expected) in cases {
        assert_eq!(holds(condition), *expected, "{condition}");
    }
}

#[test]
fn conditional_functions() {
    check(&[
        // if: "If the <predicate> expression evaluates to TRUE, returns the <true_value> ,
        // otherwise the function returns the <false_value>."
        ("if(n>40, \"big\", \"small\")", "big"),
        ("if(nothing>40, \"big\", \"small\")", "small"),
        // case: "Returns the first value for which the condition evaluates to TRUE." "The
        // function defaults to NULL if none of the <condition> arguments are true."
        ("case(n=1, \"one\", n=42, \"answer\", true(), \"other\")", "answer"),
        ("case(n=1, \"one\")", "(null)"),
        // coalesce: "returns the first value that is not NULL" (an empty string is a value).
        ("coalesce(nothing, empty, s)", ""),
        ("coalesce(nothing, s)", "Hello World"),
        // nullif: "returns NULL if the value in <field1> is equal to the value in <field2>".
        ("nullif(n, 42)", "(null)"),
        ("nullif(n, 1)", "42"),
        // validate: "returns the value that corresponds to the condition that evaluates to
        // FALSE. This function defaults to NULL if all conditions evaluate to TRUE."
        ("validate(isnum(n), \"not a number\", n<10, \"too big\")", "too big"),
        ("validate(isnum(n), \"not a number\")", "(null)"),
        // typeof: `typeof(12) + typeof("string") + typeof(1==2) + typeof(badfield)` returns
        // "NumberStringBoolInvalid".
        (
            "typeof(12) + typeof(\"string\") + typeof(1==2) + typeof(badfield)",
            "NumberStringBoolInvalid",
        ),
    ]);
    check_conditions(&[
        // isnull: "If there is no value for "field" in a result, the isnull function returns
        // TRUE".
        ("isnull(nothing)", "true"),
        ("isnull(empty)", "false"),
        ("isnotnull(s)", "true"),
        // isnum: a field "stored as "NaN" … is parsed as a numeric type"; a field's text
        // that is a number is a number.
        ("isnum(n)", "true"),
        ("isnum(s)", "false"),
        ("isint(n)", "true"),
        ("isstr(s)", "true"),
        // in: "The function returns TRUE if one of the values in the list matches a value
        // that you specify." — exact, case-sensitive.
        ("in(s, \"x\", \"Hello World\")", "true"),
        ("in(s, \"hello world\")", "false"),
        ("s IN (\"a\", \"Hello World\")", "true"),
        // like: "Use the percent ( % ) symbol as a wildcard for matching multiple
        // characters; Use the underscore ( _ ) character as a wildcard to match a single
        // character".
        ("like(s, \"Hello%\")", "true"),
        ("like(s, \"H_llo World\")", "true"),
        ("like(s, \"hello%\")", "false"),
        // match: "returns TRUE if the regular expression <regex> finds a match against any
        // substring of the string value".
        ("match(s, \"o W\")", "true"),
        ("match(s, \"^World\")", "false"),
        ("match(path, \"(?i)\\\\\\\\rundll32\\.exe$\")", "true"),
        ("match(nothing, \"x\")", "null"),
        // cidrmatch: "returns TRUE when an IP address, <ip> , belongs to a particular CIDR
        // subnet".
        ("cidrmatch(\"10.0.0.0/8\", ip)", "true"),
        ("cidrmatch(\"192.168.0.0/16\", ip)", "false"),
        // searchmatch: "returns TRUE if the event matches the search string."
        ("searchmatch(\"s=hello* n>40\")", "true"),
        ("searchmatch(\"s=bye\")", "false"),
        // A multivalue field compares equal when one of its values does.
        ("mv=\"a\"", "true"),
        ("true()", "true"),
        ("false()", "false"),
    ]);
}

#[test]
fn text_functions() {
    check(&[
        // len: "returns a count of the UTF-8 code points in a string."
        ("len(s)", "11"),
        ("len(\"héllo\")", "5"),
        // lower/upper: "You can use this function on multivalue fields."
        ("lower(s)", "hello world"),
        ("upper(mv)", "B|A|B"),
        // substr: "The indexes follow SQLite semantics; they start at 1. Negative indexes can
        // be used to indicate a start from the end of the string." Example: `substr("string",
        // 1, 3) + substr("string", -3)` returns "string".
        ("substr(\"string\", 1, 3) + substr(\"string\", -3)", "string"),
        // trim: "If not specified, spaces and tabs are removed from both sides of the string."
        // `trim("   ZZZZabcZZ ", " Z")` returns "abc".
        ("trim(\"   ZZZZabcZZ \", \" Z\")", "abc"),
        ("ltrim(\"   ZZZZabcZZ \", \" Z\")", "abcZZ "),
        ("rtrim(\"   ZZZZabcZZ \", \" Z\")", "   ZZZZabc"),
        ("trim(\"  x \")", "x"),
        // replace: "substitutes the replacement string for every occurrence of the regular
        // expression"; `replace(date, "^(\d{1,2})/(\d{1,2})/", "\2/\1/")` swaps day and month.
        ("replace(\"1/2/2020\", \"^(\\d{1,2})/(\\d{1,2})/\", \"\\2/\\1/\")", "2/1/2020"),
        ("replace(s, \"o\", \"0\")", "Hell0 W0rld"),
        // split: "Use an empty string ("") to split the original string into one value per
        // character."
        ("split(\"a,b,c\", \",\")", "a|b|c"),
        ("split(\"abc\", \"\")", "a|b|c"),
        // urldecode example: "http%3A%2F%2Fwww.splunk.com%2Fdownload%3Fr%3Dheader" gives
        // "http://www.splunk.com/download?r=header".
        (
            "urldecode(\"http%3A%2F%2Fwww.splunk.com%2Fdownload%3Fr%3Dheader\")",
            "http://www.splunk.com/download?r=header",
        ),
        // tostring: `tostring(1==1) + " " + tostring(15, "hex") + " " + tostring(12345.6789,
        // "commas")` returns "True 0xF 12,345.68"; `tostring(615,"duration")` "00:10:15".
        (
            "tostring(1==1) + \" \" + tostring(15, \"hex\") + \" \" + tostring(12345.6789, \"commas\")",
            "True 0xF 12,345.68",
        ),
        ("tostring(615, \"duration\")", "00:10:15"),
        // tonumber: base 16 of "0xFF"; text that is not a number gives null.
        ("tonumber(\"0xFF\", 16)", "255"),
        ("tonumber(\"12\")", "12"),
        ("tonumber(s)", "(null)"),
        // "The period ( . ) operator concatenates both strings and number."
        ("s . \" \" . n", "Hello World 42"),
        // Cryptographic functions return the digest in hexadecimal.
        ("md5(\"abc\")", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1(\"abc\")", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("sha256(\"abc\")", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        // spath: "extract information from the structured data formats XML and JSON".
        ("spath(json, \"a.b{}\")", "1|2"),
        ("spath(json, \"a.b{1}\")", "2"),
    ]);
}

#[test]
fn multivalue_functions() {
    check(&[
        // mvcount: "If the field contains a single value, this function returns 1 . If the
        // field has no values, this function returns NULL."
        ("mvcount(mv)", "3"),
        ("mvcount(s)", "1"),
        ("mvcount(nothing)", "(null)"),
        // mvindex: "Indexes start at zero." "An index of -1 is used to specify the last value
        // in the list." "If the indexes are out of range or invalid, the result is NULL."
        ("mvindex(mv, 0)", "b"),
        ("mvindex(mv, -1)", "b"),
        ("mvindex(mv, 1, 2)", "a|b"),
        ("mvindex(mv, 5)", "(null)"),
        // mvjoin: "concatenates the individual values within <mv> using the value of <delim>".
        ("mvjoin(mv, \";\")", "b;a;b"),
        // mvappend: "returns a single multivalue result that contains all of the values".
        ("mvappend(mv, s, nothing)", "b|a|b|Hello World"),
        // mvdedup: "returns a multivalue field with its duplicate values removed."
        ("mvdedup(mv)", "b|a"),
        // mvsort: "Numbers are sorted before letters." "Uppercase letters are sorted before
        // lowercase letters."
        ("mvsort(mvappend(\"b\", \"B\", \"10\", \"9\"))", "10|9|B|b"),
        // mvfind: "the index of the first matching value is returned (beginning with zero).
        // If no values match, NULL is returned."
        ("mvfind(mv, \"^a\")", "1"),
        ("mvfind(mv, \"z\")", "(null)"),
        // mvzip: "The default delimiter is a comma".
        ("mvzip(mv, mv)", "b,b|a,a|b,b"),
        // mvfilter: "The Boolean expression can reference ONLY ONE field at a time."
        ("mvfilter(mv!=\"b\")", "a"),
        // mvmap: "iterates over the values of a multivalue field, performs an operation using
        // the <expression> on each value".
        ("mvmap(mv, mv.\"!\")", "b!|a!|b!"),
        // mvrange: "an ending number (which is excluded from the field)"; `mvrange(1,11,2)`
        // gives 1, 3, 5, 7, 9.
        ("mvrange(1, 11, 2)", "1|3|5|7|9"),
    ]);
}

#[test]
fn number_functions() {
    check(&[
        ("abs(-3)", "3"),
        ("ceil(1.2)", "2"),
        ("floor(1.8)", "1"),
        ("round(2.5)", "3"),
        ("round(3.14159, 2)", "3.14"),
        ("pow(2, 10)", "1024"),
        ("sqrt(16)", "4"),
        ("log(100)", "2"),
        ("log(8, 2)", "3"),
        ("exact(n)", "42"),
        // min/max: numbers compare numerically and before strings.
        ("max(1, 3, \"10\")", "10"),
        ("min(n, 7, \"abc\")", "7"),
        ("max(1, \"abc\")", "abc"),
        // "Division by zero results in a null field."
        ("n/0", "(null)"),
    ]);
}

#[test]
fn time_functions() {
    // The event is at 2020-02-21T13:14:15Z; the search runs at 2023-11-14T22:13:20Z.
    check(&[
        // strftime of `_time`; "The _time field is stored in UNIX time".
        ("strftime(_time, \"%Y-%m-%d %H:%M:%S\")", "2020-02-21 13:14:15"),
        ("strptime(\"2020-02-21 13:14:15\", \"%Y-%m-%d %H:%M:%S\")", "1582290855"),
        // relative_time with a snap: `-1d@d` is the start of the previous day.
        ("relative_time(_time, \"-1d@d\")", "1582156800"),
        ("relative_time(_time, \"@h\")", "1582290000"),
        ("now()", "1700000000"),
    ]);
}

#[test]
fn unknown_functions_are_errors_at_their_place() {
    let error = detection::spl::Search::compile(
        "* | eval x=frobnicate(1)",
        &detection::spl::MacroTable::default(),
        "f",
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "search: col 12: unknown or unsupported function `frobnicate`");
    assert_eq!(error.blocker(), Some(detection::spl::Blocker::Function("frobnicate".into())));
}
