//! The gate's verdict, for people and for CI: the table of rule × dataset × rows × status with
//! the row changes under it, a one-line total, the same results as `JUnit` XML, and GitHub
//! workflow commands (`::error file=…::`) that annotate the files of a pull request.

use std::fmt::Write as _;
use std::path::Path;

use detection::content::validate::{Finding, Severity};

use crate::harness::{self, BENIGN, Entry, Status};
use crate::libtest::{TestCase, TestOutcome};

/// Above this many lines the table shows only what needs attention.
const FULL_TABLE_LINES: usize = 60;

/// One step of the gate and how it went.
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) outcome: Outcome,
    pub(crate) seconds: f64,
}

pub(crate) enum Outcome {
    Passed,
    /// Failed; the text says why, in a line or two.
    Failed(String),
    /// Not run; the text says why.
    Skipped(String),
}

/// Everything the gate found.
pub(crate) struct Gate<'a> {
    pub(crate) steps: &'a [Step],
    pub(crate) findings: &'a [Finding],
    pub(crate) rules: Option<&'a harness::Report>,
    pub(crate) tool_tests: &'a [TestCase],
    pub(crate) require_datasets: bool,
}

/// The table, the changes and the totals, as printed at the end of the gate.
pub(crate) fn rules_table(report: &harness::Report, require_datasets: bool, all: bool) -> String {
    let mut lines: Vec<[String; 4]> = Vec::new();
    let mut hidden = 0;
    let total_lines: usize = report.rules.iter().map(|rule| rule.entries.len()).sum();
    let show_all = all || total_lines <= FULL_TABLE_LINES;
    for rule in &report.rules {
        for entry in &rule.entries {
            if !show_all && !entry.fails(require_datasets) && entry.changes.is_empty() {
                hidden += 1;
                continue;
            }
            lines.push([rule.name.clone(), shown_dataset(entry), rows(entry), status(entry)]);
        }
    }
    for orphan in &report.orphans {
        lines.push([
            "(no rule)".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            format!("snapshot of no rule: {orphan}"),
        ]);
    }
    let mut out = String::new();
    if !lines.is_empty() {
        let header = ["rule", "dataset", "rows (snapshot → now)", "status"].map(str::to_owned);
        let widths: Vec<usize> = (0..3)
            .map(|column| {
                lines
                    .iter()
                    .chain([&header])
                    .map(|line| line[column].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in [&header].into_iter().chain(&lines) {
            let _ = writeln!(
                out,
                "{:w0$}  {:w1$}  {:w2$}  {}",
                line[0],
                line[1],
                line[2],
                line[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "({hidden} lines that pass or were not run are not shown; -v shows them)"
        );
    }
    out.push_str(&changes(report, require_datasets));
    out
}

/// Under the table: for each rule that fails or changed, which file, what changed, and where
/// the pending snapshot is.
fn changes(report: &harness::Report, require_datasets: bool) -> String {
    let mut out = String::new();
    for rule in &report.rules {
        let notable: Vec<&Entry> = rule
            .entries
            .iter()
            .filter(|entry| {
                entry.fails(require_datasets)
                    || !entry.changes.is_empty()
                    || entry.status.detail().is_some()
            })
            .collect();
        if notable.is_empty()
            || !rule.fails(require_datasets) && notable.iter().all(|e| e.status.skipped())
        {
            continue;
        }
        let _ = writeln!(out, "\n{} ({})", rule.name, rule.file);
        for entry in notable {
            let _ = write!(out, "  {}: {}", shown_dataset(entry), entry.status.label());
            if let Some(detail) = entry.status.detail() {
                let _ = write!(out, ": {detail}");
            }
            out.push('\n');
            if let Some((file, reason)) = &entry.stand_in {
                let _ = writeln!(
                    out,
                    "    read the stand-in {file}: the dataset is unavailable ({reason})"
                );
            }
            for (sign, line) in &entry.changes {
                let _ = writeln!(out, "    {sign} {line}");
            }
        }
        let pending = format!("{}.new", rule.snapshot);
        if report.written.contains(&pending) {
            let _ = writeln!(out, "  new rows written to {pending}");
        } else if report.written.contains(&rule.snapshot) {
            let _ = writeln!(out, "  snapshot overwritten: {}", rule.snapshot);
        }
    }
    out
}

/// How a rule ended, for the total: each rule counts once.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Failed,
    Unsupported,
    NotRun,
    Passed,
}

fn verdict(rule: &harness::RuleReport, require_datasets: bool) -> Verdict {
    if rule.fails(require_datasets) {
        Verdict::Failed
    } else if rule.entries.iter().any(|entry| matches!(entry.status, Status::Unsupported(_))) {
        Verdict::Unsupported
    } else if rule.entries.iter().any(|entry| entry.now.is_some() && entry.dataset != BENIGN) {
        Verdict::Passed
    } else {
        Verdict::NotRun
    }
}

/// The one-line total of the rule tests.
pub(crate) fn rules_total(report: &harness::Report, require_datasets: bool) -> String {
    let count = |wanted: Verdict| {
        report.rules.iter().filter(|rule| verdict(rule, require_datasets) == wanted).count()
    };
    let stand_ins = report
        .rules
        .iter()
        .filter(|rule| rule.entries.iter().any(|entry| entry.stand_in.is_some()))
        .count();
    let mut line = format!(
        "rules: {} tested of {} found: {} passed, {} failed, {} not supported by the engine, \
         {} not run on any own dataset; {stand_ins} read a stand-in; {} benign file(s)",
        report.rules.len(),
        report.rules_found,
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::Unsupported),
        count(Verdict::NotRun),
        report.benign_files.len()
    );
    if !report.orphans.is_empty() {
        let _ = write!(line, "; {} snapshot(s) of no rule", report.orphans.len());
    }
    line
}

/// What engine limits keep rules from running, most common first: a worklist.
pub(crate) fn unsupported_summary(report: &harness::Report) -> Option<String> {
    let mut by_reason: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for rule in &report.rules {
        for entry in &rule.entries {
            if let Status::Unsupported(detail) = &entry.status {
                let reason = detail.split(" (").next().unwrap_or(detail);
                *by_reason.entry(reason).or_default() += 1;
            }
        }
    }
    if by_reason.is_empty() {
        return None;
    }
    let mut reasons: Vec<(&str, usize)> = by_reason.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> =
        reasons.iter().take(8).map(|(reason, count)| format!("{reason}: {count}")).collect();
    Some(format!("not supported by the engine yet: {}", shown.join(", ")))
}

fn shown_dataset(entry: &Entry) -> String {
    match &entry.stand_in {
        Some((file, _)) => format!("{file} (stand-in)"),
        None => short_dataset(&entry.dataset),
    }
}

/// A URL's path below `attack_techniques/` (or its last three segments); paths as they are.
pub(crate) fn short_dataset(data: &str) -> String {
    if !data.contains("://") {
        return data.to_owned();
    }
    if let Some((_, rest)) = data.split_once("/attack_techniques/") {
        return rest.to_owned();
    }
    let segments: Vec<&str> = data.rsplit('/').take(3).collect();
    segments.into_iter().rev().collect::<Vec<_>>().join("/")
}

fn rows(entry: &Entry) -> String {
    let count = |count: Option<usize>| count.map_or_else(|| "-".to_owned(), |n| n.to_string());
    format!("{} → {}", count(entry.before), count(entry.now))
}

fn status(entry: &Entry) -> String {
    let mut text = entry.status.label().to_owned();
    if entry.stand_in.is_some() {
        text.push_str(" (on the stand-in)");
    }
    text
}

/// The gate's results as `JUnit` XML: a suite per step, a test case per rule × dataset, per
/// content finding and per tool test.
pub(crate) fn junit(gate: &Gate<'_>) -> String {
    let mut suites: Vec<Suite> = Vec::new();
    let mut steps = Suite::new("gate");
    for step in gate.steps {
        let case = Case::new(step.name, "gate").seconds(step.seconds);
        steps.cases.push(match &step.outcome {
            Outcome::Passed => case,
            Outcome::Failed(why) => case.failure(why, why),
            Outcome::Skipped(why) => case.skipped(why),
        });
    }
    suites.push(steps);
    if let Some(report) = gate.rules {
        let mut rules = Suite::new("rules");
        for rule in &report.rules {
            for entry in &rule.entries {
                let name = format!("{} on {}", rule.name, shown_dataset(entry));
                let case = Case::new(&name, &rule.file);
                rules.cases.push(if entry.fails(gate.require_datasets) {
                    let mut text = format!("{}: {}", entry.status.label(), rows(entry));
                    if let Some(detail) = entry.status.detail() {
                        let _ = write!(text, "\n{detail}");
                    }
                    for (sign, line) in &entry.changes {
                        let _ = write!(text, "\n{sign} {line}");
                    }
                    case.failure(entry.status.label(), &text)
                } else if entry.status.skipped() {
                    case.skipped(entry.status.detail().unwrap_or(entry.status.label()))
                } else {
                    case
                });
            }
        }
        for orphan in &report.orphans {
            rules.cases.push(Case::new(orphan, "snapshots").failure(
                "snapshot of no rule",
                "the rule of this snapshot is gone: delete the file, or restore the rule",
            ));
        }
        suites.push(rules);
    }
    let mut content = Suite::new("validate");
    for finding in gate.findings {
        let file = finding.path.to_string_lossy();
        let case = Case::new(&format!("{file}: {}", finding.message), &file);
        content.cases.push(match finding.severity {
            Severity::Error => case.failure("content error", &finding.message),
            Severity::Warning => case,
            Severity::Unsupported => case.skipped("the engine cannot evaluate this search yet"),
        });
    }
    suites.push(content);
    if !gate.tool_tests.is_empty() {
        let mut tools = Suite::new("tool tests");
        for test in gate.tool_tests {
            let case = Case::new(&test.name, &test.binary);
            tools.cases.push(match test.outcome {
                TestOutcome::Passed => case,
                TestOutcome::Ignored => case.skipped("ignored"),
                TestOutcome::Failed => case.failure("test failed", &test.output),
            });
        }
        suites.push(tools);
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let tests: usize = suites.iter().map(|suite| suite.cases.len()).sum();
    let _ = writeln!(
        xml,
        "<testsuites name=\"cargo xtask test\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for suite in &suites {
        suite.write(&mut xml);
    }
    xml.push_str("</testsuites>\n");
    xml
}

struct Suite {
    name: &'static str,
    cases: Vec<Case>,
}

impl Suite {
    fn new(name: &'static str) -> Self {
        Self { name, cases: Vec::new() }
    }

    fn failures(&self) -> usize {
        self.cases.iter().filter(|case| case.failure.is_some()).count()
    }

    fn write(&self, xml: &mut String) {
        let skipped = self.cases.iter().filter(|case| case.skipped.is_some()).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{skipped}\">",
            escape(self.name),
            self.cases.len(),
            self.failures()
        );
        for case in &self.cases {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(&case.classname),
                case.seconds
            );
            match (&case.failure, &case.skipped) {
                (Some((message, text)), _) => {
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape(message),
                        escape(text)
                    );
                }
                (None, Some(message)) => {
                    let _ = writeln!(
                        xml,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(message)
                    );
                }
                (None, None) => xml.push_str("/>\n"),
            }
        }
        xml.push_str("  </testsuite>\n");
    }
}

struct Case {
    name: String,
    classname: String,
    seconds: f64,
    failure: Option<(String, String)>,
    skipped: Option<String>,
}

impl Case {
    fn new(name: &str, classname: &str) -> Self {
        Self {
            name: name.to_owned(),
            classname: classname.to_owned(),
            seconds: 0.0,
            failure: None,
            skipped: None,
        }
    }

    fn seconds(mut self, seconds: f64) -> Self {
        self.seconds = seconds;
        self
    }

    fn failure(mut self, message: &str, text: &str) -> Self {
        self.failure = Some((message.to_owned(), text.to_owned()));
        self
    }

    fn skipped(mut self, message: &str) -> Self {
        self.skipped = Some(message.to_owned());
        self
    }
}

/// Text for XML attributes and elements; characters XML 1.0 cannot hold become `?`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// GitHub workflow commands that annotate the content findings and the failing rules.
pub(crate) fn github_annotations(gate: &Gate<'_>, root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for finding in gate.findings {
        let level = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            // The rule tests report these once, as not supported.
            Severity::Unsupported => continue,
        };
        let file = crate::harness::relative_to(&finding.path, root);
        let mut place = format!("file={}", property(&file));
        if let Some(line) = finding.line {
            let _ = write!(place, ",line={line}");
            if let Some(column) = finding.column {
                let _ = write!(place, ",col={column}");
            }
        }
        lines.push(format!(
            "::{level} {place},title={}::{}",
            property("detection validate"),
            data(&finding.message)
        ));
    }
    if let Some(report) = gate.rules {
        for rule in report.rules.iter().filter(|rule| rule.fails(gate.require_datasets)) {
            let line = search_line(&report.root.join(&rule.file));
            for entry in rule.entries.iter().filter(|entry| entry.fails(gate.require_datasets)) {
                let mut message =
                    format!("{}: {} ({})", shown_dataset(entry), entry.status.label(), rows(entry));
                if let Some(detail) = entry.status.detail() {
                    let _ = write!(message, "\n{detail}");
                }
                for (sign, change) in entry.changes.iter().take(20) {
                    let _ = write!(message, "\n{sign} {change}");
                }
                let file = crate::harness::relative_to(&report.root.join(&rule.file), root);
                lines.push(format!(
                    "::error file={},line={line},title={}::{}",
                    property(&file),
                    property(&rule.name),
                    data(&message)
                ));
            }
        }
        for orphan in &report.orphans {
            let file = crate::harness::relative_to(&report.root.join(orphan), root);
            lines.push(format!(
                "::error file={},title={}::{}",
                property(&file),
                property("snapshot of no rule"),
                data("the rule of this snapshot is gone: delete the file, or restore the rule")
            ));
        }
    }
    for test in gate.tool_tests.iter().filter(|test| test.outcome == TestOutcome::Failed) {
        lines.push(format!("::error title={}::{}", property(&test.name), data(&test.output)));
    }
    lines
}

/// The line of the rule's `search:` key, where an annotation about its rows belongs; 1 when
/// the file cannot be read.
fn search_line(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.lines().position(|line| line.starts_with("search:")))
        .map_or(1, |index| index + 1)
}

/// Escaping of a workflow command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escaping of a workflow command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::tests::Tree;
    use crate::libtest::TestCase;

    /// The fixture content with its comsvcs rule changed, as the gate reports it.
    fn failing_report(tree: &Tree) -> harness::Report {
        tree.edit(
            "detections/endpoint/dump_lsass_via_comsvcs_dll.yml",
            " Processes.process=*MiniDump*",
            "",
        );
        let options = harness::Options {
            root: tree.root(),
            benign: Some(tree.path("fixtures/benign")),
            only: None,
            shard: (1, 1),
            update: harness::Update::No,
            engine: std::collections::BTreeMap::new(),
        };
        let remote = harness::datasets::Remote::resolve(
            &tree.root(),
            &tree.dir.path().join("cache"),
            crate::fetch::Mode::Offline,
        );
        harness::run(&options, &remote).expect("rule tests")
    }

    /// Every `<testcase>` as (suite, name, failure message, skipped).
    fn cases(xml: &str) -> Vec<(String, String, Option<String>, bool)> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut cases = Vec::new();
        let mut suite = String::new();
        let attribute = |element: &quick_xml::events::BytesStart<'_>, name: &[u8]| {
            element
                .try_get_attribute(name)
                .expect("well-formed attribute")
                .map(|value| value.unescape_value().expect("escaped").into_owned())
        };
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuite" => {
                    suite = attribute(&e, b"name").expect("suite name");
                }
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                    let name = attribute(&e, b"name").expect("case name");
                    cases.push((suite.clone(), name, None, false));
                }
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => {
                    cases.last_mut().expect("inside a case").2 = attribute(&e, b"message");
                }
                Event::Empty(e) if e.name().as_ref() == b"skipped" => {
                    cases.last_mut().expect("inside a case").3 = true;
                }
                Event::Eof => break,
                _ => {}
            }
        }
        cases
    }

    #[test]
    fn junit_holds_every_step_rule_dataset_finding_and_tool_test() {
        let tree = Tree::new();
        let rules = failing_report(&tree);
        let steps = [
            Step { name: "detection validate", outcome: Outcome::Passed, seconds: 0.5 },
            Step { name: "rule tests", outcome: Outcome::Failed("1 failed".into()), seconds: 0.1 },
            Step {
                name: "tool tests",
                outcome: Outcome::Skipped("--content".into()),
                seconds: 0.0,
            },
        ];
        let findings = [Finding {
            path: tree.path("detections/endpoint/a.yml"),
            line: None,
            column: None,
            rule_id: "x".into(),
            severity: Severity::Error,
            message: "risk_score 5 is not <impact> & \"confidence\"".into(),
            excerpt: None,
            blocker: None,
        }];
        let tool_tests = [TestCase {
            binary: "it tests/it/main.rs".into(),
            name: "spl::parses".into(),
            outcome: TestOutcome::Failed,
            output: "panicked at\n<left> != right".into(),
        }];
        let gate = Gate {
            steps: &steps,
            findings: &findings,
            rules: Some(&rules),
            tool_tests: &tool_tests,
            require_datasets: false,
        };
        let cases = cases(&junit(&gate));
        let failed: Vec<(&str, &str, &str)> = cases
            .iter()
            .filter_map(|(suite, name, failure, _)| {
                Some((suite.as_str(), name.as_str(), failure.as_deref()?))
            })
            .collect();
        assert_eq!(
            failed,
            [
                ("gate", "rule tests", "1 failed"),
                (
                    "rules",
                    "Dump LSASS via comsvcs DLL on fixtures/datasets/T1003.001-stand-in.log (stand-in)",
                    "rows changed"
                ),
                (
                    "validate",
                    &*format!(
                        "{}: risk_score 5 is not <impact> & \"confidence\"",
                        findings[0].path.display()
                    ),
                    "content error"
                ),
                ("tool tests", "spl::parses", "test failed"),
            ]
        );
        let skipped: Vec<&str> =
            cases.iter().filter(|case| case.3).map(|case| case.1.as_str()).collect();
        assert_eq!(skipped, ["tool tests"]);
        // Passing rule × dataset pairs are cases too.
        assert_eq!(cases.iter().filter(|case| case.0 == "rules").count(), 4);
    }

    #[test]
    fn annotations_point_at_the_search_of_a_failing_rule_with_escaped_text() {
        let tree = Tree::new();
        let rules = failing_report(&tree);
        let findings = [
            Finding {
                path: tree.path("detections/endpoint/a.yml"),
                line: Some(3),
                column: Some(7),
                rule_id: "x".into(),
                severity: Severity::Warning,
                message: "100% odd: a, b\nsecond line".into(),
                excerpt: None,
                blocker: None,
            },
            Finding {
                path: tree.path("detections/endpoint/b.yml"),
                line: None,
                column: None,
                rule_id: "y".into(),
                severity: Severity::Unsupported,
                message: "not for annotations".into(),
                excerpt: None,
                blocker: None,
            },
        ];
        let gate = Gate {
            steps: &[],
            findings: &findings,
            rules: Some(&rules),
            tool_tests: &[],
            require_datasets: false,
        };
        let lines = github_annotations(&gate, &tree.root());
        assert_eq!(
            lines[0],
            "::warning file=detections/endpoint/a.yml,line=3,col=7,title=detection validate::100%25 odd: a, b%0Asecond line"
        );
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[1].starts_with(
                "::error file=detections/endpoint/dump_lsass_via_comsvcs_dll.yml,line=10,\
                 title=Dump LSASS via comsvcs DLL::fixtures/datasets/T1003.001-stand-in.log (stand-in): rows changed (1 → 2)"
            ),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("%0A+ {user: 'EXAMPLE\\admin'"), "{}", lines[1]);
    }

    #[test]
    fn the_table_names_rule_dataset_rows_and_status() {
        let tree = Tree::new();
        let rules = failing_report(&tree);
        let table = rules_table(&rules, false, false);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("rule ") && lines[0].ends_with("rows (snapshot → now)  status")
        );
        assert!(
            lines[1].starts_with(
                "Dump LSASS via comsvcs DLL  fixtures/datasets/T1003.001-stand-in.log (stand-in)"
            ) && lines[1].ends_with("1 → 2                  rows changed (on the stand-in)"),
            "{table}"
        );
        assert!(table.contains("    + {user: 'EXAMPLE\\admin', process_name: 'rundll32.exe', process: 'rundll32.exe C:\\Windows\\System32\\comsvcs.dll #24 644"), "{table}");
        assert_eq!(
            rules_total(&rules, false),
            "rules: 2 tested of 2 found: 1 passed, 1 failed, 0 not supported by the engine, 0 not \
             run on any own dataset; 1 read a stand-in; 1 benign file(s)"
        );
    }
}
