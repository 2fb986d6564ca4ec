//! `cargo xtask new "Rule Name" --kind endpoint --technique T1003.001`: writes a rule in the
//! current `security_content` schema that `detection validate` accepts as it stands — a fresh
//! UUID, today's date, every required key, a search over `Endpoint.Processes` ending in the
//! rule's filter macro — with `TODO` text to replace, and a `tests` entry naming a local
//! dataset to write. The file is named as upstream names them: the rule name lower-cased,
//! every character other than a letter or digit turned into `_`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use detection::attack::Attack;
use detection::content::validate;

/// Folders of `detections/` a rule can go in.
const KINDS: [&str; 5] = ["endpoint", "cloud", "network", "web", "application"];

/// Arguments of `cargo xtask new`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The content tree to work on (a folder holding detections/); default: this workspace.
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// The rule's name, e.g. "Dump LSASS via comsvcs DLL".
    name: String,
    /// The folder below detections/: endpoint, cloud, network, web or application.
    #[arg(long, default_value = "endpoint")]
    kind: String,
    /// ATT&CK technique ids (repeat for several), e.g. T1003.001.
    #[arg(long = "technique", value_name = "ID", required = true)]
    techniques: Vec<String>,
    /// Author and organisation; default: git's user.name.
    #[arg(long)]
    author: Option<String>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::content_root(args.content.as_deref());
    let path = scaffold(&root, args, &today()?)?;
    let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
    println!("wrote {shown}");
    // What `detection validate` says of it now, so a clash shows before the gate.
    let findings = validate::validate_paths(std::slice::from_ref(&path), &Attack::bundled()?)?;
    for finding in &findings {
        println!("{finding}");
    }
    println!(
        "next: write the search and the TODO fields, put the attack's events in {} \
         (or name an attack_data URL), then `cargo xtask test` and `cargo xtask docs`",
        local_dataset(&file_stem(&args.name))
    );
    Ok(())
}

/// Writes the rule under `root`; fails rather than overwrite a file.
fn scaffold(root: &Path, args: &Args, date: &str) -> anyhow::Result<PathBuf> {
    let name = args.name.trim();
    ensure!(!name.is_empty(), "the rule needs a name");
    ensure!(
        !name.contains(['\n', '\r', '\'']),
        "the name must be one line without single quotes: {name:?}"
    );
    ensure!(
        KINDS.contains(&args.kind.as_str()),
        "--kind {} is not one of {}",
        args.kind,
        KINDS.join(", ")
    );
    let attack = Attack::bundled()?;
    for technique in &args.techniques {
        if attack.technique(technique).is_none() {
            bail!(
                "{technique} is not a technique of the bundled ATT&CK data (attack/); \
                 technique ids look like T1003 or T1003.001"
            );
        }
    }
    let stem = file_stem(name);
    ensure!(stem.chars().any(|c| c.is_ascii_alphanumeric()), "the name needs letters or digits");
    let dir = root.join("detections").join(&args.kind);
    let path = dir.join(format!("{stem}.yml"));
    ensure!(!path.exists(), "{} exists already", path.display());
    let author = match &args.author {
        Some(author) => author.clone(),
        None => git_user(root).unwrap_or_else(|| "TODO: Your Name, Organisation".to_owned()),
    };
    let text = rule_text(
        name,
        &args.kind,
        &args.techniques,
        &author,
        date,
        &uuid::Uuid::new_v4().to_string(),
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Upstream's file name for a rule: lower-case, every character other than an ASCII letter or
/// digit turned into `_` (`Detect Rundll32 … - advpack` → `detect_rundll32_…___advpack`).
pub(crate) fn file_stem(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect()
}

fn local_dataset(stem: &str) -> String {
    format!("fixtures/datasets/{stem}.log")
}

fn rule_text(
    name: &str,
    kind: &str,
    techniques: &[String],
    author: &str,
    date: &str,
    id: &str,
) -> String {
    let filter = detection::spl::filter_macro_name(name);
    let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let mut text = String::new();
    let _ = writeln!(text, "name: {}", quoted(name));
    let _ = writeln!(text, "id: {id}");
    text.push_str("version: 1\n");
    let _ = writeln!(text, "date: '{date}'");
    let _ = writeln!(text, "author: {}", quoted(author));
    text.push_str("status: production\ntype: TTP\n");
    text.push_str(
        "description: 'TODO: what the rule finds, why it matters, and what a responder\n  \
         should look at first.'\n",
    );
    text.push_str("data_source:\n- Sysmon EventID 1\n");
    let _ = writeln!(
        text,
        "search: '| tstats `security_content_summariesonly` count min(_time) as firstTime max(_time)\n  \
         as lastTime from datamodel=Endpoint.Processes where Processes.process_name=TODO.exe\n  \
         by Processes.dest Processes.user Processes.parent_process_name Processes.process_name\n  \
         Processes.process | `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)`\n  \
         | `security_content_ctime(lastTime)` | `{filter}`'"
    );
    text.push_str(
        "how_to_implement: 'TODO: the data the search needs, e.g. process creation events\n  \
         (Sysmon EventID 1) mapped to the Processes node of the Endpoint data model.'\n",
    );
    text.push_str("known_false_positives: 'TODO: legitimate activity that matches.'\n");
    text.push_str("references: []\n");
    text.push_str("tags:\n  analytic_story:\n  - 'TODO: Story Name'\n");
    let _ =
        writeln!(text, "  asset_type: {}", if kind == "endpoint" { "Endpoint" } else { "TODO" });
    text.push_str("  confidence: 50\n  impact: 50\n");
    text.push_str("  message: 'TODO: $process_name$ ran on $dest$ as $user$.'\n");
    text.push_str("  mitre_attack_id:\n");
    for technique in techniques {
        let _ = writeln!(text, "  - {technique}");
    }
    text.push_str(
        "  observable:\n  - name: dest\n    type: Hostname\n    role:\n    - Victim\n  \
         - name: user\n    type: User\n    role:\n    - Victim\n",
    );
    text.push_str(
        "  product:\n  - Splunk Enterprise\n  - Splunk Enterprise Security\n  - Splunk Cloud\n",
    );
    text.push_str(
        "  required_fields:\n  - _time\n  - Processes.dest\n  - Processes.user\n  \
         - Processes.parent_process_name\n  - Processes.process_name\n  - Processes.process\n",
    );
    text.push_str("  risk_score: 25\n");
    let domain = match kind {
        "endpoint" => "endpoint",
        "network" | "web" => "network",
        _ => "threat",
    };
    let _ = writeln!(text, "  security_domain: {domain}");
    text.push_str("tests:\n- name: True Positive Test\n  attack_data:\n");
    let _ = writeln!(text, "  - data: {}", local_dataset(&file_stem(name)));
    text.push_str("    source: XmlWinEventLog:Microsoft-Windows-Sysmon/Operational\n");
    text.push_str("    sourcetype: xmlwineventlog\n");
    text
}

/// Today's date (UTC), `YYYY-MM-DD`.
fn today() -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?;
    let micros = i64::try_from(now.as_micros()).context("the clock is out of range")?;
    let format = detection::spl::TimeFormat::parse("%Y-%m-%d").map_err(anyhow::Error::msg)?;
    format.format(micros).context("today's date cannot be written")
}

fn git_user(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["config", "user.name"])
        .output()
        .ok()?;
    let name = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use detection::content::validate::Severity;

    #[test]
    fn file_names_follow_upstream() {
        assert_eq!(
            file_stem("Detect Rundll32 Application Control Bypass - advpack"),
            "detect_rundll32_application_control_bypass___advpack"
        );
        assert_eq!(file_stem("Dump LSASS via comsvcs DLL"), "dump_lsass_via_comsvcs_dll");
    }

    /// A content root with the macros a new rule calls, as `cargo xtask new` finds them.
    fn content_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let macros = crate::project_root().join("fixtures/content/macros");
        std::fs::create_dir_all(dir.path().join("macros")).expect("macros");
        for name in ["security_content_ctime.yml", "security_content_summariesonly.yml"] {
            std::fs::copy(macros.join(name), dir.path().join("macros").join(name)).expect("copy");
        }
        dir
    }

    fn args(name: &str, kind: &str) -> Args {
        Args {
            name: name.to_owned(),
            kind: kind.to_owned(),
            techniques: vec!["T1003.001".to_owned()],
            author: Some("Ada Lovelace, Example".to_owned()),
            content: None,
        }
    }

    #[test]
    fn a_new_rule_passes_validation_and_loads_with_its_local_dataset() {
        let root = content_root();
        let path =
            scaffold(root.path(), &args("Rule Name", "endpoint"), "2024-10-24").expect("new");
        assert_eq!(path, root.path().join("detections/endpoint/rule_name.yml"));
        let findings = validate::validate_paths(
            &[root.path().to_path_buf()],
            &Attack::bundled().expect("attack"),
        )
        .expect("validate");
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let rule = detection::content::load_rule(&path).expect("loads");
        assert_eq!(rule.date, "2024-10-24");
        assert!(uuid::Uuid::parse_str(&rule.id).is_ok(), "{}", rule.id);
        assert!(rule.search.ends_with("`rule_name_filter`"), "{}", rule.search);
        let datasets = rule.datasets();
        assert_eq!(datasets.len(), 1);
        assert_eq!(datasets[0].data, "fixtures/datasets/rule_name.log");
        assert!(!datasets[0].is_url());
        assert_eq!(datasets[0].sourcetype, Some("xmlwineventlog"));
    }

    #[test]
    fn every_new_rule_gets_a_fresh_id_and_no_file_is_overwritten() {
        let root = content_root();
        let first = scaffold(root.path(), &args("First Rule", "cloud"), "2024-10-24").expect("new");
        let second =
            scaffold(root.path(), &args("Second Rule", "cloud"), "2024-10-24").expect("new");
        let id = |path: &Path| detection::content::load_rule(path).expect("loads").id;
        assert_ne!(id(&first), id(&second));
        let again = scaffold(root.path(), &args("First Rule", "cloud"), "2024-10-24");
        assert!(format!("{:#}", again.expect_err("exists")).contains("exists already"));
    }

    #[test]
    fn unknown_techniques_and_kinds_are_refused() {
        let root = content_root();
        let mut bad = args("Rule Name", "endpoint");
        bad.techniques = vec!["T9999".to_owned()];
        assert!(
            format!("{:#}", scaffold(root.path(), &bad, "2024-10-24").expect_err("technique"))
                .contains("T9999")
        );
        let err =
            scaffold(root.path(), &args("Rule Name", "desktop"), "2024-10-24").expect_err("kind");
        assert!(format!("{err:#}").contains("--kind desktop"));
    }

    #[test]
    fn today_is_a_date() {
        let date = today().expect("date");
        assert_eq!(date.len(), 10, "{date}");
        assert_eq!(&date[4..5], "-");
    }
}
