//! Rule content in the YAML schema of Splunk's `security_content`: detections and macros, typed, with the
//! location of whatever is wrong in a file. Accepts the 2021 schema (version 1, `tags.dataset`)
//! and the later one (inline `tests`), ignoring keys nothing here reads; checks live in
//! [`validate`].

mod locate;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Types of detection that get no documentation page.
const PAGELESS_TYPES: [&str; 2] = ["Baseline", "Investigation"];

/// A detection rule, with the keys this tool reads. Keys it does not read (`tags.context`,
/// `drilldown_searches`, `tags.cis20`, …) may hold any YAML value; keys it reads are typed,
/// and a wrong type is a [`RuleError::Yaml`] at its line and column.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Detection {
    /// `Dump LSASS via comsvcs DLL`.
    pub name: String,
    /// A UUID, as written.
    pub id: String,
    /// The rule's version.
    pub version: u32,
    /// `YYYY-MM-DD`, as written.
    pub date: String,
    /// Author and organisation.
    pub author: String,
    /// `TTP`, `Anomaly`, `Hunting`, `Baseline`, `Investigation` or `Correlation`, as written.
    #[serde(rename = "type")]
    pub rule_type: String,
    /// The contentctl schema's `production`, `experimental`, `deprecated` or `validation`;
    /// absent in the 2021 schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The contentctl schema's data sources, by the names of `data_sources/*.yml`
    /// (`Sysmon EventID 1`, or several joined by ` AND `).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub data_source: Vec<String>,
    /// CIM data models the search reads (`Endpoint`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub datamodel: Vec<String>,
    /// What the rule detects.
    pub description: String,
    /// The SPL search.
    pub search: String,
    /// How to get the data the rule needs.
    pub how_to_implement: String,
    /// Known benign matches.
    pub known_false_positives: String,
    /// Links.
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<String>,
    /// Tags.
    pub tags: Tags,
    /// Inline tests of the later schema.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tests: Vec<RuleTest>,
    /// Risk-based alerting of the contentctl schema from 2025 on, which replaces
    /// `tags.observable`, `tags.impact` and `tags.confidence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rba: Option<Rba>,
    /// The file the rule was read from (not serialized: it depends on the checkout).
    #[serde(skip)]
    pub path: PathBuf,
    /// The folder kind (`endpoint`, `cloud`, `network`, `web`, `application`).
    #[serde(skip_deserializing)]
    pub kind: String,
    /// Whether the rule sits under `detections/experimental/<kind>/`.
    #[serde(skip_deserializing)]
    pub experimental: bool,
}

/// Which version of the `security_content` schema a rule is written in; checks that differ
/// between them follow the rule's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Schema {
    /// The schema of 2020–2021: no `status`, risk from `tags.impact`/`tags.confidence`,
    /// datasets in `tags.dataset`, pages by the 2021 generator.
    Escu2021,
    /// The contentctl schema (2023 on): `status`, `data_source`, inline `tests`, and from 2025
    /// an `rba` block.
    Contentctl,
}

/// A rule's `tags`, the ones this tool reads; any other tag may hold any YAML value.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Tags {
    /// Analytic stories the rule belongs to.
    #[serde(deserialize_with = "null_as_default")]
    pub analytic_story: Vec<String>,
    /// Confidence, 0–100.
    pub confidence: Option<u32>,
    /// Impact, 0–100.
    pub impact: Option<u32>,
    /// The risk score as written: `impact * confidence / 100` in the 2021 schema; contentctl
    /// computes it and ignores what is written.
    pub risk_score: Option<f64>,
    /// Dataset URLs of the 2021 schema.
    #[serde(deserialize_with = "null_as_default")]
    pub dataset: Vec<String>,
    /// Kill-chain phases.
    #[serde(deserialize_with = "null_as_default")]
    pub kill_chain_phases: Vec<String>,
    /// The risk message, with `$field$` tokens.
    pub message: Option<String>,
    /// ATT&CK technique ids.
    #[serde(deserialize_with = "null_as_default")]
    pub mitre_attack_id: Vec<String>,
    /// Risk-based-alerting observables; `None` when the key is absent.
    pub observable: Option<Vec<Observable>>,
    /// Splunk products.
    #[serde(deserialize_with = "null_as_default")]
    pub product: Vec<String>,
    /// Fields the search needs.
    #[serde(deserialize_with = "null_as_default")]
    pub required_fields: Vec<String>,
    /// Why the rule is tested by hand rather than by its `tests` (contentctl).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_test: Option<String>,
}

/// An observable of risk-based alerting.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Observable {
    /// An output field of the search.
    pub name: String,
    /// `User`, `Hostname`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `Victim`, `Parent Process`, …
    #[serde(default, deserialize_with = "null_as_default")]
    pub role: Vec<String>,
}

/// The `rba` block of the contentctl schema (2025 on).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Rba {
    /// The risk message, with `$field$` tokens.
    pub message: String,
    /// Fields whose values receive risk, each with its score.
    #[serde(default, deserialize_with = "null_as_default")]
    pub risk_objects: Vec<RiskObject>,
    /// Fields that name the threat (a process, a file, a domain).
    #[serde(default, deserialize_with = "null_as_default")]
    pub threat_objects: Vec<ThreatObject>,
}

/// A risk object of an `rba` block.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct RiskObject {
    /// An output field of the search.
    pub field: String,
    /// `user`, `system` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 1–100.
    pub score: i64,
}

/// A threat object of an `rba` block.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ThreatObject {
    /// An output field of the search.
    pub field: String,
    /// `process`, `file_name`, `domain`, …
    #[serde(rename = "type")]
    pub kind: String,
}

/// An inline test of the later schema.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct RuleTest {
    /// The test's name.
    pub name: String,
    /// Datasets to replay.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attack_data: Vec<AttackData>,
}

/// A dataset of an inline test.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct AttackData {
    /// The dataset's URL.
    pub data: String,
    /// Splunk `source`.
    #[serde(default)]
    pub source: Option<String>,
    /// Splunk `sourcetype`.
    #[serde(default)]
    pub sourcetype: Option<String>,
}

/// A dataset as a rule names it (see [`Detection::datasets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDataset<'a> {
    /// The name of the inline test naming it; `None` for the 2021 `tags.dataset`.
    pub test: Option<&'a str>,
    /// A URL, or a path relative to the content root, as written.
    pub data: &'a str,
    /// Splunk `source` to replay it under, when the rule says.
    pub source: Option<&'a str>,
    /// Splunk `sourcetype` to replay it under, when the rule says.
    pub sourcetype: Option<&'a str>,
}

impl RuleDataset<'_> {
    /// Whether `data` is a URL (`scheme://…`) rather than a path in the content tree.
    pub fn is_url(&self) -> bool {
        self.data.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        })
    }
}

/// A search macro.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Macro {
    /// The name without arguments (`security_content_ctime`).
    pub name: String,
    /// The definition, with `$argument$` placeholders.
    pub definition: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Argument names, in call order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub arguments: Vec<String>,
}

/// Why content could not be read. Each variant names the file, and the line and column where
/// the YAML says where.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file or folder could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not have the schema's shape.
    #[error("{}: {message}", Location { path, line: *line, column: *column })]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What was expected, in the parser's words without its location (the location is
        /// in `line` and `column`, so the parser's error is not kept as a source to repeat it).
        message: String,
    },
    /// The file is larger than [`MAX_CONTENT_FILE_BYTES`].
    #[error("{}: file larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The YAML nests flow collections deeper than [`MAX_YAML_NESTING`].
    #[error("{}: brackets nested deeper than {limit} levels", path.display())]
    TooDeep {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The file is not in a `detections/<kind>/` folder.
    #[error(
        "{}: cannot tell the rule's kind: expected the file in detections/<kind>/ or detections/experimental/<kind>/",
        path.display()
    )]
    NoKind {
        /// The file.
        path: PathBuf,
    },
}

impl RuleError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::Yaml { path, .. }
            | Self::TooLarge { path, .. }
            | Self::TooDeep { path, .. }
            | Self::NoKind { path } => path,
        }
    }
}

struct Location<'a> {
    path: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        Ok(())
    }
}

impl Detection {
    /// Parses a rule from `text`; `path` gives its kind (the folder) and names it in errors.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, RuleError> {
        let (kind, experimental) =
            kind_of_path(path).ok_or_else(|| RuleError::NoKind { path: path.to_owned() })?;
        let mut detection: Self = parse_yaml(text, path)?;
        path.clone_into(&mut detection.path);
        detection.kind = kind;
        detection.experimental = experimental;
        Ok(detection)
    }

    /// The schema the rule is written in: contentctl when it has `status` or `rba`.
    pub fn schema(&self) -> Schema {
        if self.status.is_some() || self.rba.is_some() {
            Schema::Contentctl
        } else {
            Schema::Escu2021
        }
    }

    /// The page slug of the 2021 generator: the name lower-cased, spaces to underscores. It is
    /// part of a file name, so it never holds a path separator, a control character or `..`:
    /// those become `_` (no published page has one).
    pub fn slug(&self) -> String {
        let mut slug = String::with_capacity(self.name.len());
        for ch in self.name.to_lowercase().chars() {
            let separator = matches!(ch, ' ' | '/' | '\\') || ch.is_control();
            // The second dot of `..` becomes `_`, so no run of dots survives.
            let second_dot = ch == '.' && slug.ends_with('.');
            slug.push(if separator || second_dot { '_' } else { ch });
        }
        slug
    }

    /// The file stem upstream expects: the name lower-cased with every character other than
    /// an ASCII letter or digit turned into `_` (`…___advpack` for "… - advpack").
    pub fn expected_file_stem(&self) -> String {
        self.name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    }

    /// The rule's generated filter macro: the name lower-cased, spaces, `-`, `.` and `/` to
    /// `_`, then `_filter`.
    pub fn filter_macro_name(&self) -> String {
        crate::spl::filter_macro_name(&self.name)
    }

    /// Dataset URLs: `tags.dataset` (2021 schema) then `tests[].attack_data[].data` (later).
    pub fn dataset_urls(&self) -> Vec<&str> {
        let inline = self.tests.iter().flat_map(|test| &test.attack_data).map(|d| d.data.as_str());
        self.tags.dataset.iter().map(String::as_str).chain(inline).collect()
    }

    /// Every dataset the rule names, in the order it names them: `tags.dataset` (2021
    /// schema), then each `tests[].attack_data[]` with its test's name and the `source` and
    /// `sourcetype` Splunk would index it under. A dataset is a URL or a path relative to the
    /// content root ([`RuleDataset::is_url`]).
    pub fn datasets(&self) -> Vec<RuleDataset<'_>> {
        let tagged = self.tags.dataset.iter().map(|data| RuleDataset {
            test: None,
            data,
            source: None,
            sourcetype: None,
        });
        let inline = self.tests.iter().flat_map(|test| {
            test.attack_data.iter().map(|attack| RuleDataset {
                test: Some(&test.name),
                data: &attack.data,
                source: attack.source.as_deref(),
                sourcetype: attack.sourcetype.as_deref(),
            })
        });
        tagged.chain(inline).collect()
    }

    /// Whether rules of this type get a documentation page (not `Baseline`, `Investigation`).
    pub fn has_page(&self) -> bool {
        !PAGELESS_TYPES.contains(&self.rule_type.as_str())
    }
}

impl Macro {
    /// Parses a macro file's text; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, RuleError> {
        parse_yaml(text, path)
    }

    /// The definition the SPL expander reads; the description is for people only.
    pub fn to_definition(&self) -> crate::spl::MacroDefinition {
        crate::spl::MacroDefinition {
            name: self.name.clone(),
            arguments: self.arguments.clone(),
            definition: self.definition.clone(),
        }
    }
}

/// The macro table of a content root, ready for [`crate::spl::Search::compile`].
pub fn load_macro_table(root: &Path) -> Result<crate::spl::MacroTable, RuleError> {
    Ok(load_macros(root)?.values().map(Macro::to_definition).collect())
}

/// Reads and parses one rule file.
pub fn load_rule(path: &Path) -> Result<Detection, RuleError> {
    Detection::from_yaml(&read_content_file(path)?, path)
}

/// Reads and parses one macro file.
pub fn load_macro(path: &Path) -> Result<Macro, RuleError> {
    Macro::from_yaml(&read_content_file(path)?, path)
}

/// Every rule file (`*.yml`, `*.yaml`) below `<root>/detections/`, sorted, each once.
///
/// Symbolic links are followed, so a folder linked into the tree is read; a link back to a
/// folder being walked (a loop) is skipped with a warning in the log rather than walked
/// forever. A file reached by several paths is listed once, by its real path below `root`
/// (the path without links) when it is inside the tree; a link that leads to the root's
/// other folders (`macros/`) adds nothing.
pub fn discover_rules(root: &Path) -> Result<Vec<PathBuf>, RuleError> {
    discover_rules_in(root, &root.join("detections"))
}

/// Every rule file below `dir`, a folder of `<root>/detections/` (`detections/endpoint/`),
/// as [`discover_rules`] finds them.
pub fn discover_rules_in(root: &Path, dir: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let read_error = |path: &Path, source| RuleError::Read { path: path.to_owned(), source };
    let real_dir = dir.canonicalize().map_err(|source| read_error(dir, source))?;
    let real_root = root.canonicalize().ok();
    let mut seen = std::collections::BTreeSet::new();
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = err.path().unwrap_or(dir).to_owned();
                if let Some(ancestor) = err.loop_ancestor() {
                    log::warn!(
                        "{}: symbolic link to {}, a folder it is in: not followed",
                        path.display(),
                        ancestor.display()
                    );
                    continue;
                }
                if is_yaml(&path) {
                    // A dangling link named like a rule: loading it reports why it cannot be read.
                    files.push(path);
                    continue;
                }
                let source = err
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("cannot walk the folder"));
                return Err(read_error(&path, source));
            }
        };
        if !entry.file_type().is_file() || !is_yaml(entry.path()) {
            continue;
        }
        let real =
            entry.path().canonicalize().map_err(|source| read_error(entry.path(), source))?;
        // A link out to the content root's other folders (macros/, lookups/) finds no rules.
        let elsewhere_in_root =
            real_root.as_ref().is_some_and(|r| real.starts_with(r)) && !real.starts_with(&real_dir);
        if elsewhere_in_root || !seen.insert(real.clone()) {
            continue;
        }
        files.push(match real.strip_prefix(&real_dir) {
            Ok(below) => dir.join(below),
            Err(_) => entry.into_path(),
        });
    }
    files.sort();
    files.dedup();
    Ok(files.into_iter().map(without_dot_prefix).collect())
}

/// Every macro file directly in `<root>/macros/`, sorted; none when the folder is absent.
pub fn discover_macros(root: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let dir = root.join("macros");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> =
        read_dir(&dir)?.into_iter().filter(|p| is_yaml(p)).map(without_dot_prefix).collect();
    files.sort();
    Ok(files)
}

/// All macros of a content root by name; the first broken file is an error.
pub fn load_macros(root: &Path) -> Result<BTreeMap<String, Macro>, RuleError> {
    discover_macros(root)?
        .iter()
        .map(|path| load_macro(path).map(|m| (m.name.clone(), m)))
        .collect()
}

/// The content root of a rule file: the parent of its nearest `detections` ancestor (`.`
/// for a relative path that starts at `detections/`). A path that does not show it
/// (`x.yml` typed inside `detections/endpoint/`, `../endpoint/x.yml`) is looked up from the
/// current folder, and the root is then absolute.
pub fn content_root_of(rule: &Path) -> Option<PathBuf> {
    fn below_detections(rule: &Path) -> Option<PathBuf> {
        let root = rule
            .ancestors()
            .find(|dir| dir.file_name().is_some_and(|n| n == "detections"))?
            .parent()?;
        Some(if root.as_os_str().is_empty() { PathBuf::from(".") } else { root.to_path_buf() })
    }
    below_detections(rule).or_else(|| below_detections(&resolved(rule)?))
}

/// Kind and experimental flag from `…/detections/[experimental/]<kind>/<file>`, or from the
/// parent folder when the file is elsewhere. A relative path too short to show the folder is
/// looked up from the current folder.
fn kind_of_path(path: &Path) -> Option<(String, bool)> {
    fn from_folders(path: &Path) -> Option<(String, bool)> {
        let parent = path.parent()?;
        let kind = parent.file_name()?.to_str()?;
        if kind == "experimental" || kind == "detections" {
            return None;
        }
        let experimental =
            parent.parent().and_then(Path::file_name).is_some_and(|n| n == "experimental");
        Some((kind.to_owned(), experimental))
    }
    from_folders(path).or_else(|| from_folders(&resolved(path)?))
}

/// `path` made absolute from the current folder with `.` and `..` resolved by the file
/// system when it exists (so `..` follows a symbolic link as the shell does), else by name.
/// `None` when the path is already absolute and clean, or the current folder is unknown.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return Some(canonical);
    }
    let absolute = std::path::absolute(path).ok()?;
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    (clean != path).then_some(clean)
}

/// Deepest nesting of `[` and `{` a content file may have. The YAML parser takes time
/// quadratic in this depth (2.4 s for 40,000 levels in a release build, minutes for the
/// 500,000 a 1 MiB file can hold), even under keys the schema ignores; real content nests a
/// few levels.
pub const MAX_YAML_NESTING: usize = 1000;

/// Whether `text` opens more than `limit` brackets without closing them. Quotes are not
/// looked at, so this over-counts only for text with a thousand unmatched brackets.
fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0_usize;
    for byte in text.bytes() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, RuleError> {
    if nests_deeper_than(text, MAX_YAML_NESTING) {
        return Err(RuleError::TooDeep { path: path.to_owned(), limit: MAX_YAML_NESTING });
    }
    serde_yaml::from_str(text).map_err(|source| {
        let location = source.location();
        let (line, column) = (
            location.as_ref().map(serde_yaml::Location::line),
            location.as_ref().map(serde_yaml::Location::column),
        );
        let mut message = source.to_string();
        if let (Some(line), Some(column)) = (line, column) {
            // serde_yaml appends the position; the error carries it separately.
            message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
        }
        RuleError::Yaml { path: path.to_owned(), line, column, message }
    })
}

/// `null` (a key written without a value) reads as the empty default, as in the schema.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Largest rule or macro file read, in bytes. `security_content`'s largest files are tens of
/// kilobytes; a file from a pull request is not read into memory whatever its size.
pub const MAX_CONTENT_FILE_BYTES: u64 = 1 << 20;

/// The text of a content file, refused when larger than [`MAX_CONTENT_FILE_BYTES`] or not
/// UTF-8. Every reader of rules and macros goes through here, so every command has the limit.
pub fn read_content_file(path: &Path) -> Result<String, RuleError> {
    read_text_at_most(path, MAX_CONTENT_FILE_BYTES)
        .map_err(|source| RuleError::Read { path: path.to_owned(), source })?
        .ok_or_else(|| RuleError::TooLarge { path: path.to_owned(), limit: MAX_CONTENT_FILE_BYTES })
}

/// The text of `path` when it holds at most `limit` bytes, read no further than one byte
/// past it: `Ok(None)` when it holds more, whatever size the file claims. Text that is not
/// UTF-8 is an `InvalidData` error.
pub fn read_text_at_most(path: &Path, limit: u64) -> std::io::Result<Option<String>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

/// A YAML content file of another kind (a lookup definition) read and parsed with the
/// limits rules and macros have: the file size cap and the nesting guard.
pub(crate) fn load_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RuleError> {
    parse_yaml(&read_content_file(path)?, path)
}

/// The `id` of a rule that does not load, when its text is at least a mapping with a string
/// `id`; parsed with the same nesting limit as the rule.
pub fn lenient_rule_id(text: &str, path: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    parse_yaml::<IdOnly>(text, path).ok().map(|found| found.id)
}

/// Whether `text` is a real calendar date written `YYYY-MM-DD`.
pub fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else { return false };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return false;
    }
    let all_digits = [year, month, day].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let (Ok(year), Ok(month), Ok(day)) =
        (year.parse::<u32>(), month.parse::<u32>(), day.parse::<u32>())
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    all_digits && (1..=days).contains(&day)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let error = |source| RuleError::Read { path: dir.to_owned(), source };
    std::fs::read_dir(dir)
        .map_err(error)?
        .map(|entry| entry.map(|e| e.path()).map_err(error))
        .collect()
}

/// `./detections/x.yml` → `detections/x.yml`: paths print as a user would type them.
fn without_dot_prefix(path: PathBuf) -> PathBuf {
    match path.strip_prefix(".") {
        Ok(rest) => rest.to_path_buf(),
        Err(_) => path,
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml")
}
