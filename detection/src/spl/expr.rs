//! Eval expressions, the language of `eval`, `where` and `stats … eval(…)`: their own
//! lexer (an expression is not split like search terms: `a+b` is a sum, `a.b` a
//! concatenation) and a precedence-climbing parser into [`Expr`]. Function names are checked
//! against the functions the evaluator knows, so an unknown one is an error at its span.
//!
//! Precedence, from the loosest: `XOR`, `OR`, `AND`, `NOT` (the Search Reference, eval:
//! "The order in which Boolean expressions are evaluated with the eval command is:
//! Expressions within parentheses; NOT clauses; AND clauses; OR clauses; XOR clauses"), then
//! comparisons (`=` `==` `!=` `<` `<=` `>` `>=` `LIKE` `IN`), `.`, `+` `-`, `*` `/` `%`, unary
//! `-` — the documentation is silent on these, and this is the conventional order. Keywords
//! are case-insensitive. Bare names are fields; names with other characters than letters,
//! digits and `_` are written in single quotes (`'Processes.process_name'`), and a double
//! quoted string is text, its `\\`, `\"`, `\t` and `\n` escapes read as such.

use std::ops::Range;

use super::error::SplErrorKind;
use super::parser::ParseError;

/// An eval expression and where it is in the expanded search.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Byte range in the expanded search.
    #[serde(skip)]
    pub span: Range<usize>,
}

impl PartialEq for Expr {
    /// Expressions are equal by structure, wherever they are written.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ExprKind {
    /// A field's value.
    Field(String),
    /// A double-quoted string.
    Text(String),
    /// A number literal.
    Number(f64),
    /// `name(args…)`: a function of the evaluator.
    Call {
        /// The function name, lower-cased.
        name: String,
        /// The arguments, unevaluated.
        args: Vec<Expr>,
    },
    /// `NOT e`.
    Not(Box<Expr>),
    /// `-e`.
    Negate(Box<Expr>),
    /// `left op right`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `e IN (a, b, …)`.
    In {
        /// The tested value.
        value: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
    },
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BinaryOp {
    /// `OR`
    Or,
    /// `XOR`
    Xor,
    /// `AND`
    And,
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `LIKE`: SQL wildcards `%` and `_`.
    Like,
    /// `.`: string concatenation.
    Concat,
    /// `+`: addition, or concatenation of two strings.
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Or => "OR",
            Self::Xor => "XOR",
            Self::And => "AND",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Like => "LIKE",
            Self::Concat => ".",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
        }
    }

    pub(crate) fn precedence(self) -> u8 {
        match self {
            Self::Xor => 1,
            Self::Or => 2,
            Self::And => 3,
            Self::Eq | Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge | Self::Like => 5,
            Self::Concat => 6,
            Self::Add | Self::Sub => 7,
            Self::Mul | Self::Div | Self::Mod => 8,
        }
    }
}

/// Precedence of `NOT`: above `AND`, below comparisons.
pub(crate) const NOT_PRECEDENCE: u8 = 4;
/// Precedence of `IN`, a comparison.
pub(crate) const IN_PRECEDENCE: u8 = 5;

/// Deepest nesting of parentheses, calls and unary operators in one expression.
pub const MAX_EXPR_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Text(String),
    /// A bare name (`process_name`) or a keyword.
    Name(String),
    /// A single-quoted field name.
    QuotedName(String),
    LParen,
    RParen,
    Comma,
    Op(BinaryOp),
    /// `=` alone, which is both assignment and equality.
    Assign,
    Minus,
    /// A character an expression cannot hold here (`|`, `]`, …): the expression ends.
    Stop,
}

/// Expression tokens over `text[start..]`, read one at a time.
struct Lexer<'t> {
    text: &'t str,
    pos: usize,
}

impl Lexer<'_> {
    fn skip_blanks(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The next token and its span, without consuming it.
    fn peek(&mut self) -> Result<Option<(Tok, Range<usize>)>, ParseError> {
        self.skip_blanks();
        let start = self.pos;
        let rest = &self.text[start..];
        let Some(first) = rest.chars().next() else { return Ok(None) };
        let two = rest.get(..2).unwrap_or("");
        let (tok, len) = match first {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '+' => (Tok::Op(BinaryOp::Add), 1),
            '-' => (Tok::Minus, 1),
            '*' => (Tok::Op(BinaryOp::Mul), 1),
            '/' => (Tok::Op(BinaryOp::Div), 1),
            '%' => (Tok::Op(BinaryOp::Mod), 1),
            // `.5` is a number, but `a.5` and `a .5` concatenate.
            '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit())
                || self.text[..start].trim_end().ends_with(|c: char| {
                    c.is_alphanumeric() || matches!(c, '_' | ')' | '\'' | '"')
                }) =>
            {
                (Tok::Op(BinaryOp::Concat), 1)
            }
            '=' if two == "==" => (Tok::Op(BinaryOp::Eq), 2),
            '=' => (Tok::Assign, 1),
            '!' if two == "!=" => (Tok::Op(BinaryOp::Ne), 2),
            '<' if two == "<=" => (Tok::Op(BinaryOp::Le), 2),
            '<' if two == "<>" => (Tok::Op(BinaryOp::Ne), 2),
            '<' => (Tok::Op(BinaryOp::Lt), 1),
            '>' if two == ">=" => (Tok::Op(BinaryOp::Ge), 2),
            '>' => (Tok::Op(BinaryOp::Gt), 1),
            '"' => {
                let (value, len) =
                    eval_string(rest).ok_or((SplErrorKind::UnclosedQuote, start..start + 1))?;
                (Tok::Text(value), len)
            }
            '\'' => {
                let close =
                    rest[1..].find('\'').ok_or((SplErrorKind::UnclosedQuote, start..start + 1))?;
                (Tok::QuotedName(rest[1..=close].to_owned()), close + 2)
            }
            c if c.is_ascii_digit() || c == '.' => {
                let len = number_len(rest);
                let value = rest[..len].parse::<f64>().map_err(|_| {
                    let kind = SplErrorKind::Expected {
                        expected: "a number".to_owned(),
                        found: format!("`{}`", &rest[..len]),
                    };
                    (kind, start..start + len)
                })?;
                (Tok::Num(value), len)
            }
            c if c.is_alphanumeric() || c == '_' || c == '@' || c == '$' => {
                let len = rest
                    .char_indices()
                    .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '@' | '$' | ':')))
                    .map_or(rest.len(), |(idx, _)| idx);
                (Tok::Name(rest[..len].to_owned()), len)
            }
            _ => (Tok::Stop, first.len_utf8()),
        };
        Ok(Some((tok, start..start + len)))
    }

    fn bump(&mut self, span: &Range<usize>) {
        self.pos = span.end;
    }
}

/// The text and byte length of the eval string at the start of `rest`. One level of escapes
/// is read, as the Search Manual's example shows (`"C:\\windows\temp"` holds a tab): `\\`,
/// `\"`, `\t`, `\n`; any other backslash stays, so `"\d+"` reaches a regex as `\d+`.
fn eval_string(rest: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((idx, ch)) = chars.next() {
        match ch {
            '"' => return Some((value, idx + 1)),
            '\\' => match rest[idx + 1..].chars().next() {
                Some(escaped @ ('"' | '\\')) => {
                    value.push(escaped);
                    chars.next();
                }
                Some('t') => {
                    value.push('\t');
                    chars.next();
                }
                Some('n') => {
                    value.push('\n');
                    chars.next();
                }
                _ => value.push('\\'),
            },
            _ => value.push(ch),
        }
    }
    None
}

/// Length of the number at the start of `rest`: digits, a fraction, an exponent.
fn number_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut len = 0;
    while bytes.get(len).is_some_and(u8::is_ascii_digit) {
        len += 1;
    }
    if bytes.get(len) == Some(&b'.') {
        len += 1;
        while bytes.get(len).is_some_and(u8::is_ascii_digit) {
            len += 1;
        }
    }
    if matches!(bytes.get(len), Some(b'e' | b'E')) {
        let mut end = len + 1;
        if matches!(bytes.get(end), Some(b'+' | b'-')) {
            end += 1;
        }
        if bytes.get(end).is_some_and(u8::is_ascii_digit) {
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            len = end;
        }
    }
    len
}

/// Whether `name` is a keyword of expressions (case-insensitive).
fn keyword(name: &str) -> Option<&'static str> {
    ["AND", "OR", "XOR", "NOT", "LIKE", "IN"]
        .into_iter()
        .find(|keyword| name.eq_ignore_ascii_case(keyword))
}

/// Parses expressions out of a search text.
pub(crate) struct ExprParser<'t> {
    lexer: Lexer<'t>,
    depth: usize,
    /// Whether a call names a function the evaluator knows (see [`ExprParser::new`]).
    known_function: fn(&str, usize) -> Result<(), String>,
}

impl<'t> ExprParser<'t> {
    /// A parser of `text` from byte `start`; `known_function(name, arity)` says whether a
    /// call is one the evaluator can run (`Err` with the reason otherwise).
    pub(crate) fn new(
        text: &'t str,
        start: usize,
        known_function: fn(&str, usize) -> Result<(), String>,
    ) -> Self {
        Self { lexer: Lexer { text, pos: start }, depth: 0, known_function }
    }

    /// Byte offset just past what was parsed (blanks after it skipped).
    pub(crate) fn position(&mut self) -> usize {
        self.lexer.skip_blanks();
        self.lexer.pos
    }

    /// Whether nothing but blanks is left before `end`.
    #[cfg(test)]
    pub(crate) fn at_end(&mut self, end: usize) -> bool {
        self.position() >= end
    }

    /// If the next token is `,`, consumes it.
    pub(crate) fn eat_comma(&mut self) -> Result<bool, ParseError> {
        if let Some((Tok::Comma, span)) = self.lexer.peek()? {
            self.lexer.bump(&span);
            return Ok(true);
        }
        Ok(false)
    }

    /// A field name to assign to (`name` or `'quoted name'`) followed by `=`. An unquoted
    /// name runs to the `=`: Splunk takes `feature_-value=…` as the field `feature_-value`.
    pub(crate) fn assignment_target(&mut self) -> Result<(String, Range<usize>), ParseError> {
        self.lexer.skip_blanks();
        let start = self.lexer.pos;
        let rest = &self.lexer.text[start..];
        if !rest.starts_with(['\'', '"']) {
            let len = rest
                .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            if len > 0 && !rest[..len].contains(['(', ')', '|', '[', ']']) {
                let name = rest[..len].to_owned();
                let span = start..start + len;
                self.lexer.bump(&span);
                match self.lexer.peek()? {
                    Some((Tok::Assign, eq)) => self.lexer.bump(&eq),
                    other => return Err(self.expected_at("`=`", other)),
                }
                return Ok((name, span));
            }
        }
        let (name, span) = match self.lexer.peek()? {
            Some((Tok::Name(name) | Tok::QuotedName(name) | Tok::Text(name), span)) => (name, span),
            other => return Err(self.expected_at("a field name", other)),
        };
        self.lexer.bump(&span);
        match self.lexer.peek()? {
            Some((Tok::Assign, eq)) => self.lexer.bump(&eq),
            other => return Err(self.expected_at("`=`", other)),
        }
        Ok((name, span))
    }

    /// A whole expression; stops before a `,`, an unmatched `)` or anything that cannot
    /// continue it.
    pub(crate) fn expression(&mut self) -> Result<Expr, ParseError> {
        self.binary(1)
    }

    fn expected_at(&self, expected: &str, found: Option<(Tok, Range<usize>)>) -> ParseError {
        let (found, span) = match found {
            Some((_, span)) => (format!("`{}`", &self.lexer.text[span.clone()]), span),
            None => ("end of command".to_owned(), self.lexer.pos..self.lexer.pos),
        };
        (SplErrorKind::Expected { expected: expected.to_owned(), found }, span)
    }

    fn nest(&mut self, span: &Range<usize>) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            let what = format!("expressions nested deeper than {MAX_EXPR_DEPTH} levels");
            return Err((SplErrorKind::Unsupported(what), span.clone()));
        }
        Ok(())
    }

    /// The binary operator next, if any, with its span; `=` compares here.
    fn peek_operator(&mut self) -> Result<Option<(BinaryOp, Range<usize>)>, ParseError> {
        Ok(match self.lexer.peek()? {
            Some((Tok::Op(op), span)) => Some((op, span)),
            Some((Tok::Assign, span)) => Some((BinaryOp::Eq, span)),
            Some((Tok::Minus, span)) => Some((BinaryOp::Sub, span)),
            Some((Tok::Name(name), span)) => match keyword(&name) {
                Some("AND") => Some((BinaryOp::And, span)),
                Some("OR") => Some((BinaryOp::Or, span)),
                Some("XOR") => Some((BinaryOp::Xor, span)),
                Some("LIKE") => Some((BinaryOp::Like, span)),
                _ => None,
            },
            _ => None,
        })
    }

    fn at_in_keyword(&mut self) -> Result<Option<Range<usize>>, ParseError> {
        Ok(match self.lexer.peek()? {
            Some((Tok::Name(name), span)) if keyword(&name) == Some("IN") => Some(span),
            _ => None,
        })
    }

    fn binary(&mut self, min_precedence: u8) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            if IN_PRECEDENCE >= min_precedence
                && let Some(span) = self.at_in_keyword()?
            {
                self.lexer.bump(&span);
                let list = self.in_list()?;
                let span = left.span.start..self.lexer.pos;
                left = Expr { kind: ExprKind::In { value: Box::new(left), list }, span };
                continue;
            }
            let Some((op, op_span)) = self.peek_operator()? else { break };
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            self.lexer.bump(&op_span);
            // Comparisons do not chain; the others associate to the left.
            let right = self.binary(precedence + 1)?;
            let span = left.span.start..right.span.end;
            left = Expr {
                kind: ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) },
                span,
            };
        }
        Ok(left)
    }

    fn in_list(&mut self) -> Result<Vec<Expr>, ParseError> {
        match self.lexer.peek()? {
            Some((Tok::LParen, span)) => self.lexer.bump(&span),
            other => return Err(self.expected_at("`(` after `IN`", other)),
        }
        let mut list = Vec::new();
        loop {
            list.push(self.expression()?);
            match self.lexer.peek()? {
                Some((Tok::Comma, span)) => self.lexer.bump(&span),
                Some((Tok::RParen, span)) => {
                    self.lexer.bump(&span);
                    return Ok(list);
                }
                other => return Err(self.expected_at("`,` or `)`", other)),
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let Some((tok, span)) = self.lexer.peek()? else {
            return Err(self.expected_at("an expression", None));
        };
        match tok {
            Tok::Name(name) if keyword(&name) == Some("NOT") => {
                self.lexer.bump(&span);
                self.nest(&span)?;
                let inner = self.binary(NOT_PRECEDENCE)?;
                self.depth -= 1;
                let whole = span.start..inner.span.end;
                Ok(Expr { kind: ExprKind::Not(Box::new(inner)), span: whole })
            }
            Tok::Minus => {
                self.lexer.bump(&span);
                self.nest(&span)?;
                let inner = self.unary()?;
                self.depth -= 1;
                let whole = span.start..inner.span.end;
                Ok(match inner.kind {
                    ExprKind::Number(n) => Expr { kind: ExprKind::Number(-n), span: whole },
                    _ => Expr { kind: ExprKind::Negate(Box::new(inner)), span: whole },
                })
            }
            Tok::Op(BinaryOp::Add) => {
                self.lexer.bump(&span);
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let found = self.lexer.peek()?;
        let Some((tok, span)) = found.clone() else {
            return Err(self.expected_at("an expression", None));
        };
        match tok {
            Tok::Num(value) => {
                self.lexer.bump(&span);
                Ok(Expr { kind: ExprKind::Number(value), span })
            }
            Tok::Text(text) => {
                self.lexer.bump(&span);
                Ok(Expr { kind: ExprKind::Text(text), span })
            }
            Tok::QuotedName(name) => {
                self.lexer.bump(&span);
                Ok(Expr { kind: ExprKind::Field(name), span })
            }
            Tok::LParen => {
                self.lexer.bump(&span);
                self.nest(&span)?;
                let inner = self.expression()?;
                self.depth -= 1;
                match self.lexer.peek()? {
                    Some((Tok::RParen, close)) => {
                        self.lexer.bump(&close);
                        Ok(Expr { kind: inner.kind, span: span.start..close.end })
                    }
                    _ => Err((SplErrorKind::UnclosedParen, span)),
                }
            }
            // `like(…)` and `in(…)` are functions as well as operators.
            Tok::Name(name)
                if keyword(&name).is_none()
                    || (matches!(keyword(&name), Some("LIKE" | "IN"))
                        && self.next_is_paren(&span)) =>
            {
                self.lexer.bump(&span);
                if let Some((Tok::LParen, open)) = self.lexer.peek()? {
                    self.lexer.bump(&open);
                    return self.call(&name, span, open);
                }
                Ok(Expr { kind: ExprKind::Field(name), span })
            }
            _ => Err(self.expected_at("a field, number, string or function call", found)),
        }
    }

    /// Whether `(` follows the token at `span`.
    fn next_is_paren(&self, span: &Range<usize>) -> bool {
        self.lexer.text[span.end..].trim_start().starts_with('(')
    }

    fn call(
        &mut self,
        name: &str,
        name_span: Range<usize>,
        open: Range<usize>,
    ) -> Result<Expr, ParseError> {
        self.nest(&open)?;
        let mut args = Vec::new();
        if let Some((Tok::RParen, close)) = self.lexer.peek()? {
            self.lexer.bump(&close);
        } else {
            loop {
                args.push(self.expression()?);
                match self.lexer.peek()? {
                    Some((Tok::Comma, comma)) => self.lexer.bump(&comma),
                    Some((Tok::RParen, close)) => {
                        self.lexer.bump(&close);
                        break;
                    }
                    None => return Err((SplErrorKind::UnclosedParen, open)),
                    other => return Err(self.expected_at("`,` or `)`", other)),
                }
            }
        }
        self.depth -= 1;
        let lowered = name.to_ascii_lowercase();
        (self.known_function)(&lowered, args.len()).map_err(|reason| {
            let kind = if reason.is_empty() {
                SplErrorKind::UnknownFunction(name.to_owned())
            } else {
                let found = format!("{} argument(s)", args.len());
                SplErrorKind::Expected { expected: format!("{reason} for {name}()"), found }
            };
            (kind, name_span.clone())
        })?;
        let span = name_span.start..self.lexer.pos;
        Ok(Expr { kind: ExprKind::Call { name: lowered, args }, span })
    }
}

impl Expr {
    /// Every field the expression reads, in order of first use.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields = Vec::new();
        self.visit(&mut |expr| {
            if let ExprKind::Field(name) = &expr.kind
                && !fields.contains(&name.as_str())
            {
                fields.push(name.as_str());
            }
        });
        fields
    }

    /// Calls `f` on this expression and every expression inside it.
    pub fn visit<'e>(&'e self, f: &mut dyn FnMut(&'e Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Field(_) | ExprKind::Text(_) | ExprKind::Number(_) => {}
            ExprKind::Call { args, .. } => args.iter().for_each(|arg| arg.visit(f)),
            ExprKind::Not(inner) | ExprKind::Negate(inner) => inner.visit(f),
            ExprKind::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            ExprKind::In { value, list } => {
                value.visit(f);
                for item in list {
                    item.visit(f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)]
    fn any_function(_: &str, _: usize) -> Result<(), String> {
        Ok(())
    }

    fn parse(text: &str) -> Expr {
        let mut parser = ExprParser::new(text, 0, any_function);
        let expr = parser.expression().unwrap();
        assert!(parser.at_end(text.len()), "left over in {text:?}");
        expr
    }

    fn shape(expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Field(name) => name.clone(),
            ExprKind::Text(text) => format!("{text:?}"),
            ExprKind::Number(n) => n.to_string(),
            ExprKind::Call { name, args } => {
                format!("{name}({})", args.iter().map(shape).collect::<Vec<_>>().join(","))
            }
            ExprKind::Not(inner) => format!("(NOT {})", shape(inner)),
            ExprKind::Negate(inner) => format!("(-{})", shape(inner)),
            ExprKind::Binary { op, left, right } => {
                format!("({} {} {})", shape(left), op.symbol(), shape(right))
            }
            ExprKind::In { value, list } => format!(
                "({} IN {})",
                shape(value),
                list.iter().map(shape).collect::<Vec<_>>().join(",")
            ),
        }
    }

    #[test]
    fn precedence_climbs_from_or_to_products() {
        assert_eq!(shape(&parse("a OR b AND c")), "(a OR (b AND c))");
        assert_eq!(shape(&parse("a XOR b OR c")), "(a XOR (b OR c))");
        assert_eq!(shape(&parse("NOT a=1 AND b")), "((NOT (a == 1)) AND b)");
        assert_eq!(shape(&parse("a.b+c*d")), "(a . (b + (c * d)))");
        assert_eq!(shape(&parse("x-1-2")), "((x - 1) - 2)");
        assert_eq!(shape(&parse("-x*2")), "((-x) * 2)");
        assert_eq!(
            shape(&parse("a like \"%x\" or b in (1, \"2\")")),
            "((a LIKE \"%x\") OR (b IN 1,\"2\"))"
        );
    }

    #[test]
    fn names_quotes_numbers_and_calls() {
        assert_eq!(shape(&parse("'Processes.process_name'")), "Processes.process_name");
        assert_eq!(
            shape(&parse("if(match(x, \"^a\\\\d\"), .5, 1e3)")),
            "if(match(x,\"^a\\\\d\"),0.5,1000)"
        );
        assert_eq!(shape(&parse("now()")), "now()");
        assert_eq!(shape(&parse("a.\"b\"")), "(a . \"b\")");
    }

    #[test]
    fn stops_before_what_cannot_continue() {
        let text = "a+1, b=2";
        let mut parser = ExprParser::new(text, 0, any_function);
        assert_eq!(shape(&parser.expression().unwrap()), "(a + 1)");
        assert!(parser.eat_comma().unwrap());
        assert_eq!(parser.assignment_target().unwrap().0, "b");
        assert_eq!(shape(&parser.expression().unwrap()), "2");
    }

    #[test]
    fn errors_name_the_place() {
        let mut parser = ExprParser::new("f(a", 0, any_function);
        assert_eq!(parser.expression().unwrap_err(), (SplErrorKind::UnclosedParen, 1..2));
        let mut parser = ExprParser::new("nosuch(a)", 0, |_, _| Err(String::new()));
        assert_eq!(
            parser.expression().unwrap_err(),
            (SplErrorKind::UnknownFunction("nosuch".to_owned()), 0..6)
        );
    }
}
