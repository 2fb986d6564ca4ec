//! The parser: tokens of an expanded search to a pipeline of [`Command`]s. It accepts only
//! what the evaluator implements; everything else is an error at its span, never skipped.

use std::ops::Range;

use super::ast::{
    Aggregate, AggregateFunction, Command, Condition, Conversion, Convert, Operand, RenamePair,
    Tstats, WhereExpr,
};
use super::error::SplErrorKind;
use super::lexer::{CompareOp, Token, TokenKind};
use super::pattern::{FieldGlob, Pattern};
use super::time_format::TimeFormat;

/// An error and its byte range in the expanded search.
pub(crate) type ParseError = (SplErrorKind, Range<usize>);
type ParseResult<T> = Result<T, ParseError>;

/// Parses the whole search into its commands. The first must be a generating command after a
/// leading `|`.
pub(crate) fn parse_pipeline(text: &str, tokens: &[Token]) -> ParseResult<Vec<Command>> {
    let mut segments = tokens.split(|t| t.kind == TokenKind::Pipe);
    let leading = segments.next().unwrap_or_default();
    if let Some(first) = leading.first() {
        let found = first.describe(text);
        return Err((SplErrorKind::NotGenerating(found), first.span.clone()));
    }
    let mut pipe_ends = tokens.iter().filter(|t| t.kind == TokenKind::Pipe).map(|t| t.span.end);
    if tokens.is_empty() {
        return Err((SplErrorKind::NotGenerating("an empty search".to_owned()), 0..0));
    }
    let mut commands = Vec::new();
    for segment in segments {
        let pipe_end = pipe_ends.next().unwrap_or(text.len());
        // Errors at the end of a command point just past its last token, or just past its
        // pipe when it is empty.
        let end = segment.last().map_or(pipe_end, |t| t.span.end);
        let mut parser = Parser { text, tokens: segment, pos: 0, end, depth: 0 };
        let command = parser.command(commands.is_empty())?;
        commands.push(command);
    }
    Ok(commands)
}

struct Parser<'a> {
    text: &'a str,
    tokens: &'a [Token],
    pos: usize,
    /// Offset just past the segment, for errors at its end.
    end: usize,
    /// Current nesting of `NOT` and parentheses, bounded so recursion cannot exhaust the
    /// stack.
    depth: usize,
}

/// Deepest nesting of `NOT` and parentheses in one condition.
pub const MAX_CONDITION_DEPTH: usize = 64;

impl<'a> Parser<'a> {
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
    /// Splunk only recognizes in capitals.
    fn at_operator(&self, keyword: &str) -> bool {
        self.peek().and_then(Token::word) == Some(keyword)
    }

    fn skip_comma(&mut self) {
        if self.peek().is_some_and(|t| t.kind == TokenKind::Comma) {
            self.pos += 1;
        }
    }

    /// A field name or value: a word or a quoted string.
    fn text_item(&mut self, expected: &str) -> ParseResult<(String, Range<usize>)> {
        match self.peek() {
            Some(Token { kind: TokenKind::Word(w) | TokenKind::Quoted(w), span }) => {
                self.pos += 1;
                Ok((w.clone(), span.clone()))
            }
            _ => self.expected(expected),
        }
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

    fn finish(&self, expected: &str) -> ParseResult<()> {
        if self.peek().is_some() { self.expected(expected) } else { Ok(()) }
    }

    fn command(&mut self, first: bool) -> ParseResult<Command> {
        let (name, span) = self.word("a command")?;
        let command = match name.as_str() {
            "tstats" if first => Command::Tstats(self.tstats(span.start)?),
            "tstats" => {
                let what = "`tstats` after the first command".to_owned();
                return Err((SplErrorKind::Unsupported(what), span));
            }
            "search" if first => {
                let found = "`search` over raw events".to_owned();
                return Err((SplErrorKind::NotGenerating(found), span));
            }
            _ if first => return Err((SplErrorKind::NotGenerating(format!("`{name}`")), span)),
            "rename" => Command::Rename(self.rename()?),
            "convert" => Command::Convert(self.convert()?),
            "search" => Command::Search(self.condition(false)?),
            "where" => Command::Where(self.where_or()?),
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
            _ => return Err((SplErrorKind::UnknownCommand(name), span)),
        };
        self.finish("`|` or the end of the search")?;
        Ok(command)
    }

    fn tstats(&mut self, start: usize) -> ParseResult<Tstats> {
        let mut tstats = Tstats {
            summaries_only: None,
            allow_old_summaries: None,
            fillnull_value: None,
            aggregates: Vec::new(),
            datamodel: String::new(),
            node: String::new(),
            filter: None,
            by: Vec::new(),
            span: start..self.end,
        };
        while let (Some(name), Some(Token { kind: TokenKind::Op(CompareOp::Eq), .. })) =
            (self.peek(), self.peek_at(1))
        {
            let Some(option) = name.word() else { break };
            let option_span = name.span.clone();
            self.pos += 2;
            match option {
                "summariesonly" => tstats.summaries_only = Some(self.boolean()?),
                "allow_old_summaries" => tstats.allow_old_summaries = Some(self.boolean()?),
                "fillnull_value" => tstats.fillnull_value = Some(self.text_item("a value")?.0),
                _ => {
                    let what = format!("tstats option `{option}`");
                    return Err((SplErrorKind::Unsupported(what), option_span));
                }
            }
        }
        let mut aggregate_fields = Vec::new();
        while self.peek().is_some() && !self.at_keyword("from") {
            if self.at_keyword("where") || self.at_keyword("by") {
                return Err((SplErrorKind::TstatsWithoutFrom, self.here()));
            }
            let (aggregate, field_span) = self.aggregate()?;
            if let (Some(field), Some(span)) = (&aggregate.field, field_span) {
                aggregate_fields.push((field.clone(), span));
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
        let (model, node) = datamodel
            .split_once('.')
            .filter(|(model, node)| !model.is_empty() && !node.is_empty() && !node.contains('.'))
            .ok_or_else(|| {
                let kind = SplErrorKind::Expected {
                    expected: "`datamodel=<model>.<node>`".to_owned(),
                    found: format!("`{datamodel}`"),
                };
                (kind, datamodel_span.start..value_span.end)
            })?;
        if !crate::datamodel::is_mapped_node(model, node) {
            // Splunk would return this node's rows; no event maps to it here, so an empty
            // result would be a silent false negative.
            let kind = SplErrorKind::UnsupportedDataModel(format!("{model}.{node}"));
            return Err((kind, value_span));
        }
        model.clone_into(&mut tstats.datamodel);
        node.clone_into(&mut tstats.node);
        for (field, span) in aggregate_fields {
            check_node_field(&field, node, span)?;
        }
        if self.at_keyword("where") {
            self.pos += 1;
            let filter = self.condition(true)?;
            check_condition_fields(&filter, node, self.tokens, self.text)?;
            tstats.filter = Some(filter);
        }
        if self.at_keyword("by") {
            self.pos += 1;
            while self.peek().is_some() {
                if self.peek_at(1).is_some_and(|t| matches!(t.kind, TokenKind::Op(_))) {
                    let what =
                        format!("`{}` option of tstats `by`", self.found().trim_matches('`'));
                    return Err((SplErrorKind::Unsupported(what), self.here()));
                }
                let (field, span) = self.text_item("a field")?;
                check_node_field(&field, node, span)?;
                tstats.by.push(field);
                self.skip_comma();
            }
            if tstats.by.is_empty() {
                return self.expected("a field after `by`");
            }
        }
        self.finish("`where`, `by`, `|` or the end of the search")?;
        Ok(tstats)
    }

    fn boolean(&mut self) -> ParseResult<bool> {
        let (value, span) = self.text_item("`true` or `false`")?;
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

    /// `count`, `func(field)`, each optionally `as name`; also the span of its field.
    fn aggregate(&mut self) -> ParseResult<(Aggregate, Option<Range<usize>>)> {
        let (name, span) = self.word("an aggregate such as `count`")?;
        let has_paren = self.peek().is_some_and(|t| t.kind == TokenKind::LParen);
        let Some(function) = AggregateFunction::from_name(&name) else {
            self.pos -= 1;
            if has_paren {
                let what = format!("aggregate function `{name}`");
                return Err((SplErrorKind::Unsupported(what), span));
            }
            return self.expected("an aggregate such as `count` or `from`");
        };
        let (field, field_span, call_end) = if has_paren {
            self.pos += 1;
            let (field, field_span) = self.text_item("a field")?;
            let close = self.expect_kind(&TokenKind::RParen, "`)`")?;
            (Some(field), Some(field_span), close.end)
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
        Ok((Aggregate { function, field, output }, field_span))
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
                return Err((SplErrorKind::Unsupported(what), option_span));
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
                return Err((SplErrorKind::Unsupported(what), span));
            }
            self.expect_kind(&TokenKind::LParen, "`(`")?;
            let (field, field_span) = self.text_item("a field")?;
            if field.contains('*') {
                let what = "wildcards in `ctime()`".to_owned();
                return Err((SplErrorKind::Unsupported(what), field_span));
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

    fn condition(&mut self, stop_at_by: bool) -> ParseResult<Condition> {
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
            return Err((SplErrorKind::Unsupported(what), self.here()));
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
            TokenKind::Word(word) => {
                let next = self.peek_at(1).map(|t| &t.kind);
                if let Some(TokenKind::Op(op)) = next {
                    let op = *op;
                    if op == CompareOp::EqEq {
                        let what = "`==` in a search; use `=`".to_owned();
                        let span = self.peek_at(1).map_or(self.here(), |t| t.span.clone());
                        return Err((SplErrorKind::Unsupported(what), span));
                    }
                    self.pos += 2;
                    let (value, _) = self.text_item("a value")?;
                    return Ok(Condition::Compare {
                        field: word.clone(),
                        op,
                        value: Pattern::new(&value),
                    });
                }
                if self.peek_at(1).and_then(Token::word) == Some("IN") {
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
                            _ => values.push(Pattern::new(&self.text_item("a value")?.0)),
                        }
                        self.skip_comma();
                    }
                    return Ok(Condition::In { field: word.clone(), values });
                }
                if word == "*" {
                    self.pos += 1;
                    return Ok(Condition::Any);
                }
                let what = format!("free-text term `{word}`; write `field=value`");
                Err((SplErrorKind::Unsupported(what), token.span.clone()))
            }
            TokenKind::Quoted(_) => {
                let what =
                    format!("free-text term {}; write `field=value`", token.describe(self.text));
                Err((SplErrorKind::Unsupported(what), token.span.clone()))
            }
            _ => self.expected("a search term"),
        }
    }

    fn where_or(&mut self) -> ParseResult<WhereExpr> {
        let mut terms = vec![self.where_and()?];
        while self.at_operator("OR") {
            self.pos += 1;
            terms.push(self.where_and()?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { WhereExpr::Or(terms) })
    }

    fn where_and(&mut self) -> ParseResult<WhereExpr> {
        let mut terms = vec![self.where_not()?];
        while self.at_operator("AND") {
            self.pos += 1;
            terms.push(self.where_not()?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { WhereExpr::And(terms) })
    }

    fn where_not(&mut self) -> ParseResult<WhereExpr> {
        self.nest()?;
        let expr = self.where_not_nested();
        self.depth -= 1;
        expr
    }

    fn where_not_nested(&mut self) -> ParseResult<WhereExpr> {
        if self.at_operator("NOT") {
            self.pos += 1;
            return Ok(WhereExpr::Not(Box::new(self.where_not()?)));
        }
        if let Some(open) = self.peek().filter(|t| t.kind == TokenKind::LParen) {
            self.pos += 1;
            let inner = self.where_or()?;
            return match self.peek() {
                None => Err((SplErrorKind::UnclosedParen, open.span.clone())),
                Some(t) if t.kind == TokenKind::RParen => {
                    self.pos += 1;
                    Ok(inner)
                }
                Some(_) => self.expected("`)`"),
            };
        }
        let left = self.operand()?;
        let op = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Op(op)) => *op,
            _ => return self.expected("a comparison operator"),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(WhereExpr::Compare { left, op, right })
    }

    fn operand(&mut self) -> ParseResult<Operand> {
        let Some(token) = self.peek() else {
            return self.expected("a field, number or quoted string");
        };
        let operand = match &token.kind {
            TokenKind::Quoted(text) => Operand::Text(text.clone()),
            TokenKind::Word(word) => {
                if self.peek_at(1).is_some_and(|t| t.kind == TokenKind::LParen) {
                    let what = format!("function `{word}()` in `where`");
                    return Err((SplErrorKind::Unsupported(what), token.span.clone()));
                }
                if word.parse::<f64>().is_ok_and(f64::is_finite) {
                    Operand::Number(word.clone())
                } else if word.contains('*') || matches!(word.as_str(), "AND" | "OR" | "NOT") {
                    return self.expected("a field, number or quoted string");
                } else {
                    Operand::Field(word.clone())
                }
            }
            _ => return self.expected("a field, number or quoted string"),
        };
        self.pos += 1;
        Ok(operand)
    }
}

/// Checks that a `tstats` field is `_time` or a field of `node`.
fn check_node_field(field: &str, node: &str, span: Range<usize>) -> ParseResult<()> {
    let of_node = field.strip_prefix(node).and_then(|rest| rest.strip_prefix('.'));
    if field == "_time" || of_node.is_some_and(|name| !name.is_empty()) {
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
        Condition::Not(inner) => check_condition_fields(inner, node, tokens, text),
        Condition::And(terms) | Condition::Or(terms) => {
            terms.iter().try_for_each(|t| check_condition_fields(t, node, tokens, text))
        }
    }
}
