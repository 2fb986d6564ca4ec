//! The dataset URLs that rules name, through the content loader: `tags.dataset` (2021 schema)
//! and `tests[].attack_data[].data` (later schema). A dataset named by a path in the content
//! tree is not fetched and needs no pin, so it is left out. A rule that does not load is an
//! error, so the lock is never updated from content the gate would reject.

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
        let remote = rule.datasets().into_iter().filter(content::RuleDataset::is_url);
        urls.extend(remote.map(|dataset| dataset.data.to_owned()));
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_datasets_are_not_fetched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = dir.path().join("detections/endpoint");
        std::fs::create_dir_all(&folder).expect("folder");
        std::fs::write(
            folder.join("a.yml"),
            "name: A\nid: 8943b567-f14d-4ee8-a0bb-2121d4ce3184\nversion: 1\ndate: '2020-02-21'\n\
             author: A\ntype: TTP\ndescription: d\nsearch: '| tstats count from datamodel=Endpoint.Processes'\n\
             how_to_implement: h\nknown_false_positives: none\n\
             tags:\n  dataset:\n  - fixtures/datasets/local.log\n\
             tests:\n- name: True Positive Test\n  attack_data:\n  - data: https://example.test/a.log\n    \
             source: XmlWinEventLog:Microsoft-Windows-Sysmon/Operational\n  - data: data/b.log\n",
        )
        .expect("rule");
        let urls: Vec<String> =
            dataset_urls(&dir.path().join("detections")).expect("urls").into_iter().collect();
        assert_eq!(urls, ["https://example.test/a.log"]);
    }
}
