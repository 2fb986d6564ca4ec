//! MITRE ATT&CK techniques read from a STIX 2 bundle (`enterprise-attack.json`): id, name and
//! tactics, as the pages show them. Only `attack-pattern` objects are kept; everything else in
//! the bundle is skipped while parsing.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

/// The small bundle shipped with the repository (`attack/enterprise-attack.json`).
const BUNDLED: &str = include_str!("../../attack/enterprise-attack.json");

/// An ATT&CK technique or sub-technique.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Technique {
    /// `T1003.001`: the `external_id` of the object's first external reference.
    pub id: String,
    /// `LSASS Memory`.
    pub name: String,
    /// Tactics as pages print them (`Credential Access`), in the bundle's order.
    pub tactics: Vec<String>,
}

/// Techniques by id.
#[derive(Debug, Clone, Default)]
pub struct Attack {
    techniques: BTreeMap<String, Technique>,
}

/// Why an ATT&CK bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// The bundle is not JSON of the expected shape.
    #[error("{origin}:{line}:{column}: {message}")]
    Json {
        /// Where the bundle came from (a path, or `bundled`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<StixObject>,
}

/// A STIX object; fields of other object types are skipped, not stored.
#[derive(Deserialize)]
struct StixObject {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    external_references: Vec<ExternalReference>,
    #[serde(default)]
    kill_chain_phases: Vec<KillChainPhase>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    x_mitre_deprecated: bool,
}

#[derive(Deserialize)]
struct ExternalReference {
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct KillChainPhase {
    kill_chain_name: String,
    phase_name: String,
}

impl Attack {
    /// The bundle shipped with the repository.
    pub fn bundled() -> Result<Self, AttackError> {
        Self::from_json(BUNDLED.as_bytes(), "bundled attack/enterprise-attack.json")
    }

    /// Reads a bundle; `origin` names it in errors. The full upstream bundle (~40 MB) is read
    /// in one pass into typed objects that keep only the fields used here.
    pub fn from_json(reader: impl Read, origin: &str) -> Result<Self, AttackError> {
        let bundle: Bundle = serde_json::from_reader(reader).map_err(|source| {
            let message = strip_position(&source.to_string(), source.line(), source.column());
            AttackError::Json {
                origin: origin.to_owned(),
                line: source.line(),
                column: source.column(),
                message,
                source,
            }
        })?;
        let mut techniques = BTreeMap::new();
        for object in bundle.objects {
            if object.kind != "attack-pattern" {
                continue;
            }
            let Some(technique) = technique(&object) else { continue };
            // Revoked and deprecated objects may keep an id a current object also uses; the
            // current one wins, otherwise the first seen.
            let current = !object.revoked && !object.x_mitre_deprecated;
            if current || !techniques.contains_key(&technique.id) {
                techniques.insert(technique.id.clone(), technique);
            }
        }
        Ok(Self { techniques })
    }

    /// The technique with `id` (`T1003.001`), if the bundle has it.
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.techniques.get(id)
    }

    /// Number of techniques read.
    pub fn len(&self) -> usize {
        self.techniques.len()
    }

    /// Whether no technique was read.
    pub fn is_empty(&self) -> bool {
        self.techniques.is_empty()
    }
}

fn technique(object: &StixObject) -> Option<Technique> {
    let id = object.external_references.first()?.external_id.clone()?;
    let name = object.name.clone()?;
    let tactics = object
        .kill_chain_phases
        .iter()
        .filter(|phase| phase.kill_chain_name == "mitre-attack")
        .map(|phase| python_title(&phase.phase_name.replace('-', " ")))
        .collect();
    Some(Technique { id, name, tactics })
}

/// Python's `str.title()`: the first cased character of each run of cased characters is
/// upper-cased, the rest lower-cased (`command and control` → `Command And Control`).
pub(crate) fn python_title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_cased = false;
    for ch in text.chars() {
        let cased = ch.is_uppercase() || ch.is_lowercase();
        if cased && previous_cased {
            out.extend(ch.to_lowercase());
        } else if cased {
            out.extend(ch.to_uppercase());
        } else {
            out.push(ch);
        }
        previous_cased = cased;
    }
    out
}

/// `serde_json` appends ` at line L column C`; the error types carry the position separately.
fn strip_position(message: &str, line: usize, column: usize) -> String {
    let suffix = format!(" at line {line} column {column}");
    message.strip_suffix(&suffix).unwrap_or(message).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_cases_like_python() {
        assert_eq!(python_title("command and control"), "Command And Control");
        assert_eq!(python_title("credential access"), "Credential Access");
        assert_eq!(python_title("they're x1y"), "They'Re X1Y");
    }
}
