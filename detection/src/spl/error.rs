//! Errors of compiling a search, each located in the rule's original search text; an error
//! inside an expanded macro names the macros and points at the call.

use std::fmt;
use std::ops::Range;

use super::macros::MacroCallError;

impl From<MacroCallError> for SplErrorKind {
    fn from(error: MacroCallError) -> Self {
        match error {
            MacroCallError::Unclosed { .. } => Self::UnclosedMacroCall,
            MacroCallError::UnclosedComment { .. } => Self::UnclosedComment,
            MacroCallError::Malformed { text, .. } => Self::MalformedMacroCall(text),
        }
    }
}

/// Where in the original search an error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based column, in characters, of the start of `span`.
    pub col: usize,
    /// Byte range in the original search: the offending text, or the whole macro call when
    /// the error comes from a macro's expansion.
    pub span: Range<usize>,
    /// Macros being expanded at the error, outermost first, as `name(N)`; empty when the
    /// error is in the search's own text.
    pub macros: Vec<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "col {}", self.col)?;
        if let Some((innermost, outer)) = self.macros.split_last() {
            write!(f, ": in macro `{innermost}`")?;
            if !outer.is_empty() {
                write!(f, " (via {})", outer.join(" → "))?;
            }
        }
        Ok(())
    }
}

/// A search that cannot be compiled: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search: {location}: {kind}")]
pub struct SplError {
    /// Where the error is in the original search.
    pub location: Location,
    /// What is wrong. Part of this error's message rather than its `source()`, so an error
    /// chain does not print it twice.
    pub kind: SplErrorKind,
}

impl SplError {
    pub(crate) fn new(location: Location, kind: SplErrorKind) -> Self {
        Self { location, kind }
    }

    /// What keeps the engine from evaluating a search Splunk would run, or `None` when the
    /// search itself is wrong (a syntax error, an unknown macro, a field of another node).
    /// Callers count these apart from content errors: they are limits of this engine.
    pub fn blocker(&self) -> Option<Blocker> {
        Some(match &self.kind {
            SplErrorKind::UnknownCommand(name) | SplErrorKind::RefusedCommand { name, .. } => {
                Blocker::Command(name.clone())
            }
            SplErrorKind::NotGenerating(what) => Blocker::Command(what.clone()),
            SplErrorKind::UnknownFunction(name) => Blocker::Function(name.clone()),
            SplErrorKind::UnsupportedDataModel(name) => Blocker::DataModel(name.clone()),
            SplErrorKind::UnknownLookup(name) => Blocker::Lookup(name.clone()),
            SplErrorKind::Unsupported(what) => Blocker::Syntax(what.clone()),
            SplErrorKind::TimeFormat { directive, .. } => {
                Blocker::Syntax(format!("time format directive `{directive}`"))
            }
            _ => return None,
        })
    }
}

/// A limit of this engine that stops a search from being evaluated, grouped as a worklist:
/// which command, eval function, data model node or syntax is missing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Blocker {
    /// A command the engine does not evaluate (`transaction`), or not as the first command.
    Command(String),
    /// An eval function the engine does not evaluate.
    Function(String),
    /// A data model node (or event source) with no mapping from events (`Endpoint.Registry`).
    DataModel(String),
    /// A macro the engine cannot expand.
    Macro(String),
    /// A lookup the content tree does not define: an app beside the content (Enterprise
    /// Security, URL Toolbox) provides it, or a test must supply its rows.
    Lookup(String),
    /// Syntax or an option the engine does not evaluate.
    Syntax(String),
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Command(name) => write!(f, "command {name}"),
            Self::Function(name) => write!(f, "function {name}"),
            Self::DataModel(name) => write!(f, "data model {name}"),
            Self::Macro(name) => write!(f, "macro {name}"),
            Self::Lookup(name) => write!(f, "lookup {name}"),
            Self::Syntax(what) => write!(f, "syntax: {what}"),
        }
    }
}

/// What is wrong with a search.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplErrorKind {
    /// A backquote opens a macro call that never closes.
    #[error("macro call has no closing backquote")]
    UnclosedMacroCall,
    /// Three backquotes open a comment that never closes.
    #[error("comment has no closing ```")]
    UnclosedComment,
    /// A backquoted call's name or parentheses are malformed.
    #[error("malformed macro call `{0}`: expected `name` or `name(arg, …)`")]
    MalformedMacroCall(String),
    /// No macro has this name and arity.
    #[error("unknown macro `{name}`")]
    UnknownMacro {
        /// The macro as `name(N)`.
        name: String,
    },
    /// The macro exists, but not with this many arguments.
    #[error("macro `{name}` called with {given} arguments, defined with {defined}")]
    MacroArity {
        /// The macro's name.
        name: String,
        /// Arguments in the call.
        given: usize,
        /// The argument counts it is defined with, joined by `or`.
        defined: String,
    },
    /// A macro calls itself, directly or not.
    #[error("macro cycle {chain}")]
    MacroCycle {
        /// The calls, `a(0) → b(0) → a(0)`.
        chain: String,
    },
    /// Macro calls nest deeper than the limit.
    #[error("macros nest deeper than {limit} levels")]
    MacroDepth {
        /// The limit.
        limit: usize,
    },
    /// The expanded search grows past the limit.
    #[error("macro expansion exceeds {limit} bytes")]
    MacroSize {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The search as written is longer than the limit.
    #[error("search longer than {limit} bytes")]
    SearchSize {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The search expands more macro calls than the limit.
    #[error("macro expansion exceeds {limit} calls")]
    MacroCalls {
        /// The limit.
        limit: usize,
    },
    /// A double quote opens a string that never closes.
    #[error("unclosed quoted string")]
    UnclosedQuote,
    /// An opening bracket has no matching `]`.
    #[error("unclosed bracket")]
    UnclosedBracket,
    /// An opening parenthesis has no matching `)`.
    #[error("unclosed parenthesis")]
    UnclosedParen,
    /// A character SPL does not allow here.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// The parser wanted something else.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What would have been valid.
        expected: String,
        /// What is there.
        found: String,
    },
    /// A command this engine does not evaluate.
    #[error("unknown or unsupported command `{0}`")]
    UnknownCommand(String),
    /// A lookup the content tree does not define.
    #[error("unknown lookup `{0}`: no lookups/<name>.yml defines it")]
    UnknownLookup(String),
    /// A lookup whose CSV file cannot be read, and why.
    #[error("lookup `{name}`: {message}")]
    LookupTable {
        /// The lookup as the search names it.
        name: String,
        /// Why its file cannot be read, with the file and line.
        message: String,
    },
    /// A command Splunk has that this engine will not run, and why.
    #[error("command `{name}` is not run here: {reason}")]
    RefusedCommand {
        /// The command.
        name: String,
        /// Why.
        reason: String,
    },
    /// An eval function this engine does not evaluate.
    #[error("unknown or unsupported function `{0}`")]
    UnknownFunction(String),
    /// A data model node (or event source) this engine maps no events to, so Splunk could
    /// return rows where the engine would return none.
    #[error("no events map to `{0}` in this engine")]
    UnsupportedDataModel(String),
    /// Syntax Splunk has but this engine does not evaluate.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The first command does not produce results.
    #[error("expected a generating command (`| tstats …`, `| search …`), found {0}")]
    NotGenerating(String),
    /// A data model name that names no dataset of a known model.
    #[error("{0}")]
    DataModel(String),
    /// `tstats` without `from datamodel=…`.
    #[error("tstats needs `from datamodel=<model>.<node>`")]
    TstatsWithoutFrom,
    /// A `tstats` field that is not `_time` nor a field of the node.
    #[error("field `{field}` is not `_time` nor a field of node {node} (write `{node}.<field>`)")]
    ForeignField {
        /// The field as written.
        field: String,
        /// The node of `from datamodel=`.
        node: String,
    },
    /// A `rename` whose sides have different numbers of `*`.
    #[error("rename `{from}` AS `{to}`: both sides need the same number of `*`")]
    RenameWildcards {
        /// The source pattern.
        from: String,
        /// The target pattern.
        to: String,
    },
    /// A regular expression PCRE does not accept.
    #[error("regular expression: {0}")]
    Regex(String),
    /// A `timeformat` with a directive this engine does not format.
    #[error("time format `{format}`: unsupported directive `{directive}`")]
    TimeFormat {
        /// The whole format.
        format: String,
        /// The directive.
        directive: String,
    },
}
