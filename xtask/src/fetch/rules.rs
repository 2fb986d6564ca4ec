//! The dataset URLs that rules name, through the content loader: `tags.dataset` (2021 schema)
//! and `tests[].attack_data[].data` (later schema). A rule that does not load is an error, so
//! the lock is never updated from content the gate would reject.

use std::collections::BTreeSet;
use std::path::Path;

use detection::content;

/// Every dataset URL named by a rule under `detections` (`**/*.yml`), sorted and deduplicated.
/// A missing folder names none.
pub(crate) fn dataset_urls(detections: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut urls = BTreeSet::new();
    if !detections.exists() {
        return Ok(urls);
    }
    let root = detections.parent().unwrap_or(Path::new("."));
    for path in content::discover_rules(root)? {
        let rule = content::load_rule(&path)?;
        urls.extend(rule.dataset_urls().into_iter().map(str::to_owned));
    }
    Ok(urls)
}
