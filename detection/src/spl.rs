//! SPL, the search language of Splunk rules: macro expansion, lexing and parsing of the
//! pipelines detections use, into a [`Search`] the `eval` module runs. Only the commands and
//! syntax listed here are accepted; anything else is an [`SplError`] at its span, so a
//! search is never evaluated in part.
//!
//! # Use
//!
//! ```
//! use detection::spl::{MacroDefinition, MacroTable, Search};
//!
//! let macros: MacroTable = [MacroDefinition {
//!     name: "security_content_summariesonly".into(),
//!     arguments: vec![],
//!     definition: "summariesonly=false allow_old_summaries=true".into(),
//! }]
//! .into_iter()
//! .collect();
//! let search = Search::compile(
//!     "| tstats `security_content_summariesonly` count from datamodel=Endpoint.Processes \
//!      where Processes.process_name=rundll32.exe by Processes.dest \
//!      | `drop_dm_object_name(Processes)` | `my_rule_filter`",
//!     &macros,
//!     "my_rule_filter",
//! )?;
//! assert_eq!(search.tstats().map(|t| t.node.as_str()), Some("Processes"));
//! # Ok::<(), detection::spl::SplError>(())
//! ```
//!
//! [`Search::run`] (in `eval`) evaluates it over data model records.
//!
//! # Accepted syntax
//!
//! - A leading `|` and `tstats [summariesonly=…] [allow_old_summaries=…] [fillnull_value=…]
//!   <aggregates> from datamodel=<model>.<node> [where <condition>] [by <fields>]`, with the
//!   aggregates `count`, `count(f)`, `min`, `max`, `values`, `dc`, `earliest`, `latest`, each
//!   optionally `as name`. Fields are `_time` or `<node>.<field>`.
//! - Then any of `rename A AS B[, …]` (with `*` wildcards, the same number on both sides),
//!   `convert [timeformat="…"] ctime(f) [as g] …`, `search <condition>`, `where
//!   <comparisons>`, `table <fields>`, `fields [+|-] <fields>`.
//! - Conditions: `field=value`, `field!=value`, `<`, `<=`, `>`, `>=`, `field IN (a, b)`, `*`,
//!   `NOT`, `AND` (or juxtaposition), `OR`, parentheses. Precedence is Splunk's documented
//!   one ("Boolean expressions", Search Manual): in `search` and `tstats … where`, `NOT`
//!   first, then `OR`, then `AND`, so `a OR b c` is `(a OR b) AND c`; in `where`, `NOT`,
//!   then `AND`, then `OR`. Operators are uppercase, as in Splunk. Free-text terms,
//!   subsearches and other commands are errors.

mod ast;
mod error;
mod lexer;
mod macros;
mod parser;
mod pattern;
mod print;
mod time_format;

pub use ast::{
    Aggregate, AggregateFunction, Command, Condition, Conversion, Convert, Operand, RenamePair,
    Tstats, WhereExpr,
};
pub use error::{Blocker, Location, SplError, SplErrorKind};
pub use lexer::CompareOp;
pub use macros::{
    MAX_EXPANDED_LEN, MAX_MACRO_CALLS, MAX_MACRO_DEPTH, MacroCall, MacroCallError, MacroDefinition,
    MacroTable, blank_comments, column, filter_macro_name, macro_calls,
};
pub use parser::MAX_CONDITION_DEPTH;
pub use pattern::{FieldGlob, Pattern};
pub use time_format::TimeFormat;

use macros::SourceMap;

/// Longest search accepted before macro expansion, in bytes; real rules' searches are a
/// few kilobytes. The expanded search is bounded by [`MAX_EXPANDED_LEN`].
pub const MAX_SEARCH_LEN: usize = 1 << 20;

/// A compiled search: macros expanded, parsed, ready to run. Build it with
/// [`Search::compile`].
#[derive(Debug, Clone)]
pub struct Search {
    expanded: String,
    map: SourceMap,
    commands: Vec<Command>,
}

impl Search {
    /// Expands the macros of `search` from `macros` (plus the built-ins, and
    /// `filter_macro` as `search *` unless `macros` defines it; see
    /// [`filter_macro_name`]) and parses the result.
    pub fn compile(
        search: &str,
        macros: &MacroTable,
        filter_macro: &str,
    ) -> Result<Self, SplError> {
        if search.len() > MAX_SEARCH_LEN {
            let location = Location { col: 1, span: 0..0, macros: Vec::new() };
            return Err(SplError::new(
                location,
                SplErrorKind::SearchSize { limit: MAX_SEARCH_LEN },
            ));
        }
        let expansion = macros::expand(search, macros, filter_macro)?;
        let locate = |(kind, span): parser::ParseError| {
            SplError::new(expansion.map.locate_span(&span), kind)
        };
        let tokens = lexer::tokenize(&expansion.text).map_err(locate)?;
        let commands = parser::parse_pipeline(&expansion.text, &tokens).map_err(locate)?;
        Ok(Self { expanded: expansion.text, map: expansion.map, commands })
    }

    /// The search after macro expansion.
    pub fn expanded(&self) -> &str {
        &self.expanded
    }

    /// The pipeline, generating command first.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The generating `tstats`, which names the data model node the search reads.
    pub fn tstats(&self) -> Option<&Tstats> {
        match self.commands.first() {
            Some(Command::Tstats(tstats)) => Some(tstats),
            _ => None,
        }
    }

    /// Lower-cased literals every record the `tstats` filter keeps contains in some field
    /// (see [`Condition::required_literals`]); empty when there is no filter.
    pub fn required_literals(&self) -> std::collections::BTreeSet<String> {
        self.tstats()
            .and_then(|tstats| tstats.filter.as_ref())
            .map(Condition::required_literals)
            .unwrap_or_default()
    }

    /// Where expanded bytes `span` come from in the original search.
    pub(crate) fn locate(&self, span: &std::ops::Range<usize>) -> Location {
        self.map.locate_span(span)
    }
}
