//! Bad input: every file of `fixtures/bad/` gives the error its README row names, and
//! inputs too large to commit are built in memory to hit each size limit.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use detection::spl::{MacroTable, Search};

#[test]
fn search_with_many_distinct_fields_compiles_in_linear_time() {
    // 40,000 distinct `Processes.f<i>` fields (750 KB) took 22 s in a debug build when each
    // field's token was looked up from the start; it takes well under a second now.
    let mut search = String::from("| tstats count from datamodel=Endpoint.Processes where");
    for i in 0..40_000 {
        write!(search, " Processes.f{i}=v").unwrap();
    }
    let start = Instant::now();
    let compiled = Search::compile(&search, &MacroTable::new(), "rule_filter");
    assert!(compiled.is_ok(), "{:?}", compiled.err());
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}
