//! Reads the text `cargo test` prints (libtest's stable human format: `Running …` headings,
//! `test name ... ok` lines, `---- name stdout ----` sections) into one result per test, so
//! the gate can list failing tests and put every test into its `JUnit` file.

/// One test and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestCase {
    /// The test binary: crate and target, e.g. `it tests/it/main.rs`.
    pub(crate) binary: String,
    pub(crate) name: String,
    pub(crate) outcome: TestOutcome,
    /// What the test printed, for a failed test.
    pub(crate) output: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestOutcome {
    Passed,
    Failed,
    Ignored,
}

/// Every test result in `text`, in the order printed.
pub(crate) fn parse(text: &str) -> Vec<TestCase> {
    let mut cases: Vec<TestCase> = Vec::new();
    let mut binary = String::new();
    // Index of the first case of the current binary, where its failure sections belong.
    let mut binary_start = 0;
    let mut section: Option<(usize, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            binary = running_binary(rest);
            binary_start = cases.len();
            section = None;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("Doc-tests ") {
            binary = format!("{rest} doc-tests");
            binary_start = cases.len();
            section = None;
            continue;
        }
        if let Some(name) = line.strip_prefix("---- ").and_then(|rest| {
            rest.strip_suffix(" stdout ----").or_else(|| rest.strip_suffix(" stderr ----"))
        }) {
            section = cases[binary_start..]
                .iter()
                .position(|case| case.name == name)
                .map(|index| (binary_start + index, String::new()));
            continue;
        }
        if let Some((index, output)) = &mut section {
            if line == "failures:" || line.starts_with("test result:") {
                std::mem::take(output).trim_end().clone_into(&mut cases[*index].output);
                section = None;
            } else {
                output.push_str(line);
                output.push('\n');
            }
            continue;
        }
        if let Some((name, outcome)) = test_line(line) {
            cases.push(TestCase { binary: binary.clone(), name, outcome, output: String::new() });
        }
    }
    if let Some((index, output)) = section {
        output.trim_end().clone_into(&mut cases[index].output);
    }
    cases
}

/// `unittests src/lib.rs (target/debug/deps/detection-0123abcd)` → `detection unittests src/lib.rs`.
fn running_binary(rest: &str) -> String {
    let Some((target, path)) = rest.rsplit_once(" (") else { return rest.to_owned() };
    let file = path.trim_end_matches(')').rsplit(['/', '\\']).next().unwrap_or_default();
    let krate = file.rsplit_once('-').map_or(file, |(name, _hash)| name);
    format!("{krate} {target}")
}

/// `test a::b ... ok` and its `FAILED`, `ignored` forms.
fn test_line(line: &str) -> Option<(String, TestOutcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, result) = rest.rsplit_once(" ... ")?;
    let outcome = match result {
        "ok" => TestOutcome::Passed,
        "FAILED" => TestOutcome::Failed,
        ignored if ignored.starts_with("ignored") => TestOutcome::Ignored,
        _ => return None,
    };
    Some((name.to_owned(), outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
   Compiling detection v0.1.0
     Running unittests src/lib.rs (target/debug/deps/detection-9f8e7d6c5b4a3210)

running 3 tests
test spl::tests::parses ... ok
test eval::tests::counts ... FAILED
test slow ... ignored, needs the shared datasets

failures:

---- eval::tests::counts stdout ----

thread 'eval::tests::counts' panicked at detection/src/eval.rs:10:5:
assertion `left == right` failed
  left: 1
 right: 2

failures:
    eval::tests::counts

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out

     Running tests/it/main.rs (target/debug/deps/it-0123456789abcdef)

running 1 test
test hits::fixture_rules ... ok

test result: ok. 1 passed; 0 failed
   Doc-tests detection

running 1 test
test detection/src/lib.rs - (line 5) ... ok
";

    #[test]
    fn reads_every_test_with_its_binary_and_the_output_of_failures() {
        let cases = parse(OUTPUT);
        let summary: Vec<(&str, &str, TestOutcome)> =
            cases.iter().map(|c| (c.binary.as_str(), c.name.as_str(), c.outcome)).collect();
        assert_eq!(
            summary,
            [
                ("detection unittests src/lib.rs", "spl::tests::parses", TestOutcome::Passed),
                ("detection unittests src/lib.rs", "eval::tests::counts", TestOutcome::Failed),
                ("detection unittests src/lib.rs", "slow", TestOutcome::Ignored),
                ("it tests/it/main.rs", "hits::fixture_rules", TestOutcome::Passed),
                ("detection doc-tests", "detection/src/lib.rs - (line 5)", TestOutcome::Passed),
            ]
        );
        assert!(cases[1].output.contains("left: 1"), "{}", cases[1].output);
        assert!(!cases[1].output.contains("failures:"));
    }
}
