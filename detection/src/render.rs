//! A detection's documentation page, as the 2021 `security_content` generator laid it out: the
//! template `render/page.md.j2` filled from the rule and ATT&CK data, and the page's file name,
//! which is always one plain name. This module renders text and compares it with pages on
//! disk; writing files is the caller's business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::attack::{Attack, Technique};
use crate::content::{self, Detection, RuleError};

const TEMPLATE_NAME: &str = "page.md.j2";
const TEMPLATE: &str = include_str!("render/page.md.j2");

/// Files in a docs folder that are not pages.
const NOT_PAGES: [&str; 1] = ["README.md"];

/// Why a page could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The rule could not be loaded.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The rule's type gets no page.
    #[error("{}: type {rule_type} gets no page: only detections other than Baseline and Investigation do", path.display())]
    NoPage {
        /// The rule file.
        path: PathBuf,
        /// `Baseline` or `Investigation`.
        rule_type: String,
    },
    /// A technique id is not in the ATT&CK data.
    #[error("{}: technique `{id}` is not in the ATT&CK data", path.display())]
    UnknownTechnique {
        /// The rule file.
        path: PathBuf,
        /// The id as written.
        id: String,
    },
    /// Observables are set but impact or confidence is not, so the RBA row cannot be written.
    #[error("{}: tags.observable needs tags.impact and tags.confidence for the RBA section", path.display())]
    MissingRisk {
        /// The rule file.
        path: PathBuf,
    },
    /// Two rules would write the same page.
    #[error("{}: page `{file}` is also written by {}", second.display(), first.display())]
    DuplicatePage {
        /// The page file name.
        file: String,
        /// The rule that claimed it first.
        first: PathBuf,
        /// The rule that claimed it again.
        second: PathBuf,
    },
    /// The template failed.
    #[error("{}: template {TEMPLATE_NAME}: {source}", path.display())]
    Template {
        /// The rule file.
        path: PathBuf,
        /// The template engine's error.
        #[source]
        source: minijinja::Error,
    },
    /// The page's file name cannot be built safely from the rule.
    #[error("{}: cannot name the page: {reason}", path.display())]
    FileName {
        /// The rule file.
        path: PathBuf,
        /// What is wrong with the date or name.
        reason: String,
    },
    /// A docs folder could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The page's file name, `<date>-<slug>.md`: built only from a date that is a real
/// `YYYY-MM-DD` and a slug without separators or `..` (see [`Detection::slug`]), so it is one
/// plain file name that stays inside whatever folder it is joined to.
pub fn file_name(detection: &Detection) -> Result<String, RenderError> {
    let error = |reason: String| RenderError::FileName { path: detection.path.clone(), reason };
    if !content::is_date(&detection.date) {
        return Err(error(format!(
            "date `{}` is not a real date written YYYY-MM-DD",
            detection.date
        )));
    }
    let name = format!("{}-{}.md", detection.date, detection.slug());
    let mut components = Path::new(&name).components();
    match (components.next(), components.next()) {
        (Some(std::path::Component::Normal(only)), None) if only == name.as_str() => Ok(name),
        _ => Err(error(format!("`{name}` is not a plain file name"))),
    }
}

/// The page of one detection, without a final newline.
pub fn page(detection: &Detection, attack: &Attack) -> Result<String, RenderError> {
    // Built once: compiling the template for each of a tree's thousand pages costs more than
    // rendering them.
    static ENVIRONMENT: std::sync::OnceLock<Result<Environment<'static>, String>> =
        std::sync::OnceLock::new();
    let path = || detection.path.clone();
    if !detection.has_page() {
        return Err(RenderError::NoPage { path: path(), rule_type: detection.rule_type.clone() });
    }
    let context = PageContext::new(detection, attack)?;
    let template_error = |source| RenderError::Template { path: path(), source };
    let env = ENVIRONMENT.get_or_init(|| environment().map_err(|err| err.to_string()));
    let env = env.as_ref().map_err(|detail| {
        template_error(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            detail.clone(),
        ))
    })?;
    env.get_template(TEMPLATE_NAME)
        .and_then(|template| template.render(&context))
        .map_err(template_error)
}

/// Pages of every rule with one under `<root>/detections/`, by file name. Rules of types
/// without a page are listed apart so callers can say so, and rules that cannot be rendered
/// are listed with their errors while the others are still rendered. Only a folder that
/// cannot be walked is an error.
pub fn docs_pages(root: &Path, attack: &Attack) -> Result<DocsPages, RenderError> {
    let mut docs = DocsPages::default();
    let mut owners: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in content::discover_rules(root)? {
        let detection = match content::load_rule(&path) {
            Ok(detection) => detection,
            Err(err) => {
                docs.failures.push(err.into());
                continue;
            }
        };
        if !detection.has_page() {
            docs.without_page.push((path, detection.rule_type));
            continue;
        }
        let rendered = file_name(&detection).and_then(|file| Ok((file, page(&detection, attack)?)));
        match rendered {
            Ok((file, _)) if owners.contains_key(&file) => {
                let first = owners[&file].clone();
                docs.failures.push(RenderError::DuplicatePage { file, first, second: path });
            }
            Ok((file, text)) => {
                docs.pages.insert(file.clone(), text);
                owners.insert(file, path);
            }
            Err(err) => docs.failures.push(err),
        }
    }
    Ok(docs)
}

/// The rendered pages of a content root.
#[derive(Debug, Default)]
pub struct DocsPages {
    /// File name to page text.
    pub pages: BTreeMap<String, String>,
    /// Rules of a type that gets no page, with that type.
    pub without_page: Vec<(PathBuf, String)>,
    /// Rules that could not be rendered, in path order.
    pub failures: Vec<RenderError>,
}

/// How a committed page differs from a fresh render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Staleness {
    /// The page should exist and does not.
    Missing,
    /// The page exists with other text.
    Differs,
    /// No rule renders this page.
    Extra,
}

/// The `.md` files of `dir` that are missing, differ from `pages`, or belong to no rule, by
/// file name. `README.md` is not a page.
pub fn stale_pages(
    dir: &Path,
    pages: &BTreeMap<String, String>,
) -> Result<Vec<(String, Staleness)>, RenderError> {
    let read_error = |source| RenderError::Read { path: dir.to_owned(), source };
    let mut on_disk = BTreeMap::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if path.extension().is_some_and(|e| e == "md") && !NOT_PAGES.contains(&name) {
                let text = std::fs::read(&path)
                    .map_err(|source| RenderError::Read { path: path.clone(), source })?;
                on_disk.insert(name.to_owned(), text);
            }
        }
    }
    let mut stale = Vec::new();
    for (name, text) in pages {
        match on_disk.get(name) {
            None => stale.push((name.clone(), Staleness::Missing)),
            Some(committed) if committed != text.as_bytes() => {
                stale.push((name.clone(), Staleness::Differs));
            }
            Some(_) => {}
        }
    }
    for name in on_disk.keys().filter(|name| !pages.contains_key(*name)) {
        stale.push((name.clone(), Staleness::Extra));
    }
    stale.sort();
    Ok(stale)
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Markdown, not HTML: values are escaped explicitly with `html` so the search can stay raw.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("html", |value: minijinja::Value| html_escape(&value.to_string()));
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    Ok(env)
}

/// HTML escaping as the published pages have it (Python's markupsafe): `&#34;` and `&#39;`
/// for quotes. minijinja's own `escape` writes `&quot;`, `&#x27;` and also escapes `/`, which
/// would change every URL.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A float as Python's `repr` prints it: `80.0`, `12.5`, `1e+16`.
pub fn python_float(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "nan".to_owned()
        } else {
            format!("{}inf", if value < 0.0 { "-" } else { "" })
        };
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        // Rust writes `1e16` and `1.5e-5`; Python writes `1e+16` and `1.5e-05`.
        let text = format!("{value:e}");
        let Some((mantissa, exponent)) = text.split_once('e') else { return text };
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = value.to_string();
    if text.contains('.') { text } else { format!("{text}.0") }
}

#[derive(Serialize)]
struct PageContext<'a> {
    name: &'a str,
    excerpt: String,
    category: String,
    date: &'a str,
    #[serde(rename = "type")]
    rule_type: &'a str,
    techniques: Vec<&'a Technique>,
    products: &'a [String],
    datamodels: &'a [String],
    kill_chain_phases: &'a [String],
    experimental: bool,
    description: &'a str,
    author: &'a str,
    search: &'a str,
    stories: &'a [String],
    how_to_implement: &'a str,
    required_fields: &'a [String],
    known_false_positives: &'a str,
    rba: Option<Rba>,
    references: &'a [String],
    datasets: Vec<&'a str>,
    version: u32,
}

#[derive(Serialize)]
struct Rba {
    risk_score: String,
    impact: u32,
    confidence: u32,
}

impl<'a> PageContext<'a> {
    fn new(detection: &'a Detection, attack: &'a Attack) -> Result<Self, RenderError> {
        let tags = &detection.tags;
        let techniques = tags
            .mitre_attack_id
            .iter()
            .map(|id| {
                attack.technique(id).ok_or_else(|| RenderError::UnknownTechnique {
                    path: detection.path.clone(),
                    id: id.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rba = match (&tags.observable, tags.impact, tags.confidence) {
            (None, _, _) => None,
            (Some(_), Some(impact), Some(confidence)) => Some(Rba {
                risk_score: python_float(f64::from(impact) * f64::from(confidence) / 100.0),
                impact,
                confidence,
            }),
            (Some(_), _, _) => {
                return Err(RenderError::MissingRisk { path: detection.path.clone() });
            }
        };
        Ok(Self {
            name: &detection.name,
            excerpt: techniques.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
            category: capitalize(&detection.kind),
            date: &detection.date,
            rule_type: &detection.rule_type,
            techniques,
            products: &tags.product,
            datamodels: &detection.datamodel,
            kill_chain_phases: &tags.kill_chain_phases,
            experimental: detection.experimental,
            description: &detection.description,
            author: &detection.author,
            search: &detection.search,
            stories: &tags.analytic_story,
            how_to_implement: &detection.how_to_implement,
            required_fields: &tags.required_fields,
            known_false_positives: &detection.known_false_positives,
            rba,
            references: &detection.references,
            datasets: detection.dataset_urls(),
            version: detection.version,
        })
    }
}

/// First letter upper-cased, the rest lower-cased (`endpoint` → `Endpoint`).
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_does() {
        assert_eq!(python_float(80.0), "80.0");
        assert_eq!(python_float(12.5), "12.5");
        assert_eq!(python_float(0.0), "0.0");
        assert_eq!(python_float(0.01), "0.01");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1.5e-5), "1.5e-05");
    }

    #[test]
    fn escapes_like_markupsafe() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
