//! MITRE ATT&CK techniques read from a STIX 2 bundle (`enterprise-attack.json`): id, name,
//! tactics as the pages show them, and whether the technique was revoked (and by what) or
//! deprecated. Only `attack-pattern` objects and `revoked-by` relationships are kept;
//! everything else in the bundle is skipped while parsing.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

/// Every Enterprise technique, sub-technique and tactic, trimmed (`attack/README.md`).
const BUNDLED: &str = include_str!("../../attack/enterprise-attack-techniques.json");
const BUNDLED_NAME: &str = "bundled attack/enterprise-attack-techniques.json";

/// An ATT&CK technique or sub-technique.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Technique {
    /// `T1003.001`: the `external_id` of the object's first external reference.
    pub id: String,
    /// `LSASS Memory`.
    pub name: String,
    /// Tactics as pages print them (`Credential Access`), in the bundle's order.
    pub tactics: Vec<String>,
    /// Whether ATT&CK still uses the technique.
    pub status: TechniqueStatus,
}

/// Whether a technique is current, and if not what to use instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TechniqueStatus {
    /// In use.
    Current,
    /// Revoked: merged into or replaced by another technique, named here (`T1574.001`) when
    /// the bundle has a `revoked-by` relationship for it.
    Revoked {
        /// The replacing technique's id.
        replaced_by: Option<String>,
    },
    /// Deprecated: no longer maintained, with no replacement.
    Deprecated,
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
    id: String,
    #[serde(default)]
    relationship_type: Option<String>,
    #[serde(default)]
    source_ref: Option<String>,
    #[serde(default)]
    target_ref: Option<String>,
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
    source_name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct KillChainPhase {
    kill_chain_name: String,
    phase_name: String,
}

impl Attack {
    /// The bundle shipped with the repository: every Enterprise technique of ATT&CK v18.
    pub fn bundled() -> Result<Self, AttackError> {
        Self::from_json(BUNDLED.as_bytes(), BUNDLED_NAME)
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
        // STIX id → technique id, and revoked STIX id → the STIX id that replaced it.
        let mut ids_by_stix: BTreeMap<String, String> = BTreeMap::new();
        let mut replaced_by: BTreeMap<String, String> = BTreeMap::new();
        let mut found = Vec::new();
        for object in bundle.objects {
            match object.kind.as_str() {
                "attack-pattern" => {
                    let Some(technique) = technique(&object) else { continue };
                    ids_by_stix.insert(object.id.clone(), technique.id.clone());
                    found.push((object.id, technique));
                }
                "relationship" if object.relationship_type.as_deref() == Some("revoked-by") => {
                    if let (Some(source), Some(target)) = (object.source_ref, object.target_ref) {
                        replaced_by.insert(source, target);
                    }
                }
                _ => {}
            }
        }
        let mut techniques: BTreeMap<String, Technique> = BTreeMap::new();
        for (stix_id, mut technique) in found {
            if let TechniqueStatus::Revoked { replaced_by: replacement } = &mut technique.status {
                *replacement = replaced_by.get(&stix_id).and_then(|t| ids_by_stix.get(t)).cloned();
            }
            // Revoked and deprecated objects may keep an id a current object also uses; the
            // current one wins, otherwise the first seen.
            let current = technique.status == TechniqueStatus::Current;
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
    // MITRE's own reference carries the id; other sources (CAPEC) follow it in the full bundle.
    let reference = object
        .external_references
        .iter()
        .find(|r| r.source_name.as_deref() == Some("mitre-attack"))
        .or_else(|| object.external_references.first())?;
    let id = reference.external_id.clone()?;
    let name = object.name.clone()?;
    let tactics = object
        .kill_chain_phases
        .iter()
        .filter(|phase| phase.kill_chain_name == "mitre-attack")
        .map(|phase| python_title(&phase.phase_name.replace('-', " ")))
        .collect();
    let status = if object.revoked {
        TechniqueStatus::Revoked { replaced_by: None }
    } else if object.x_mitre_deprecated {
        TechniqueStatus::Deprecated
    } else {
        TechniqueStatus::Current
    };
    Some(Technique { id, name, tactics, status })
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
