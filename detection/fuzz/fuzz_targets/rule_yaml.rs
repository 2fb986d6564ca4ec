//! Text as a rule file and as a macro file: loaded, and a rule that loads is checked the way
//! `detection validate` checks it (metadata, macro calls, output fields) against the
//! repository's macros and the bundled ATT&CK data.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use detection::attack::Attack;
use detection::content::validate::check_detection;
use detection::content::{Detection, Macro};
use libfuzzer_sys::fuzz_target;

fn attack() -> &'static Attack {
    static ATTACK: OnceLock<Attack> = OnceLock::new();
    ATTACK.get_or_init(|| Attack::bundled().unwrap_or_else(|err| panic!("bundled data: {err}")))
}

fn macros() -> &'static BTreeMap<String, Macro> {
    static MACROS: OnceLock<BTreeMap<String, Macro>> = OnceLock::new();
    MACROS.get_or_init(|| {
        [
            include_str!("../../../macros/security_content_ctime.yml"),
            include_str!("../../../macros/security_content_summariesonly.yml"),
        ]
        .iter()
        .filter_map(|text| Macro::from_yaml(text, Path::new("macros/m.yml")).ok())
        .map(|m| (m.name.clone(), m))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Macro::from_yaml(text, Path::new("macros/fuzz.yml")) {
        drop(m.to_definition());
    }
    let path = Path::new("detections/endpoint/fuzz.yml");
    if let Ok(detection) = Detection::from_yaml(text, path) {
        drop(detection.slug());
        drop(detection.filter_macro_name());
        drop(detection.dataset_urls());
        drop(check_detection(&detection, macros(), attack()));
    }
});
