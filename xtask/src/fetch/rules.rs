//! The dataset URLs that rules name, read straight from the rule YAML so that the lock can be
//! checked and updated without the content loader. Only two fields are read: `tags.dataset`
//! and `tests[].attack_data[].data`; everything else in a rule is ignored here.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use serde_yaml::Value;

/// Every dataset URL named by a rule under `detections` (`**/*.yml`), sorted and deduplicated.
/// A missing folder names none.
pub(crate) fn dataset_urls(detections: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut urls = BTreeSet::new();
    if !detections.exists() {
        return Ok(urls);
    }
    let mut folders = vec![detections.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?;
        for entry in entries {
            let path = entry.with_context(|| format!("cannot list {}", folder.display()))?.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "yml") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let rule: Value = serde_yaml::from_str(&text)
                .with_context(|| format!("{} is not YAML", path.display()))?;
            let tagged = match &rule["tags"]["dataset"] {
                Value::Sequence(items) => items.iter().collect(),
                single => vec![single],
            };
            let tested = rule["tests"].as_sequence().into_iter().flatten().flat_map(|test| {
                test["attack_data"].as_sequence().into_iter().flatten().map(|data| &data["data"])
            });
            urls.extend(
                tagged.into_iter().chain(tested).filter_map(Value::as_str).map(str::to_owned),
            );
        }
    }
    Ok(urls)
}
