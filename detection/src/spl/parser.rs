//! The parser: tokens of an expanded search to a pipeline of [`Command`]s. It accepts only
//! what the evaluator implements; everything else is an error at its span, never skipped.
//! Search terms are read from the search-mode tokens; eval expressions (in `eval`, `where`,
//! `stats … eval(…)`) are read from the text by [`super::expr`], after which the token
//! position moves past them.

use std::ops::Range;

use super::ast::{
    Aggregate, AggregateArgument, AggregateFunction, Assignment, Bin, BinSpan, Command, Condition,
    Conversion, Convert, Dedup, Fillnull, Foreach, Inputlookup, Join, LookupCommand, Makemv,
    MakemvSplit, Pipeline, RegexFilter, RenamePair, Replace, Return, ReturnItem, Rex,
    SedExpression, Sort, SortKey, SortOrder, Span, SpanUnit, Spath, Stats, StatsKind, Transaction,
    Tstats,
};
use super::error::SplErrorKind;
use super::expr::{Expr, ExprKind, ExprParser};
use super::lexer::{CompareOp, Token, TokenKind};
use super::pattern::{FieldGlob, Pattern};
use super::time_format::TimeFormat;

/// An error and its byte range in the expanded search.
pub(crate) type ParseError = (SplErrorKind, Range<usize>);
type ParseResult<T> = Result<T, ParseError>;

/// How a search may begin: the generating commands, which make rows from nothing.
const GENERATING: &[&str] = &["tstats", "search", "makeresults", "inputlookup"];

/// Commands Splunk has that this engine refuses, with the reason a detection engineer needs.
const REFUSED: &[(&str, &str)] = &[
    ("iplocation", "it needs a GeoIP database, which an offline test does not have"),
    ("outputlookup", "it writes a lookup file, which a test run must not do"),
    ("map", "it runs a search per result row; write the search with join instead"),
    ("sendemail", "it sends mail"),
    ("collect", "it writes to an index"),
];

/// Parses the whole search into its commands. A search that does not start with `|` starts
/// with an implied `search` over raw events, as in Splunk.
pub(crate) fn parse_pipeline(
    text: &str,
    tokens: &[Token],
    known_function: fn(&str, usize) -> Result<(), String>,
) -> ParseResult<Vec<(Command, Range<usize>)>> {
    parse_pipeline_until(text, tokens, text.len(), known_function)
}

/// [`parse_pipeline`] of the tokens of a text that ends at `text_end` (a subsearch's
/// closing bracket).
fn parse_pipeline_until(
    text: &str,
    tokens: &[Token],
    text_end: usize,
    known_function: fn(&str, usize) -> Result<(), String>,
) -> ParseResult<Vec<(Command, Range<usize>)>> {
    if tokens.is_empty() {
        return Err((
            SplErrorKind::NotGenerating("an empty search".to_owned()),
            text_end..text_end,
        ));
    }
    let mut segments = Vec::new();
    let mut start = 0;
    for (index, token) in tokens.iter().enumerate() {
        if token.kind == TokenKind::Pipe {
            segments.push((start, index, token.span.start));
            start = index + 1;
        }
    }
    segments.push((start, tokens.len(), text_end));
    let mut commands = Vec::new();
    for (number, &(from, to, segment_end)) in segments.iter().enumerate() {
        let segment = &tokens[from..to];
        let pipe_end = if from == 0 {
            tokens.first().map_or(0, |t| t.span.start)
        } else {
            tokens[from - 1].span.end
        };
        let end = segment.last().map_or(pipe_end, |t| t.span.end);
        let mut parser =
            Parser { text, tokens: segment, pos: 0, end, segment_end, depth: 0, known_function };
        if number == 0 {
            if segment.is_empty() {
                continue;
            }
            // The implied `search` at the start of a search over events.
            if segment.first().is_some_and(|t| t.is_keyword("search")) {
                parser.pos = 1;
            }
            let condition = parser.condition(false)?;
            parser.finish("`|` or the end of the search")?;
            commands.push((Command::Events(condition), pipe_end..end));
            continue;
        }
        let first = commands.is_empty();
        let start = segment.first().map_or(pipe_end, |t| t.span.start);
        let command = parser.command(first)?;
        commands.push((command, start..end));
    }
    if commands.is_empty() {
        return Err((SplErrorKind::NotGenerating("an empty search".to_owned()), 0..text.len()));
    }
    Ok(commands)
}

/// Parses a pipeline of commands that work on rows already there (`| eval … | where …`),
/// as `foreach` runs them: no generating command.
pub(crate) fn parse_nested(
    text: &str,
    tokens: &[Token],
    known_function: fn(&str, usize) -> Result<(), String>,
) -> ParseResult<Vec<Command>> {
    let mut commands = Vec::new();
    let mut start = 0;
    let mut bounds = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.kind == TokenKind::Pipe {
            bounds.push((start, index, token.span.start));
            start = index + 1;
        }
    }
    bounds.push((start, tokens.len(), text.len()));
    for &(from, to, segment_end) in bounds.iter().skip(1) {
        let segment = &tokens[from..to];
        let end = segment.last().map_or(segment_end, |t| t.span.end);
        let mut parser =
            Parser { text, tokens: segment, pos: 0, end, segment_end, depth: 0, known_function };
        if let Some(token) = segment.first()
            && (token.is_keyword("tstats") || token.is_keyword("foreach"))
        {
            let what = format!("{} inside foreach", token.describe(text));
            return unsupported(what, token.span.clone());
        }
        commands.push(parser.command(false)?);
    }
    if commands.is_empty() {
        return Err((
            SplErrorKind::Expected {
                expected: "a command".to_owned(),
                found: "nothing".to_owned(),
            },
            0..text.len(),
        ));
    }
    Ok(commands)
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    tokens: &'a [Token],
    pos: usize,
    /// Offset just past the segment's last token, for errors at its end.
    end: usize,
    /// Offset where the segment ends: its pipe, or the end of the search.
    segment_end: usize,
    /// Current nesting of `NOT` and parentheses, bounded so recursion cannot exhaust the
    /// stack.
    depth: usize,
    known_function: fn(&str, usize) -> Result<(), String>,
}

/// An option of a command: its lower-cased name, its value, and their spans.
type CommandOption = (String, Range<usize>, String, Range<usize>);

/// Deepest nesting of `NOT` and parentheses in one condition.
pub const MAX_CONDITION_DEPTH: usize = 64;

/// Rows `sort` keeps unless told: "If no number is specified, the default limit of 10000 is
/// used."
pub const SORT_DEFAULT_LIMIT: usize = 10_000;

impl<'a> Parser<'a> {
    /// A parser of one condition over `tokens` (for `searchmatch()` and tests).
    pub(crate) fn for_condition(
        text: &'a str,
        tokens: &'a [Token],
        known_function: fn(&str, usize) -> Result<(), String>,
    ) -> Self {
        let end = tokens.last().map_or(0, |t| t.span.end);
        Parser { text, tokens, pos: 0, end, segment_end: text.len(), depth: 0, known_function }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&'a Token> {
        self.tokens.get(self.pos + ahead)
    }

    fn bump(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.pos);
        self.pos += 1;
        token
    }

    fn here(&self) -> Range<usize> {
        self.peek().map_or(self.end..self.end, |t| t.span.clone())
    }

    fn found(&self) -> String {
        self.peek().map_or_else(|| "end of command".to_owned(), |t| t.describe(self.text))
    }

    fn expected<T>(&self, expected: &str) -> ParseResult<T> {
        let kind = SplErrorKind::Expected { expected: expected.to_owned(), found: self.found() };
        Err((kind, self.here()))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.is_keyword(keyword))
    }

    /// Whether the next token is the uppercase `keyword` (`AND`, `OR`, `NOT`, `IN`), which
    /// Splunk only recognizes in capitals in a search.
    fn at_operator(&self, keyword: &str) -> bool {
        self.peek().and_then(Token::word) == Some(keyword)
    }

    fn skip_comma(&mut self) {
        if self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
            self.pos += 1;
        }
    }

    /// A field name or value: a word or a quoted string, glued to the words and strings
    /// written right after it (`"Processes".*` is `Processes.*`, as a macro argument in
    /// quotes expands).
    fn text_item(&mut self, expected: &str) -> ParseResult<(String, Range<usize>)> {
        let Some(Token { kind: TokenKind::Word(w) | TokenKind::Quoted(w), span }) = self.peek()
        else {
            return self.expected(expected);
        };
        let mut text = w.clone();
        let mut span = span.clone();
        let mut quoted = matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Quoted(_)));
        self.pos += 1;
        // Parentheses written inside a word (`*GetCurrent()*`) are part of it when they
        // balance; a closing quote ends a word unless `.` or `*` follows it.
        let mut depth = 0_usize;
        let mut glued = 0;
        while let Some(next) = self.tokens.get(self.pos + glued) {
            if next.span.start != self.tokens[self.pos + glued - 1].span.end {
                break;
            }
            match &next.kind {
                TokenKind::Word(w) if quoted && !w.starts_with(['.', '*']) => break,
                TokenKind::Word(_) | TokenKind::Quoted(_) => {}
                TokenKind::LParen => depth += 1,
                TokenKind::RParen if depth > 0 => depth -= 1,
                _ => break,
            }
            quoted = matches!(next.kind, TokenKind::Quoted(_));
            glued += 1;
        }
        // Keep only a run that leaves no parenthesis open.
        let mut balance = 0_i64;
        let mut usable = 0;
        for (index, token) in self.tokens[self.pos..self.pos + glued].iter().enumerate() {
            match token.kind {
                TokenKind::LParen => balance += 1,
                TokenKind::RParen => balance -= 1,
                _ => {}
            }
            if balance == 0 {
                usable = index + 1;
            }
        }
        for token in &self.tokens[self.pos..self.pos + usable] {
            match &token.kind {
                TokenKind::Word(w) | TokenKind::Quoted(w) => text.push_str(w),
                TokenKind::LParen => text.push('('),
                TokenKind::RParen => text.push(')'),
                _ => {}
            }
            span.end = token.span.end;
        }
        self.pos += usable;
        Ok((text, span))
    }

    /// An unquoted word.
    fn word(&mut self, expected: &str) -> ParseResult<(String, Range<usize>)> {
        match self.peek() {
            Some(Token { kind: TokenKind::Word(w), span }) => {
                self.pos += 1;
                Ok((w.clone(), span.clone()))
            }
            _ => self.expected(expected),
        }
    }

    fn expect_kind(&mut self, kind: &TokenKind, expected: &str) -> ParseResult<Range<usize>> {
        match self.peek() {
            Some(token) if token.kind == *kind => {
                self.pos += 1;
                Ok(token.span.clone())
            }
            _ => self.expected(expected),
        }
    }

    pub(crate) fn finish(&self, expected: &str) -> ParseResult<()> {
        if self.peek().is_some() { self.expected(expected) } else { Ok(()) }
    }

    /// Whether `name=` comes next (an option).
    fn at_option(&self) -> bool {
        matches!(
            (self.peek().map(|t| &t.kind), self.peek_at(1).map(|t| &t.kind)),
            (Some(TokenKind::Word(_)), Some(TokenKind::Op(CompareOp::Eq)))
        )
    }

    /// `name=value`, when one comes next: the lower-cased name, the value and its spans.
    fn option(&mut self) -> ParseResult<Option<CommandOption>> {
        if !self.at_option() {
            return Ok(None);
        }
        let (name, name_span) = self.word("an option")?;
        self.pos += 1;
        let (value, value_span) = self.text_item("a value")?;
        Ok(Some((name.to_ascii_lowercase(), name_span, value, value_span)))
    }

    #[allow(clippy::too_many_lines)] // One arm per command.
    fn command(&mut self, first: bool) -> ParseResult<Command> {
        let (name, span) = self.word("a command")?;
        let lowered = name.to_ascii_lowercase();
        if let Some((_, reason)) = REFUSED.iter().find(|(refused, _)| *refused == lowered) {
            let kind = SplErrorKind::RefusedCommand { name: lowered, reason: (*reason).to_owned() };
            return Err((kind, span));
        }
        if first && !GENERATING.contains(&lowered.as_str()) {
            return Err((SplErrorKind::NotGenerating(format!("`{name}`")), span));
        }
        let command = match lowered.as_str() {
            "tstats" if first => Command::Tstats(self.tstats(span.start)?),
            "tstats" => {
                let what = "`tstats` after the first command".to_owned();
                return unsupported(what, span);
            }
            "search" if first => Command::Events(self.condition(false)?),
            "search" => Command::Search(self.condition(false)?),
            "rename" => Command::Rename(self.rename()?),
            "convert" => Command::Convert(self.convert()?),
            "where" => Command::Where(self.where_expression()?),
            "eval" => Command::Eval(self.eval()?),
            "table" => Command::Table(self.field_list()?),
            "fields" => {
                let remove = match self.peek().and_then(Token::word) {
                    Some("-") => true,
                    Some("+") => false,
                    _ => {
                        return Ok(Command::Fields { remove: false, fields: self.field_list()? });
                    }
                };
                self.pos += 1;
                Command::Fields { remove, fields: self.field_list()? }
            }
            "stats" => Command::Stats(self.stats(StatsKind::Stats)?),
            "eventstats" => Command::Stats(self.stats(StatsKind::Eventstats)?),
            "streamstats" => Command::Stats(self.stats(StatsKind::Streamstats)?),
            "bin" | "bucket" | "discretize" => Command::Bin(self.bin()?),
            "rex" => Command::Rex(self.rex()?),
            "regex" => Command::Regex(self.regex()?),
            "fillnull" => Command::Fillnull(self.fillnull()?),
            "dedup" => Command::Dedup(self.dedup()?),
            "sort" => Command::Sort(self.sort()?),
            "head" => Command::Head(self.count_argument("head")?),
            "tail" => Command::Tail(self.count_argument("tail")?),
            "reverse" => Command::Reverse,
            "mvexpand" => self.mvexpand()?,
            "makemv" => Command::Makemv(self.makemv()?),
            "nomv" => Command::Nomv(self.text_item("a field")?.0),
            "foreach" => Command::Foreach(self.foreach()?),
            "makeresults" if first => Command::Makeresults(self.makeresults()?),
            "inputlookup" => Command::Inputlookup(self.inputlookup(first)?),
            "lookup" => Command::Lookup(self.lookup()?),
            "join" => Command::Join(self.join()?),
            "append" => {
                self.skip_options(&["maxtime", "maxout", "timeout", "extendtimerange"])?;
                Command::Append(self.subsearch()?)
            }
            "appendpipe" => {
                self.skip_options(&["run_in_preview"])?;
                Command::Appendpipe(self.subpipeline()?)
            }
            "spath" => Command::Spath(self.spath()?),
            "xmlkv" => {
                self.skip_options(&["maxinputs"])?;
                let field = if self.peek().is_some() {
                    self.text_item("a field")?.0
                } else {
                    "_raw".to_owned()
                };
                Command::Xmlkv(field)
            }
            "fromjson" => {
                let (field, _) = self.text_item("a field")?;
                let mut prefix = String::new();
                while let Some((option, option_span, value, _)) = self.option()? {
                    if option != "prefix" {
                        return unsupported(format!("fromjson option `{option}`"), option_span);
                    }
                    prefix = value;
                }
                Command::Fromjson { field, prefix }
            }
            "transaction" => Command::Transaction(self.transaction()?),
            "replace" => Command::Replace(self.replace()?),
            "addtotals" => self.addtotals()?,
            "format" => Command::Format,
            "return" => Command::Return(self.return_items()?),
            _ => return Err((SplErrorKind::UnknownCommand(name), span)),
        };
        self.finish("`|` or the end of the search")?;
        Ok(command)
    }

    /// Options with these names, accepted and left without effect offline (time limits).
    fn skip_options(&mut self, names: &[&str]) -> ParseResult<()> {
        while self.at_option() {
            let Some((option, option_span, _, _)) = self.option()? else { break };
            if !names.contains(&option.as_str()) {
                return unsupported(format!("option `{option}`"), option_span);
            }
        }
        Ok(())
    }

    /// The bracketed token next, and the range of its content.
    fn bracket(&mut self, what: &str) -> ParseResult<Range<usize>> {
        match self.peek() {
            Some(token) if token.kind == TokenKind::Bracket => {
                self.pos += 1;
                Ok(token.span.start + 1..token.span.end - 1)
            }
            _ => self.expected(what),
        }
    }

    /// `[ … ]` holding a search of its own: its own generating command, or `search`.
    fn subsearch(&mut self) -> ParseResult<Pipeline> {
        let inner = self.bracket("`[ <subsearch> ]`")?;
        let tokens = tokenize_range(self.text, &inner)?;
        self.nest()?;
        let commands = parse_pipeline_until(self.text, &tokens, inner.end, self.known_function);
        self.depth -= 1;
        let (commands, spans) = commands?.into_iter().unzip();
        Ok(Pipeline { commands, spans, start: inner.start })
    }

    /// `[ … ]` holding commands over the current rows (`appendpipe`).
    fn subpipeline(&mut self) -> ParseResult<Pipeline> {
        let inner = self.bracket("`[ <commands> ]`")?;
        let tokens = tokenize_range(self.text, &inner)?;
        let mut commands = Vec::new();
        let mut spans = Vec::new();
        let mut from = 0;
        // The first command may be written with or without its pipe.
        let mut bounds = Vec::new();
        for (index, token) in tokens.iter().enumerate() {
            if token.kind == TokenKind::Pipe {
                bounds.push((from, index, token.span.start));
                from = index + 1;
            }
        }
        bounds.push((from, tokens.len(), inner.end));
        self.nest()?;
        for (from, to, segment_end) in bounds {
            let segment = &tokens[from..to];
            let Some(first) = segment.first() else { continue };
            let end = segment.last().map_or(segment_end, |t| t.span.end);
            let mut parser = Parser {
                text: self.text,
                tokens: segment,
                pos: 0,
                end,
                segment_end,
                depth: self.depth,
                known_function: self.known_function,
            };
            commands.push(parser.command(false)?);
            spans.push(first.span.start..end);
        }
        self.depth -= 1;
        if commands.is_empty() {
            return self.expected("commands inside `[ … ]`");
        }
        Ok(Pipeline { commands, spans, start: inner.start })
    }

    fn makeresults(&mut self) -> ParseResult<usize> {
        let mut count = 1;
        while let Some((option, option_span, value, value_span)) = self.option()? {
            match option.as_str() {
                "count" => count = number_option(&value, value_span)?,
                "annotate" => {}
                _ => return unsupported(format!("makeresults option `{option}`"), option_span),
            }
        }
        Ok(count)
    }

    fn inputlookup(&mut self, first: bool) -> ParseResult<Inputlookup> {
        let mut append = false;
        while let Some((option, option_span, value, value_span)) = self.option()? {
            match option.as_str() {
                "append" => append = boolean(&value, value_span)?,
                "strict" => {}
                _ => return unsupported(format!("inputlookup option `{option}`"), option_span),
            }
        }
        if !first && !append {
            let span = self.here();
            return unsupported(
                "`inputlookup` after the first command without `append=true`".to_owned(),
                span,
            );
        }
        let (table, _) = self.text_item("a lookup name")?;
        let filter = if self.at_keyword("where") {
            self.pos += 1;
            Some(self.condition(false)?)
        } else {
            None
        };
        Ok(Inputlookup { table, filter, append })
    }

    fn lookup(&mut self) -> ParseResult<LookupCommand> {
        self.skip_options(&["local", "update"])?;
        let (table, _) = self.text_item("a lookup name")?;
        let mut lookup =
            LookupCommand { table, inputs: Vec::new(), outputs: Vec::new(), output_new: false };
        let mut in_outputs = false;
        while self.peek().is_some() {
            if self.at_keyword("output") || self.at_keyword("outputnew") {
                lookup.output_new = self.at_keyword("outputnew");
                in_outputs = true;
                self.pos += 1;
                continue;
            }
            let (column, _) = self.text_item("a lookup field")?;
            let field = if self.at_keyword("as") {
                self.pos += 1;
                self.text_item("a field name after `AS`")?.0
            } else {
                column.clone()
            };
            if in_outputs { &mut lookup.outputs } else { &mut lookup.inputs }.push((column, field));
            self.skip_comma();
        }
        if lookup.inputs.is_empty() {
            return self.expected("a field to match");
        }
        Ok(lookup)
    }

    fn join(&mut self) -> ParseResult<Join> {
        let mut join = Join {
            left: false,
            max: 1,
            overwrite: true,
            fields: Vec::new(),
            subsearch: Pipeline { commands: Vec::new(), spans: Vec::new(), start: 0 },
        };
        while let Some(token) = self.peek() {
            if token.kind == TokenKind::Bracket {
                break;
            }
            if let Some((option, option_span, value, value_span)) = self.option()? {
                match option.as_str() {
                    "type" => {
                        join.left = match value.to_ascii_lowercase().as_str() {
                            "inner" => false,
                            "left" | "outer" => true,
                            _ => {
                                let kind = SplErrorKind::Expected {
                                    expected: "`inner`, `left` or `outer`".to_owned(),
                                    found: format!("`{value}`"),
                                };
                                return Err((kind, value_span));
                            }
                        };
                    }
                    "max" => join.max = number_option(&value, value_span)?,
                    "overwrite" => join.overwrite = boolean(&value, value_span)?,
                    "usetime" | "earlier" => {
                        if boolean(&value, value_span)? {
                            return unsupported(format!("join `{option}=true`"), option_span);
                        }
                    }
                    _ => return unsupported(format!("join option `{option}`"), option_span),
                }
                continue;
            }
            join.fields.push(self.text_item("a field")?.0);
            self.skip_comma();
        }
        join.subsearch = self.subsearch()?;
        Ok(join)
    }

    fn spath(&mut self) -> ParseResult<Spath> {
        let mut spath = Spath { input: "_raw".to_owned(), output: None, path: None };
        while self.peek().is_some() {
            if let Some((option, option_span, value, _)) = self.option()? {
                match option.as_str() {
                    "input" => spath.input = value,
                    "output" => spath.output = Some(value),
                    "path" => spath.path = Some(value),
                    _ => return unsupported(format!("spath option `{option}`"), option_span),
                }
                continue;
            }
            if spath.path.is_some() {
                return self.expected("an option or the end of the command");
            }
            spath.path = Some(self.text_item("a path")?.0);
        }
        Ok(spath)
    }

    fn transaction(&mut self) -> ParseResult<Transaction> {
        let mut transaction = Transaction {
            fields: Vec::new(),
            max_span: None,
            max_pause: None,
            starts_with: None,
            ends_with: None,
        };
        while self.peek().is_some() {
            if self.at_option() {
                let (name, name_span) = self.word("an option")?;
                let option = name.to_ascii_lowercase();
                self.pos += 1;
                match option.as_str() {
                    "maxspan" | "maxpause" => {
                        let (value, value_span) = self.text_item("a duration")?;
                        let seconds = duration_seconds(&value, value_span)?;
                        if option == "maxspan" {
                            transaction.max_span = Some(seconds);
                        } else {
                            transaction.max_pause = Some(seconds);
                        }
                    }
                    "startswith" | "endswith" => {
                        let condition = self.transaction_filter()?;
                        if option == "startswith" {
                            transaction.starts_with = Some(condition);
                        } else {
                            transaction.ends_with = Some(condition);
                        }
                    }
                    // With the events in time order, these change nothing here: every
                    // event has the fields it is grouped by or forms its own transaction.
                    "connected" | "keepevicted" | "mvlist" | "delim" | "maxevents" => {
                        self.text_item("a value")?;
                    }
                    _ => return unsupported(format!("transaction option `{option}`"), name_span),
                }
                continue;
            }
            transaction.fields.push(self.text_item("a field")?.0);
            self.skip_comma();
        }
        Ok(transaction)
    }

    /// `(condition)`, `"condition"` or `eval(…)` after `startswith=`/`endswith=`.
    fn transaction_filter(&mut self) -> ParseResult<Condition> {
        match self.peek().map(|t| &t.kind) {
            Some(TokenKind::LParen) => self.condition_primary(false),
            Some(TokenKind::Quoted(text)) => {
                let span = self.here();
                let text = text.clone();
                self.pos += 1;
                let tokens =
                    super::lexer::tokenize(&text).map_err(|(kind, _)| (kind, span.clone()))?;
                let mut parser = Parser::for_condition(&text, &tokens, self.known_function);
                let condition =
                    parser.condition(false).map_err(|(kind, _)| (kind, span.clone()))?;
                parser.finish("the end of the condition").map_err(|(kind, _)| (kind, span))?;
                Ok(condition)
            }
            _ => {
                let span = self.here();
                unsupported("a transaction filter other than `(…)` or `\"…\"`".to_owned(), span)
            }
        }
    }

    fn replace(&mut self) -> ParseResult<Replace> {
        let mut replace = Replace { pairs: Vec::new(), fields: Vec::new() };
        while self.peek().is_some() && !self.at_keyword("in") {
            let (from, from_span) = self.text_item("a value to replace")?;
            if !self.at_keyword("with") {
                return self.expected("`WITH`");
            }
            self.pos += 1;
            let (to, to_span) = self.text_item("a new value")?;
            let (from, to) = (FieldGlob::new(&from), FieldGlob::new(&to));
            if to.wildcards() > 0 && to.wildcards() != from.wildcards() {
                let kind = SplErrorKind::RenameWildcards {
                    from: from.text().to_owned(),
                    to: to.text().to_owned(),
                };
                return Err((kind, from_span.start..to_span.end));
            }
            replace.pairs.push((from, to));
            self.skip_comma();
        }
        if replace.pairs.is_empty() {
            return self.expected("`<value> WITH <new value>`");
        }
        if self.at_keyword("in") {
            self.pos += 1;
            replace.fields = self.field_list()?;
        }
        Ok(replace)
    }

    fn addtotals(&mut self) -> ParseResult<Command> {
        let mut fieldname = "Total".to_owned();
        let mut fields = Vec::new();
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                match option.as_str() {
                    "fieldname" => fieldname = value,
                    "row" => {
                        if !boolean(&value, value_span)? {
                            return unsupported("addtotals `row=false`".to_owned(), option_span);
                        }
                    }
                    "col" => {
                        if boolean(&value, value_span)? {
                            return unsupported("addtotals `col=true`".to_owned(), option_span);
                        }
                    }
                    _ => return unsupported(format!("addtotals option `{option}`"), option_span),
                }
                continue;
            }
            fields.push(FieldGlob::new(&self.text_item("a field")?.0));
            self.skip_comma();
        }
        Ok(Command::Addtotals { fieldname, fields })
    }

    fn return_items(&mut self) -> ParseResult<Return> {
        let mut count = 1;
        if let Some(Token { kind: TokenKind::Word(word), .. }) = self.peek()
            && let Ok(n) = word.parse::<usize>()
        {
            count = n;
            self.pos += 1;
        }
        let mut items = Vec::new();
        while self.peek().is_some() {
            if let Some((alias, _, field, _)) = self.option()? {
                items.push(ReturnItem::Alias(alias, field));
                continue;
            }
            let (name, _) = self.text_item("a field")?;
            items.push(match name.strip_prefix('$') {
                Some(field) => ReturnItem::Value(field.to_owned()),
                None => ReturnItem::Field(name),
            });
        }
        if items.is_empty() {
            return self.expected("a field to return");
        }
        Ok(Return { count, items })
    }

    /// Runs `parse` over the text from the current token to the end of the segment as an
    /// eval expression parser, then moves the token position past what it read.
    fn with_expressions<T>(
        &mut self,
        parse: impl FnOnce(&mut ExprParser<'a>) -> ParseResult<T>,
    ) -> ParseResult<T> {
        let start = self.peek().map_or(self.end, |t| t.span.start);
        let mut parser =
            ExprParser::new(&self.text[..self.segment_end], start, self.known_function);
        let value = parse(&mut parser)?;
        let stop = parser.position();
        while self.peek().is_some_and(|t| t.span.start < stop) {
            self.pos += 1;
        }
        Ok(value)
    }

    fn where_expression(&mut self) -> ParseResult<Expr> {
        if self.peek().is_none() {
            return self.expected("an expression");
        }
        let expr = self.with_expressions(ExprParser::expression)?;
        self.finish("an operator, `|` or the end of the search")?;
        Ok(expr)
    }

    fn eval(&mut self) -> ParseResult<Vec<Assignment>> {
        if self.peek().is_none() {
            return self.expected("`field=expression`");
        }
        let assignments = self.with_expressions(|parser| {
            let mut assignments = Vec::new();
            loop {
                let (field, _) = parser.assignment_target()?;
                let expr = parser.expression()?;
                if let Some(what) = boolean_result(&expr) {
                    // "The result of an eval expression cannot be a Boolean."
                    let kind = SplErrorKind::Expected {
                        expected: "a number or string value (a boolean cannot be stored; \
                                   use if(condition, a, b))"
                            .to_owned(),
                        found: what,
                    };
                    return Err((kind, expr.span.clone()));
                }
                assignments.push(Assignment { field, expr });
                if !parser.eat_comma()? {
                    return Ok(assignments);
                }
            }
        })?;
        Ok(assignments)
    }

    fn tstats(&mut self, start: usize) -> ParseResult<Tstats> {
        let mut tstats = Tstats {
            summaries_only: None,
            allow_old_summaries: None,
            fillnull_value: None,
            prestats: None,
            aggregates: Vec::new(),
            datamodel: String::new(),
            node: String::new(),
            dataset: String::new(),
            resolved: None,
            foreign_aggregates: Vec::new(),
            matcher: std::sync::OnceLock::new(),
            filter: None,
            by: Vec::new(),
            span: None,
            span_in_search: start..self.end,
        };
        while let Some((option, option_span, value, value_span)) = self.option()? {
            match option.as_str() {
                "summariesonly" => tstats.summaries_only = Some(boolean(&value, value_span)?),
                "allow_old_summaries" => {
                    tstats.allow_old_summaries = Some(boolean(&value, value_span)?);
                }
                "fillnull_value" => tstats.fillnull_value = Some(value),
                "prestats" => {
                    let prestats = boolean(&value, value_span)?;
                    if prestats {
                        return unsupported("tstats `prestats=true`".to_owned(), option_span);
                    }
                    tstats.prestats = Some(prestats);
                }
                "chunk_size" | "local" => {}
                _ => return unsupported(format!("tstats option `{option}`"), option_span),
            }
        }
        let mut aggregate_fields = Vec::new();
        while self.peek().is_some() && !self.at_keyword("from") {
            if self.at_keyword("where") || self.at_keyword("by") {
                return Err((SplErrorKind::TstatsWithoutFrom, self.here()));
            }
            let (aggregate, field_span) = self.aggregate()?;
            if let Some(AggregateArgument::Eval(expr)) = &aggregate.argument {
                // "| tstats count(eval(...)) is not supported."
                return unsupported("`eval()` in a tstats aggregate".to_owned(), expr.span.clone());
            }
            if let (Some(field), Some(span)) = (aggregate.field(), field_span) {
                aggregate_fields.push((field.to_owned(), span));
            }
            tstats.aggregates.push(aggregate);
            self.skip_comma();
        }
        if tstats.aggregates.is_empty() {
            return self.expected("an aggregate such as `count`");
        }
        if self.bump().is_none() {
            return Err((SplErrorKind::TstatsWithoutFrom, self.end..self.end));
        }
        let datamodel_span = self.here();
        if !self.at_keyword("datamodel") {
            return self.expected("`datamodel=<model>.<node>`");
        }
        self.pos += 1;
        self.expect_kind(&TokenKind::Op(CompareOp::Eq), "`=`")?;
        let (datamodel, value_span) = self.text_item("`<model>.<node>`")?;
        let mut filter = None;
        if self.at_keyword("where") {
            self.pos += 1;
            filter = Some(self.condition(true)?);
        }
        // `where nodename=<path>` names a child dataset; it is no field of the records.
        let nodename = filter.as_mut().and_then(take_nodename);
        if filter.as_ref().is_some_and(|f| matches!(f, Condition::And(terms) if terms.is_empty())) {
            filter = None;
        }
        let node = crate::datamodel::resolve_node(&datamodel, nodename.as_deref())
            .map_err(|err| (datamodel_error(&err), datamodel_span.start..value_span.end))?;
        node.model().clone_into(&mut tstats.datamodel);
        node.prefix().clone_into(&mut tstats.node);
        tstats.dataset = node.path();
        tstats.resolved = Some(node);
        let prefix = node.prefix();
        // An aggregate over a field the node lacks is not refused: it reads null, so
        // `dc(x)` is 0 and `latest(x)` empty, and the rule still returns its groups.
        // `validate` warns about it instead.
        for (field, span) in aggregate_fields {
            if check_node_field(&field, prefix, span).is_err()
                && !tstats.foreign_aggregates.contains(&field)
            {
                tstats.foreign_aggregates.push(field);
            }
        }
        if let Some(filter) = &filter {
            check_condition_fields(filter, prefix, self.tokens, self.text)?;
        }
        tstats.filter = filter;
        let node = prefix;
        if self.at_keyword("by") {
            self.pos += 1;
            self.tstats_by(&mut tstats, node)?;
        }
        self.finish("`where`, `by`, `|` or the end of the search")?;
        Ok(tstats)
    }

    /// The fields after `tstats … by`, and `span=`.
    fn tstats_by(&mut self, tstats: &mut Tstats, node: &str) -> ParseResult<()> {
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                if option != "span" {
                    let what = format!("`{option}` option of tstats `by`");
                    return unsupported(what, option_span);
                }
                tstats.span = Some(parse_span(&value, value_span)?);
                continue;
            }
            let (field, span) = self.text_item("a field")?;
            check_node_field(&field, node, span)?;
            tstats.by.push(field);
            self.skip_comma();
        }
        if tstats.by.is_empty() {
            return self.expected("a field after `by`");
        }
        if tstats.span.is_some() && !tstats.by.iter().any(|f| f == "_time") {
            let what = "`span=` without `_time` in tstats `by`".to_owned();
            return unsupported(what, self.tokens.last().map_or(0..0, |t| t.span.clone()));
        }
        Ok(())
    }

    /// `count`, `func(field)`, `func(eval(expression))`, each optionally `as name`; also the
    /// span of its field.
    fn aggregate(&mut self) -> ParseResult<(Aggregate, Option<Range<usize>>)> {
        let (name, span) = self.word("an aggregate such as `count`")?;
        let has_paren = self.peek().is_some_and(|t| t.kind == TokenKind::LParen);
        let Some(function) = AggregateFunction::from_name(&name.to_ascii_lowercase()) else {
            self.pos -= 1;
            if has_paren {
                return Err((SplErrorKind::UnknownFunction(name), span));
            }
            return self.expected("an aggregate such as `count`");
        };
        let (argument, field_span, call_end) = if has_paren {
            self.pos += 1;
            if self.at_keyword("eval")
                && self.peek_at(1).is_some_and(|t| t.kind == TokenKind::LParen)
            {
                self.pos += 2;
                let expr = self.with_expressions(ExprParser::expression)?;
                self.expect_kind(&TokenKind::RParen, "`)` after the expression")?;
                let close = self.expect_kind(&TokenKind::RParen, "`)`")?;
                (Some(AggregateArgument::Eval(expr)), None, close.end)
            } else {
                let (field, field_span) = self.text_item("a field")?;
                let close = self.expect_kind(&TokenKind::RParen, "`)`")?;
                (Some(AggregateArgument::Field(field)), Some(field_span), close.end)
            }
        } else if function == AggregateFunction::Count {
            (None, None, span.end)
        } else {
            return self.expected("`(`");
        };
        let output = if self.at_keyword("as") {
            self.pos += 1;
            self.text_item("a name after `as`")?.0
        } else {
            self.text.get(span.start..call_end).unwrap_or(&name).to_owned()
        };
        Ok((Aggregate { function, argument, output }, field_span))
    }

    fn stats(&mut self, kind: StatsKind) -> ParseResult<Stats> {
        let mut stats = Stats {
            kind,
            aggregates: Vec::new(),
            by: Vec::new(),
            window: 0,
            current: true,
            global: true,
        };
        while let Some((option, option_span, value, value_span)) = self.option()? {
            match (kind, option.as_str()) {
                (StatsKind::Streamstats, "window") => {
                    stats.window = value.parse().map_err(|_| {
                        let kind = SplErrorKind::Expected {
                            expected: "a number of rows".to_owned(),
                            found: format!("`{value}`"),
                        };
                        (kind, value_span.clone())
                    })?;
                }
                (StatsKind::Streamstats, "current") => stats.current = boolean(&value, value_span)?,
                (StatsKind::Streamstats, "global") => stats.global = boolean(&value, value_span)?,
                // Options that change nothing for the values this engine holds.
                (_, "allnum" | "delim" | "partitions" | "dedup_splitvals") => {}
                _ => {
                    return unsupported(
                        format!("{kind:?} option `{option}`").to_lowercase(),
                        option_span,
                    );
                }
            }
        }
        while self.peek().is_some() && !self.at_keyword("by") {
            let (aggregate, _) = self.aggregate()?;
            stats.aggregates.push(aggregate);
            self.skip_comma();
        }
        if stats.aggregates.is_empty() {
            return self.expected("an aggregate such as `count`");
        }
        if self.at_keyword("by") {
            self.pos += 1;
            while self.peek().is_some() {
                if self.at_option() {
                    let span = self.here();
                    return unsupported("options after `by`".to_owned(), span);
                }
                stats.by.push(self.text_item("a field")?.0);
                // An empty place in the list (`a, , b`) is passed over, as Splunk does.
                while self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
                    self.pos += 1;
                }
            }
            if stats.by.is_empty() {
                return self.expected("a field after `by`");
            }
        }
        Ok(stats)
    }

    fn bin(&mut self) -> ParseResult<Bin> {
        let mut span = None;
        let mut field = None;
        let mut output = None;
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                match option.as_str() {
                    "span" => span = Some((value, value_span)),
                    _ => return unsupported(format!("bin option `{option}`"), option_span),
                }
            } else if self.at_keyword("as") {
                self.pos += 1;
                output = Some(self.text_item("a name after `as`")?.0);
            } else if field.is_none() {
                field = Some(self.text_item("a field")?.0);
            } else {
                return self.expected("`span=`, `as` or the end of the command");
            }
        }
        let Some(field) = field else { return self.expected("a field") };
        let Some((value, value_span)) = span else {
            return unsupported("bin without `span=`".to_owned(), self.here());
        };
        let span = if field == "_time" {
            BinSpan::Time(parse_span(&value, value_span)?)
        } else {
            match value.parse::<f64>() {
                Ok(width) if width > 0.0 && width.is_finite() => BinSpan::Number(width),
                _ => {
                    let kind = SplErrorKind::Expected {
                        expected: "a positive number".to_owned(),
                        found: format!("`{value}`"),
                    };
                    return Err((kind, value_span));
                }
            }
        };
        Ok(Bin { field, span, output })
    }

    fn rex(&mut self) -> ParseResult<Rex> {
        let mut rex =
            Rex { field: "_raw".to_owned(), pattern: String::new(), sed: None, max_match: 1 };
        let mut sed = false;
        let mut pattern = None;
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                match option.as_str() {
                    "field" => rex.field = value,
                    "max_match" => {
                        rex.max_match = value.parse().map_err(|_| {
                            let kind = SplErrorKind::Expected {
                                expected: "a number".to_owned(),
                                found: format!("`{value}`"),
                            };
                            (kind, value_span.clone())
                        })?;
                    }
                    "mode" if value == "sed" => sed = true,
                    _ => return unsupported(format!("rex option `{option}`"), option_span),
                }
                continue;
            }
            match self.peek() {
                Some(Token { kind: TokenKind::Quoted(text), span }) if pattern.is_none() => {
                    pattern = Some((text.clone(), span.clone()));
                    self.pos += 1;
                }
                _ => return self.expected("a quoted regular expression"),
            }
        }
        let Some((text, span)) = pattern else {
            return self.expected("a quoted regular expression");
        };
        if sed {
            rex.sed = Some(parse_sed(&text, span.clone())?);
        } else {
            let regex =
                super::regex::Regex::new(&text).map_err(|e| regex_error(&e, span.clone()))?;
            if !regex.group_names().iter().any(Option::is_some) {
                let kind = SplErrorKind::Expected {
                    expected: "a regular expression with a named group `(?<name>…)`".to_owned(),
                    found: format!("\"{text}\""),
                };
                return Err((kind, span));
            }
        }
        if let Some(SedExpression::Substitute { pattern, .. }) = &rex.sed {
            super::regex::Regex::new(pattern).map_err(|e| regex_error(&e, span.clone()))?;
        }
        rex.pattern = text;
        Ok(rex)
    }

    fn regex(&mut self) -> ParseResult<RegexFilter> {
        let mut filter =
            RegexFilter { field: "_raw".to_owned(), negated: false, pattern: String::new() };
        if let (
            Some(Token { kind: TokenKind::Word(field), .. }),
            Some(Token { kind: TokenKind::Op(op), span }),
        ) = (self.peek(), self.peek_at(1))
        {
            match op {
                CompareOp::Eq => {}
                CompareOp::NotEq => filter.negated = true,
                _ => return unsupported(format!("`{}` in regex", op.symbol()), span.clone()),
            }
            filter.field.clone_from(field);
            self.pos += 2;
        }
        let (pattern, span) = match self.peek() {
            Some(Token { kind: TokenKind::Quoted(text), span }) => (text.clone(), span.clone()),
            _ => return self.expected("a quoted regular expression"),
        };
        self.pos += 1;
        super::regex::Regex::new(&pattern).map_err(|e| regex_error(&e, span))?;
        filter.pattern = pattern;
        Ok(filter)
    }

    fn fillnull(&mut self) -> ParseResult<Fillnull> {
        let mut fillnull = Fillnull { value: "0".to_owned(), fields: Vec::new() };
        while self.peek().is_some() {
            if let Some((option, option_span, value, _)) = self.option()? {
                if option != "value" {
                    return unsupported(format!("fillnull option `{option}`"), option_span);
                }
                fillnull.value = value;
                continue;
            }
            fillnull.fields.push(self.text_item("a field")?.0);
            self.skip_comma();
        }
        Ok(fillnull)
    }

    fn dedup(&mut self) -> ParseResult<Dedup> {
        let mut dedup = Dedup {
            count: 1,
            fields: Vec::new(),
            keep_empty: false,
            consecutive: false,
            sort_by: Vec::new(),
        };
        if let Some(Token { kind: TokenKind::Word(word), .. }) = self.peek()
            && let Ok(count) = word.parse::<usize>()
        {
            dedup.count = count.max(1);
            self.pos += 1;
        }
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                match option.as_str() {
                    "keepempty" => dedup.keep_empty = boolean(&value, value_span)?,
                    "consecutive" => dedup.consecutive = boolean(&value, value_span)?,
                    _ => return unsupported(format!("dedup option `{option}`"), option_span),
                }
                continue;
            }
            if self.at_keyword("sortby") {
                self.pos += 1;
                while self.peek().is_some() {
                    dedup.sort_by.push(self.sort_key()?);
                    self.skip_comma();
                }
                break;
            }
            dedup.fields.push(self.text_item("a field")?.0);
            self.skip_comma();
        }
        if dedup.fields.is_empty() {
            return self.expected("a field");
        }
        Ok(dedup)
    }

    fn sort(&mut self) -> ParseResult<Sort> {
        let mut sort = Sort { limit: Some(SORT_DEFAULT_LIMIT), keys: Vec::new() };
        if let Some(Token { kind: TokenKind::Word(word), .. }) = self.peek()
            && let Ok(limit) = word.parse::<usize>()
        {
            sort.limit = (limit > 0).then_some(limit);
            self.pos += 1;
        }
        if let Some((option, option_span, value, value_span)) = self.option()? {
            if option != "limit" {
                return unsupported(format!("sort option `{option}`"), option_span);
            }
            let limit: usize = value.parse().map_err(|_| {
                let kind = SplErrorKind::Expected {
                    expected: "a number".to_owned(),
                    found: format!("`{value}`"),
                };
                (kind, value_span)
            })?;
            sort.limit = (limit > 0).then_some(limit);
        }
        while self.peek().is_some() {
            if self.peek_at(1).is_none()
                && (self.at_keyword("d") || self.at_keyword("desc"))
                && !sort.keys.is_empty()
            {
                self.pos += 1;
                for key in &mut sort.keys {
                    key.descending = !key.descending;
                }
                break;
            }
            sort.keys.push(self.sort_key()?);
            self.skip_comma();
        }
        if sort.keys.is_empty() {
            return self.expected("a field to sort by");
        }
        Ok(sort)
    }

    /// `[+|-]field` or `[+|-]num(field)` (also `str`, `ip`, `auto`).
    fn sort_key(&mut self) -> ParseResult<SortKey> {
        let mut descending = false;
        let separate_sign = matches!(self.peek().and_then(Token::word), Some("-" | "+"));
        if let Some(sign @ ("-" | "+")) = self.peek().and_then(Token::word) {
            descending = sign == "-";
            self.pos += 1;
        }
        let (mut name, span) = self.text_item("a field")?;
        // One sign only: after `+ `, a field `-7` is the field `-7`, not a second sign.
        if !separate_sign {
            if let Some(rest) = name.strip_prefix('-') {
                descending = true;
                name = rest.to_owned();
            } else if let Some(rest) = name.strip_prefix('+') {
                name = rest.to_owned();
            }
        }
        let mut order = SortOrder::Auto;
        for (function, function_order) in [
            ("num", SortOrder::Numeric),
            ("str", SortOrder::Text),
            ("ip", SortOrder::Ip),
            ("auto", SortOrder::Auto),
        ] {
            if let Some(field) =
                name.strip_prefix(function).and_then(|r| r.strip_prefix('(')?.strip_suffix(')'))
            {
                order = function_order;
                name = field.trim_matches('"').to_owned();
                break;
            }
        }
        if name.is_empty() {
            let kind = SplErrorKind::Expected {
                expected: "a field".to_owned(),
                found: "nothing".to_owned(),
            };
            return Err((kind, span));
        }
        Ok(SortKey { field: name, descending, order })
    }

    fn count_argument(&mut self, command: &str) -> ParseResult<usize> {
        let count = if let Some((option, option_span, value, value_span)) = self.option()? {
            if option != "limit" {
                return unsupported(format!("{command} option `{option}`"), option_span);
            }
            Some((value, value_span))
        } else if let Some(Token { kind: TokenKind::Word(word), span }) = self.peek() {
            self.pos += 1;
            Some((word.clone(), span.clone()))
        } else {
            None
        };
        match count {
            None => Ok(10),
            Some((value, span)) => value.parse::<usize>().map_err(|_| {
                let kind = if command == "head" {
                    SplErrorKind::Unsupported(format!(
                        "`head {value}`: a condition instead of a count"
                    ))
                } else {
                    SplErrorKind::Expected {
                        expected: "a number".to_owned(),
                        found: format!("`{value}`"),
                    }
                };
                (kind, span)
            }),
        }
    }

    fn mvexpand(&mut self) -> ParseResult<Command> {
        let mut field = None;
        let mut limit = None;
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                if option != "limit" {
                    return unsupported(format!("mvexpand option `{option}`"), option_span);
                }
                let parsed: usize = value.parse().map_err(|_| {
                    let kind = SplErrorKind::Expected {
                        expected: "a number".to_owned(),
                        found: format!("`{value}`"),
                    };
                    (kind, value_span)
                })?;
                limit = (parsed > 0).then_some(parsed);
                continue;
            }
            if field.is_some() {
                return self.expected("`limit=` or the end of the command");
            }
            field = Some(self.text_item("a field")?.0);
        }
        let Some(field) = field else { return self.expected("a field") };
        Ok(Command::Mvexpand { field, limit })
    }

    fn makemv(&mut self) -> ParseResult<Makemv> {
        let mut makemv = Makemv {
            field: String::new(),
            split: MakemvSplit::Delimiter(" ".to_owned()),
            allow_empty: false,
            set_single: false,
        };
        let mut field = None;
        while self.peek().is_some() {
            if let Some((option, option_span, value, value_span)) = self.option()? {
                match option.as_str() {
                    "delim" => makemv.split = MakemvSplit::Delimiter(value),
                    "tokenizer" => {
                        super::regex::Regex::new(&value)
                            .map_err(|e| regex_error(&e, value_span))?;
                        makemv.split = MakemvSplit::Tokenizer(value);
                    }
                    "allowempty" => makemv.allow_empty = boolean(&value, value_span)?,
                    "setsv" => makemv.set_single = boolean(&value, value_span)?,
                    _ => return unsupported(format!("makemv option `{option}`"), option_span),
                }
                continue;
            }
            if field.is_some() {
                return self.expected("an option or the end of the command");
            }
            field = Some(self.text_item("a field")?.0);
        }
        let Some(field) = field else { return self.expected("a field") };
        makemv.field = field;
        Ok(makemv)
    }

    fn foreach(&mut self) -> ParseResult<Foreach> {
        let mut fields = Vec::new();
        while let Some(token) = self.peek() {
            if token.kind == TokenKind::Bracket {
                break;
            }
            if let Some((option, option_span, _, _)) = self.option()? {
                return unsupported(format!("foreach option `{option}`"), option_span);
            }
            fields.push(FieldGlob::new(&self.text_item("a field or pattern")?.0));
            self.skip_comma();
        }
        let Some(bracket) = self.peek().filter(|t| t.kind == TokenKind::Bracket) else {
            return self.expected("`[ … ]` with the commands to run");
        };
        self.pos += 1;
        if fields.is_empty() {
            return Err((
                SplErrorKind::Expected {
                    expected: "a field or pattern".to_owned(),
                    found: "`[`".to_owned(),
                },
                bracket.span.clone(),
            ));
        }
        let inner = bracket.span.start + 1..bracket.span.end - 1;
        Ok(Foreach {
            fields,
            template: self.text[inner.clone()].to_owned(),
            template_offset: inner.start,
        })
    }

    fn rename(&mut self) -> ParseResult<Vec<RenamePair>> {
        let mut pairs = Vec::new();
        while self.peek().is_some() {
            let (from, from_span) = self.text_item("a field to rename")?;
            if !self.at_keyword("as") {
                return self.expected("`AS`");
            }
            self.pos += 1;
            let (to, to_span) = self.text_item("a new field name")?;
            let (from, to) = (FieldGlob::new(&from), FieldGlob::new(&to));
            if from.wildcards() != to.wildcards() {
                let kind = SplErrorKind::RenameWildcards {
                    from: from.text().to_owned(),
                    to: to.text().to_owned(),
                };
                return Err((kind, from_span.start..to_span.end));
            }
            pairs.push(RenamePair { from, to });
            self.skip_comma();
        }
        if pairs.is_empty() {
            return self.expected("a field to rename");
        }
        Ok(pairs)
    }

    fn convert(&mut self) -> ParseResult<Convert> {
        let mut time_format = None;
        while let (Some(name), Some(Token { kind: TokenKind::Op(CompareOp::Eq), .. })) =
            (self.peek(), self.peek_at(1))
        {
            let option_span = name.span.clone();
            if !name.is_keyword("timeformat") {
                let what = format!("convert option {}", name.describe(self.text));
                return unsupported(what, option_span);
            }
            self.pos += 2;
            let (format, span) = self.text_item("a time format")?;
            let parsed = TimeFormat::parse(&format).map_err(|directive| {
                (SplErrorKind::TimeFormat { format: format.clone(), directive }, span)
            })?;
            time_format = Some(parsed);
        }
        let mut conversions = Vec::new();
        while self.peek().is_some() {
            let (function, span) = self.word("a conversion such as `ctime(field)`")?;
            if function != "ctime" {
                let what = format!("convert function `{function}`");
                return unsupported(what, span);
            }
            self.expect_kind(&TokenKind::LParen, "`(`")?;
            let (field, field_span) = self.text_item("a field")?;
            if field.contains('*') {
                return unsupported("wildcards in `ctime()`".to_owned(), field_span);
            }
            self.expect_kind(&TokenKind::RParen, "`)`")?;
            let output = if self.at_keyword("as") {
                self.pos += 1;
                Some(self.text_item("a name after `as`")?.0)
            } else {
                None
            };
            conversions.push(Conversion { field, output });
            self.skip_comma();
        }
        if conversions.is_empty() {
            return self.expected("a conversion such as `ctime(field)`");
        }
        Ok(Convert {
            time_format: time_format.unwrap_or_else(TimeFormat::splunk_default),
            conversions,
        })
    }

    fn field_list(&mut self) -> ParseResult<Vec<FieldGlob>> {
        let mut fields = Vec::new();
        while self.peek().is_some() {
            fields.push(FieldGlob::new(&self.text_item("a field")?.0));
            self.skip_comma();
        }
        if fields.is_empty() {
            return self.expected("a field");
        }
        Ok(fields)
    }

    /// Whether a search condition ends here: end of command, or `by` in `tstats`.
    fn condition_ends(&self, stop_at_by: bool) -> bool {
        match self.peek() {
            None => true,
            Some(token) => {
                stop_at_by
                    && token.is_keyword("by")
                    && !self.peek_at(1).is_some_and(|t| matches!(t.kind, TokenKind::Op(_)))
            }
        }
    }

    pub(crate) fn condition(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
        if self.condition_ends(stop_at_by) {
            return self.expected("a search term");
        }
        self.condition_and(stop_at_by)
    }

    /// Terms joined by `AND` or juxtaposition. In `search` (and `tstats … where`) Splunk
    /// evaluates `OR` before `AND`, so `a OR b c` is `(a OR b) c`; `where` is the other way
    /// round.
    fn condition_and(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
        let mut terms = vec![self.condition_or(stop_at_by)?];
        loop {
            if self.condition_ends(stop_at_by)
                || self.peek().is_some_and(|t| t.kind == TokenKind::RParen)
            {
                break;
            }
            if self.at_operator("AND") {
                self.pos += 1;
            }
            terms.push(self.condition_or(stop_at_by)?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { Condition::And(terms) })
    }

    fn condition_or(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
        let mut terms = vec![self.condition_not(stop_at_by)?];
        while self.at_operator("OR") {
            self.pos += 1;
            terms.push(self.condition_not(stop_at_by)?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { Condition::Or(terms) })
    }

    fn condition_not(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
        self.nest()?;
        let condition = self.condition_not_nested(stop_at_by);
        self.depth -= 1;
        condition
    }

    fn nest(&mut self) -> ParseResult<()> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            self.depth -= 1;
            let what = format!("conditions nested deeper than {MAX_CONDITION_DEPTH} levels");
            return unsupported(what, self.here());
        }
        Ok(())
    }

    fn condition_not_nested(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
        if self.at_operator("NOT") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.condition_not(stop_at_by)?)));
        }
        self.condition_primary(stop_at_by)
    }

    fn condition_primary(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
        let Some(token) = self.peek() else {
            return self.expected("a search term");
        };
        match &token.kind {
            TokenKind::LParen => {
                self.pos += 1;
                let inner = self.condition_and(stop_at_by)?;
                if self.peek().is_some_and(|t| t.kind == TokenKind::RParen) {
                    self.pos += 1;
                    Ok(inner)
                } else {
                    Err((SplErrorKind::UnclosedParen, token.span.clone()))
                }
            }
            TokenKind::Word(_) | TokenKind::Quoted(_) => {
                let next = self.peek_at(1).map(|t| &t.kind);
                let is_word = matches!(token.kind, TokenKind::Word(_));
                if let Some(TokenKind::Op(op)) = next {
                    let op = *op;
                    if op == CompareOp::EqEq {
                        let what = "`==` in a search; use `=`".to_owned();
                        let span = self.peek_at(1).map_or(self.here(), |t| t.span.clone());
                        return unsupported(what, span);
                    }
                    let field_span = token.span.clone();
                    let field = match &token.kind {
                        TokenKind::Word(w) | TokenKind::Quoted(w) => w.clone(),
                        _ => String::new(),
                    };
                    if is_word && matches!(field.as_str(), "earliest" | "latest") {
                        let what = format!("time modifier `{field}=`");
                        return unsupported(what, field_span);
                    }
                    self.pos += 2;
                    let (value, _) = self.text_item("a value")?;
                    return Ok(Condition::Compare { field, op, value: Pattern::new(&value) });
                }
                if self.peek_at(1).and_then(Token::word) == Some("IN") {
                    let field = match &token.kind {
                        TokenKind::Word(w) | TokenKind::Quoted(w) => w.clone(),
                        _ => String::new(),
                    };
                    self.pos += 2;
                    let open = self.expect_kind(&TokenKind::LParen, "`(` after `IN`")?;
                    let mut values = Vec::new();
                    loop {
                        match self.peek().map(|t| &t.kind) {
                            None => return Err((SplErrorKind::UnclosedParen, open)),
                            Some(TokenKind::RParen) if !values.is_empty() => {
                                self.pos += 1;
                                break;
                            }
                            // Splunk passes over empty places in the list: `IN (,"a",)`.
                            Some(TokenKind::Comma) => self.pos += 1,
                            _ => {
                                values.push(Pattern::new(&self.text_item("a value")?.0));
                                self.skip_comma();
                            }
                        }
                    }
                    return Ok(Condition::In { field, values });
                }
                if token.word() == Some("*") {
                    self.pos += 1;
                    return Ok(Condition::Any);
                }
                if is_word
                    && let Some(word) = token.word()
                    && matches!(word.to_ascii_uppercase().as_str(), "TERM" | "CASE")
                    && self.peek_at(1).is_some_and(|t| t.kind == TokenKind::LParen)
                {
                    return unsupported(format!("`{word}()` in a search"), token.span.clone());
                }
                let (text, _) = self.text_item("a search term")?;
                Ok(Condition::Term(Pattern::new(&text)))
            }
            TokenKind::Bracket => Ok(Condition::Subsearch(self.subsearch()?)),
            _ => self.expected("a search term"),
        }
    }
}

/// What makes `expr` a boolean, when it is one at its top: eval cannot store it.
fn boolean_result(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Binary { op, .. } => {
            use super::expr::BinaryOp;
            let boolean = !matches!(
                op,
                BinaryOp::Concat
                    | BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Mod
            );
            boolean.then(|| format!("a `{}` comparison", op.symbol()))
        }
        ExprKind::Not(_) => Some("`NOT`".to_owned()),
        ExprKind::In { .. } => Some("`IN`".to_owned()),
        ExprKind::Call { name, .. }
            if matches!(
                name.as_str(),
                "match"
                    | "like"
                    | "isnull"
                    | "isnotnull"
                    | "isnum"
                    | "isint"
                    | "isstr"
                    | "isbool"
                    | "cidrmatch"
                    | "in"
                    | "searchmatch"
                    | "true"
                    | "false"
            ) =>
        {
            Some(format!("`{name}()`"))
        }
        _ => None,
    }
}

fn unsupported<T>(what: String, span: Range<usize>) -> ParseResult<T> {
    Err((SplErrorKind::Unsupported(what), span))
}

/// Tokens of `text[range]`, with spans in `text`.
fn tokenize_range(text: &str, range: &Range<usize>) -> ParseResult<Vec<Token>> {
    let inner = text.get(range.clone()).unwrap_or_default();
    let shift = |span: Range<usize>| span.start + range.start..span.end + range.start;
    let mut tokens = super::lexer::tokenize(inner).map_err(|(kind, span)| (kind, shift(span)))?;
    for token in &mut tokens {
        token.span = shift(token.span.clone());
    }
    Ok(tokens)
}

/// A whole number option.
fn number_option(value: &str, span: Range<usize>) -> ParseResult<usize> {
    value.parse().map_err(|_| {
        let kind =
            SplErrorKind::Expected { expected: "a number".to_owned(), found: format!("`{value}`") };
        (kind, span)
    })
}

/// A duration (`240m`, `5s`, `2h`, `1d`, or seconds) in seconds.
fn duration_seconds(value: &str, span: Range<usize>) -> ParseResult<i64> {
    let parsed = parse_span(value, span)?;
    let unit = match parsed.unit {
        SpanUnit::Second => 1,
        SpanUnit::Minute => 60,
        SpanUnit::Hour => 3600,
        SpanUnit::Day => 86_400,
        SpanUnit::Week => 7 * 86_400,
        SpanUnit::Month => 30 * 86_400,
        SpanUnit::Quarter => 91 * 86_400,
        SpanUnit::Year => 365 * 86_400,
    };
    Ok(i64::from(parsed.count) * unit)
}

fn boolean(value: &str, span: Range<usize>) -> ParseResult<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" => Ok(true),
        "false" | "f" | "0" => Ok(false),
        _ => {
            let kind = SplErrorKind::Expected {
                expected: "`true` or `false`".to_owned(),
                found: format!("`{value}`"),
            };
            Err((kind, span))
        }
    }
}

fn regex_error(message: &str, span: Range<usize>) -> ParseError {
    (SplErrorKind::Regex(message.to_owned()), span)
}

/// `s/regex/replacement/flags` or `y/from/to/`.
fn parse_sed(text: &str, span: Range<usize>) -> ParseResult<SedExpression> {
    let bad = |why: &str| {
        let kind = SplErrorKind::Expected {
            expected: format!("a sed expression `s/regex/replacement/[g]` or `y/abc/xyz/` ({why})"),
            found: format!("\"{text}\""),
        };
        (kind, span.clone())
    };
    let mut chars = text.chars();
    let command = chars.next();
    let separator = chars.next().ok_or_else(|| bad("too short"))?;
    let rest: String = chars.collect();
    // Split on unescaped separators.
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for ch in rest.chars() {
        if ch == separator && !escaped {
            parts.push(String::new());
            continue;
        }
        let Some(part) = parts.last_mut() else { break };
        if escaped {
            if ch != separator {
                part.push('\\');
            }
            part.push(ch);
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else {
            part.push(ch);
        }
    }
    if escaped && let Some(part) = parts.last_mut() {
        part.push('\\');
    }
    let [first, second, flags] = parts.as_slice() else {
        return Err(bad("expected three parts"));
    };
    match command {
        Some('s') => {
            let global = match flags.as_str() {
                "" => false,
                "g" => true,
                _ => return Err(bad("the only flag supported is `g`")),
            };
            Ok(SedExpression::Substitute {
                pattern: first.clone(),
                replacement: second.clone(),
                global,
            })
        }
        Some('y') => {
            let (from, to): (Vec<char>, Vec<char>) =
                (first.chars().collect(), second.chars().collect());
            if from.len() != to.len() || !flags.is_empty() {
                return Err(bad("`y` needs two lists of the same length"));
            }
            Ok(SedExpression::Transliterate { from, to })
        }
        _ => Err(bad("only `s` and `y` exist")),
    }
}

/// `1h`, `5m`, `30s`, `1d`, `1w`, `1mon`, `1q`, `1y`; a bare number is seconds.
pub(crate) fn parse_span(text: &str, span: Range<usize>) -> ParseResult<Span> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let count: u32 = if digits == 0 { 1 } else { text[..digits].parse().unwrap_or(0) };
    let unit = match &text[digits..] {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => SpanUnit::Second,
        "m" | "min" | "mins" | "minute" | "minutes" => SpanUnit::Minute,
        "h" | "hr" | "hrs" | "hour" | "hours" => SpanUnit::Hour,
        "d" | "day" | "days" => SpanUnit::Day,
        "w" | "week" | "weeks" => SpanUnit::Week,
        "mon" | "month" | "months" => SpanUnit::Month,
        "q" | "qtr" | "qtrs" | "quarter" | "quarters" => SpanUnit::Quarter,
        "y" | "yr" | "yrs" | "year" | "years" => SpanUnit::Year,
        _ => {
            let kind = SplErrorKind::Expected {
                expected: "a time span such as `1h`, `5m`, `1d`".to_owned(),
                found: format!("`{text}`"),
            };
            return Err((kind, span));
        }
    };
    if count == 0 {
        let kind = SplErrorKind::Expected {
            expected: "a time span of at least one unit".to_owned(),
            found: format!("`{text}`"),
        };
        return Err((kind, span));
    }
    Ok(Span { count, unit })
}

/// Removes the `nodename=<path>` term from the top of a `tstats … where` condition and
/// returns the path.
fn take_nodename(condition: &mut Condition) -> Option<String> {
    let is_nodename = |c: &Condition| matches!(c, Condition::Compare { field, op: CompareOp::Eq, .. } if field == "nodename");
    let text = |c: &Condition| match c {
        Condition::Compare { value, .. } => value.text().to_owned(),
        _ => String::new(),
    };
    if is_nodename(condition) {
        let found = text(condition);
        *condition = Condition::And(Vec::new());
        return Some(found);
    }
    let Condition::And(terms) = condition else { return None };
    let at = terms.iter().position(is_nodename)?;
    let found = text(&terms.remove(at));
    if terms.len() == 1 {
        *condition = terms.remove(0);
    }
    Some(found)
}

/// A data model the engine cannot read is its limit; a name the model does not have is the
/// search's error.
fn datamodel_error(err: &crate::datamodel::DataModelError) -> SplErrorKind {
    use crate::datamodel::DataModelError;
    match err {
        DataModelError::UnknownModel(model) => SplErrorKind::UnsupportedDataModel(model.clone()),
        DataModelError::NotMapped { model, node } => {
            SplErrorKind::UnsupportedDataModel(format!("{model}.{node}"))
        }
        other => SplErrorKind::DataModel(other.to_string()),
    }
}

/// Fields every indexed event has, which `tstats` reads beside the node's own.
pub(crate) const INDEXED_FIELDS: [&str; 5] = ["_time", "host", "source", "sourcetype", "index"];

/// Checks that a `tstats` field is an indexed field (`_time`, `host`, …) or a field of
/// `node`.
fn check_node_field(field: &str, node: &str, span: Range<usize>) -> ParseResult<()> {
    let of_node = field.strip_prefix(node).and_then(|rest| rest.strip_prefix('.'));
    if INDEXED_FIELDS.contains(&field) || of_node.is_some_and(|name| !name.is_empty()) {
        Ok(())
    } else {
        Err((SplErrorKind::ForeignField { field: field.to_owned(), node: node.to_owned() }, span))
    }
}

/// Checks every field of a `tstats` condition, pointing at its token.
fn check_condition_fields(
    condition: &Condition,
    node: &str,
    tokens: &[Token],
    text: &str,
) -> ParseResult<()> {
    match condition {
        Condition::Any => Ok(()),
        Condition::Term(pattern) => {
            let what = format!("free-text term `{}` in tstats `where`", pattern.text());
            let span = tokens
                .iter()
                .find(|t| matches!(&t.kind, TokenKind::Word(w) | TokenKind::Quoted(w) if w == pattern.text()))
                .map_or(0..text.len(), |t| t.span.clone());
            Err((SplErrorKind::Unsupported(what), span))
        }
        Condition::Compare { field, .. } | Condition::In { field, .. } => {
            // The token is looked up only for an error: searching for every field would be
            // quadratic in the length of a search with many distinct fields.
            check_node_field(field, node, 0..0).map_err(|(kind, _)| {
                let span = tokens
                    .iter()
                    .find(|t| t.word() == Some(field.as_str()))
                    .map_or(0..text.len(), |t| t.span.clone());
                (kind, span)
            })
        }
        Condition::Subsearch(pipeline) => {
            // From the opening bracket to the end of the subsearch.
            let start = pipeline.start.saturating_sub(1);
            let span = start..pipeline.spans.last().map_or(pipeline.start, |s| s.end);
            unsupported("a subsearch in tstats `where`".to_owned(), span)
        }
        Condition::Not(inner) => check_condition_fields(inner, node, tokens, text),
        Condition::And(terms) | Condition::Or(terms) => {
            terms.iter().try_for_each(|t| check_condition_fields(t, node, tokens, text))
        }
    }
}
