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
//! [`Search::run`] and [`Search::start`] (in `eval`) evaluate it over data model records
//! or raw events.
//!
//! # Accepted syntax
//!
//! - Generating commands: a search over raw events (the text before the first `|`, or
//!   `search …` first), `| tstats … from datamodel=<model>[.<node>] [where …] [by … [span=…]]`,
//!   `| makeresults`, `| inputlookup`.
//! - Then: `rename`, `convert ctime`, `search`, `where`, `eval`, `table`, `fields`, `stats`,
//!   `eventstats`, `streamstats`, `bin`/`bucket`, `rex`, `regex`, `fillnull`, `dedup`,
//!   `sort`, `head`, `tail`, `reverse`, `mvexpand`, `makemv`, `nomv`, `foreach`, `lookup`,
//!   `inputlookup append=true`, `join`, `append`, `appendpipe`, `spath`, `xmlkv`,
//!   `fromjson`, `transaction`, `replace`, `addtotals`, `format`, `return`. The options each
//!   takes are those its parser names; any other is an error at its place.
//! - Search conditions: `field=value`, `field!=value`, `<`, `<=`, `>`, `>=`, `field IN (a,
//!   b)`, free-text terms and quoted phrases, `*`, `NOT`, `AND` (or juxtaposition), `OR`,
//!   parentheses, `[ subsearch ]`. Precedence is Splunk's documented one ("Boolean
//!   expressions", Search Manual): `NOT` first, then `OR`, then `AND`, so `a OR b c` is `(a
//!   OR b) AND c`. Operators are uppercase, as in Splunk.
//! - Eval expressions (`eval`, `where`, `stats … eval(…)`): see [`ExprKind`] and the
//!   functions of `eval::functions`.
//! - Comments (```` ```…``` ````) become spaces before macros expand.

mod ast;
mod error;
mod expr;
mod lexer;
mod macros;
mod parser;
mod pattern;
mod print;
mod regex;
pub(crate) mod time_format;

pub use ast::{
    Aggregate, AggregateArgument, AggregateFunction, Assignment, Bin, BinSpan, Command, Condition,
    Conversion, Convert, Dedup, Fillnull, Foreach, Inputlookup, Join, LookupCommand, Makemv,
    MakemvSplit, Pipeline, RegexFilter, RenamePair, Replace, Return, ReturnItem, Rex,
    SedExpression, Sort, SortKey, SortOrder, Span, SpanUnit, Spath, Stats, StatsKind, Transaction,
    Tstats,
};
pub use error::{Blocker, Location, SplError, SplErrorKind};
pub use expr::{BinaryOp, Expr, ExprKind, MAX_EXPR_DEPTH};
pub use lexer::CompareOp;
pub use macros::{
    MAX_EXPANDED_LEN, MAX_MACRO_CALLS, MAX_MACRO_DEPTH, MacroCall, MacroCallError, MacroDefinition,
    MacroTable, blank_comments, column, filter_macro_name, macro_calls,
};
pub use parser::{MAX_CONDITION_DEPTH, SORT_DEFAULT_LIMIT};
pub use pattern::{FieldGlob, Pattern, PatternSet};
pub(crate) use pattern::{Needle, PieceIndex, lowercase};
pub use regex::{Regex, RegexCache};
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
    pipeline: Pipeline,
    regexes: RegexCache,
    lookups: crate::lookup::Lookups,
    /// When a pipeline inside the search reads the input too (a `join [| tstats …]`),
    /// every pipeline's input, so that selecting a record or an event asks each of them
    /// without walking the commands (and the conditions, for subsearches) every time.
    nested_inputs: Option<NestedInputs>,
    /// The record fields its `tstats` read, sorted (see [`Search::record_fields`]).
    record_fields: Vec<String>,
    /// Every pipeline's condition on raw events, the top one's and those inside, in the
    /// order of [`Search::inputs`]: what selection asks of every event.
    event_inputs: Vec<EventsInput>,
}

/// Copies of the `tstats` of every pipeline of a search with more than one, in the order of
/// [`Search::inputs`]: what selection asks of every record.
#[derive(Debug, Clone)]
pub(crate) struct NestedInputs {
    pub(crate) records: Vec<Tstats>,
}

/// A pipeline's condition on raw events, made ready for many events unless it holds a
/// subsearch.
#[derive(Debug, Clone)]
pub(crate) struct EventsInput {
    pub(crate) condition: Condition,
    /// `None` when the condition holds a subsearch: such a condition is decided at the
    /// end, and until then selection takes it as holding where it can (asking whether it
    /// holds one would walk the whole condition for every event).
    pub(crate) matcher: Option<crate::eval::Matcher>,
}

/// What a search may use besides its text: the macros and lookups of its content tree.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Macros, by name and arity.
    pub macros: &'a MacroTable,
    /// Lookup tables, by name and file name.
    pub lookups: &'a crate::lookup::Lookups,
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
        let lookups = crate::lookup::Lookups::new();
        Self::compile_in(search, Context { macros, lookups: &lookups }, filter_macro)
    }

    /// [`Search::compile`] with the lookups of a content tree, which `lookup` and
    /// `inputlookup` read; a lookup the tree does not define is an error.
    pub fn compile_in(
        search: &str,
        context: Context<'_>,
        filter_macro: &str,
    ) -> Result<Self, SplError> {
        let macros = context.macros;
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
        let (commands, spans): (Vec<Command>, Vec<std::ops::Range<usize>>) =
            parser::parse_pipeline(&expansion.text, &tokens, crate::eval::known_function)
                .map_err(locate)?
                .into_iter()
                .unzip();
        let pipeline = Pipeline { commands, spans, start: 0 };
        let mut lookups = crate::lookup::Lookups::new();
        for (name, span) in pipeline.lookup_names() {
            let lookup = context
                .lookups
                .get(&name)
                .ok_or_else(|| locate((SplErrorKind::UnknownLookup(name.clone()), span.clone())))?;
            // The rows are read here, once for every search of the tree that uses them, so
            // that a table that does not read stops the searches that use it before they run.
            lookup.table().map_err(|err| {
                let message = crate::error_chain(err);
                locate((SplErrorKind::LookupTable { name: name.clone(), message }, span.clone()))
            })?;
            lookups.add(&name, lookup);
        }
        let regexes = RegexCache::default();
        for (pattern, span) in literal_patterns(&pipeline.commands) {
            regexes
                .get(&pattern)
                .map_err(|message| locate((SplErrorKind::Regex(message), span)))?;
        }
        let mut search = Self {
            expanded: expansion.text,
            map: expansion.map,
            pipeline,
            regexes,
            lookups,
            nested_inputs: None,
            record_fields: Vec::new(),
            event_inputs: Vec::new(),
        };
        let inputs = search.inputs();
        let nested = inputs.len()
            > usize::from(matches!(
                search.pipeline.commands.first(),
                Some(Command::Tstats(_) | Command::Events(_))
            ));
        let mut fields = Vec::new();
        let mut copies = NestedInputs { records: Vec::new() };
        let mut event_inputs = Vec::new();
        for input in &inputs {
            match input {
                Input::Records(tstats) => {
                    crate::eval::tstats::record_fields_read(tstats, &mut fields);
                    if nested {
                        copies.records.push((*tstats).clone());
                    }
                }
                Input::Events(condition) => event_inputs.push(EventsInput {
                    condition: (*condition).clone(),
                    matcher: (!condition.has_subsearch())
                        .then(|| crate::eval::Matcher::new(condition)),
                }),
            }
        }
        let mut fields: Vec<String> = fields.into_iter().map(str::to_owned).collect();
        fields.sort_unstable();
        fields.dedup();
        search.nested_inputs = nested.then_some(copies);
        search.record_fields = fields;
        search.event_inputs = event_inputs;
        crate::eval::check_templates(&search)?;
        Ok(search)
    }

    /// The search after macro expansion.
    pub fn expanded(&self) -> &str {
        &self.expanded
    }

    /// The pipeline, generating command first.
    pub fn commands(&self) -> &[Command] {
        &self.pipeline.commands
    }

    /// The top pipeline, with its commands' places.
    pub(crate) fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The lookups the search reads, by the name it gives them.
    pub fn lookups(&self) -> &crate::lookup::Lookups {
        &self.lookups
    }

    /// The generating `tstats`, which names the data model node the search reads.
    pub fn tstats(&self) -> Option<&Tstats> {
        match self.pipeline.commands.first() {
            Some(Command::Tstats(tstats)) => Some(tstats),
            _ => None,
        }
    }

    /// Every pipeline that reads the input — the top one and any subsearch, `join`,
    /// `append` or `appendpipe` written inside, at any depth — by what it reads first: each
    /// is fed the same records and events, so an input matters to the search when it
    /// matters to one of them.
    pub fn inputs(&self) -> Vec<Input<'_>> {
        fn walk<'p>(pipeline: &'p Pipeline, out: &mut Vec<Input<'p>>) {
            match pipeline.commands.first() {
                Some(Command::Tstats(tstats)) => out.push(Input::Records(tstats)),
                Some(Command::Events(condition)) => out.push(Input::Events(condition)),
                _ => {}
            }
            for command in &pipeline.commands {
                for inner in command.pipelines() {
                    walk(inner, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.pipeline, &mut out);
        out
    }

    /// The names of the data model record fields (without the dataset prefix) the search's
    /// `tstats` read to select a record and fold it into a group, sorted: a record holding
    /// only these gives the search the same rows.
    pub(crate) fn record_fields(&self) -> &[String] {
        &self.record_fields
    }

    /// Every pipeline's condition on raw events (see [`EventsInput`]).
    pub(crate) fn event_inputs(&self) -> &[EventsInput] {
        &self.event_inputs
    }

    /// The matcher made for `condition`, one of the search's conditions on raw events, when
    /// it holds no subsearch.
    pub(crate) fn events_matcher(&self, condition: &Condition) -> Option<&crate::eval::Matcher> {
        let input = self.event_inputs.iter().find(|input| input.condition == *condition)?;
        input.matcher.as_ref()
    }

    /// Every pipeline's `tstats` when a pipeline inside the search reads the input too (see
    /// [`NestedInputs`]).
    pub(crate) fn nested_inputs(&self) -> Option<&NestedInputs> {
        self.nested_inputs.as_ref()
    }

    /// The condition on raw events of a search that starts with one.
    pub fn events(&self) -> Option<&Condition> {
        match self.pipeline.commands.first() {
            Some(Command::Events(condition)) => Some(condition),
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

    /// The search's compiled regular expressions.
    pub fn regexes(&self) -> &RegexCache {
        &self.regexes
    }

    /// Where expanded bytes `span` come from in the original search.
    pub(crate) fn locate(&self, span: &std::ops::Range<usize>) -> Location {
        self.map.locate_span(span)
    }

    /// Compiles the text of a nested pipeline (`foreach`'s template once its templates are
    /// filled in) that sits at `offset` in this search's expanded text, with this search's
    /// built-ins; errors point at the nested text's place in the rule.
    pub(crate) fn compile_nested(
        &self,
        text: &str,
        offset: usize,
    ) -> Result<Vec<Command>, SplError> {
        let locate = |(kind, span): parser::ParseError| {
            let start = offset + span.start.min(text.len());
            SplError::new(self.map.locate_span(&(start..start + span.len())), kind)
        };
        let piped = text.trim_start().starts_with('|');
        let text = if piped { text.to_owned() } else { format!("| {text}") };
        let shift = if piped { 0 } else { 2 };
        let locate_shifted = |(kind, span): parser::ParseError| {
            locate((kind, span.start.saturating_sub(shift)..span.end.saturating_sub(shift)))
        };
        let tokens = lexer::tokenize(&text).map_err(locate_shifted)?;
        let commands = parser::parse_nested(&text, &tokens, crate::eval::known_function)
            .map_err(locate_shifted)?;
        for (pattern, span) in literal_patterns(&commands) {
            self.regexes
                .get(&pattern)
                .map_err(|message| locate_shifted((SplErrorKind::Regex(message), span)))?;
        }
        Ok(commands)
    }
}

/// `text` read as one search condition, as `searchmatch()` reads its argument.
pub fn parse_condition(text: &str) -> Result<Condition, SplError> {
    let map = SourceMap::plain(text);
    let locate = |(kind, span): parser::ParseError| SplError::new(map.locate_span(&span), kind);
    let tokens = lexer::tokenize(text).map_err(locate)?;
    let mut parser = parser::Parser::for_condition(text, &tokens, crate::eval::known_function);
    let condition = parser.condition(false).map_err(locate)?;
    parser.finish("the end of the condition").map_err(locate)?;
    Ok(condition)
}

impl Pipeline {
    /// The lookups the pipeline and its subsearches read, with the place of each command.
    fn lookup_names(&self) -> Vec<(String, std::ops::Range<usize>)> {
        let mut names = Vec::new();
        for (command, span) in self.commands.iter().zip(&self.spans) {
            match command {
                Command::Lookup(lookup) => names.push((lookup.table.clone(), span.clone())),
                Command::Inputlookup(input) => names.push((input.table.clone(), span.clone())),
                _ => {}
            }
            for nested in command.pipelines() {
                names.extend(nested.lookup_names());
            }
        }
        names
    }
}

/// What one pipeline of a search reads (see [`Search::inputs`]).
#[derive(Debug, Clone, Copy)]
pub enum Input<'s> {
    /// Data model records, through `tstats`.
    Records(&'s Tstats),
    /// Raw events that pass the condition.
    Events(&'s Condition),
}

impl Command {
    /// The pipelines written inside the command: subsearches (in its conditions too) and
    /// `appendpipe`'s commands.
    pub fn pipelines(&self) -> Vec<&Pipeline> {
        fn from_condition<'c>(condition: &'c Condition, out: &mut Vec<&'c Pipeline>) {
            match condition {
                Condition::Subsearch(pipeline) => out.push(pipeline),
                Condition::Not(inner) => from_condition(inner, out),
                Condition::And(terms) | Condition::Or(terms) => {
                    for term in terms {
                        from_condition(term, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        match self {
            Command::Events(condition)
            | Command::Search(condition)
            | Command::Inputlookup(Inputlookup { filter: Some(condition), .. }) => {
                from_condition(condition, &mut out);
            }
            Command::Join(join) => out.push(&join.subsearch),
            Command::Append(pipeline) | Command::Appendpipe(pipeline) => out.push(pipeline),
            _ => {}
        }
        out
    }
}

/// Regular expressions written as literals in `commands`, with their spans: the patterns of
/// `match()`, `replace()` and `mvfind()`, `rex` and `regex`.
fn literal_patterns(commands: &[Command]) -> Vec<(String, std::ops::Range<usize>)> {
    let mut patterns = Vec::new();
    let mut from_expr = |expr: &Expr| {
        expr.visit(&mut |e| {
            if let ExprKind::Call { name, args } = &e.kind
                && matches!(name.as_str(), "match" | "replace" | "mvfind")
                && let Some(Expr { kind: ExprKind::Text(pattern), span }) = args.get(1)
            {
                patterns.push((pattern.clone(), span.clone()));
            }
        });
    };
    for command in commands {
        match command {
            Command::Where(expr) => from_expr(expr),
            Command::Eval(assignments) => assignments.iter().for_each(|a| from_expr(&a.expr)),
            Command::Stats(stats) => {
                for aggregate in &stats.aggregates {
                    if let Some(AggregateArgument::Eval(expr)) = &aggregate.argument {
                        from_expr(expr);
                    }
                }
            }
            _ => {}
        }
    }
    for command in commands {
        for nested in command.pipelines() {
            patterns.extend(literal_patterns(&nested.commands));
        }
    }
    patterns
}
