//! Text as a rule file, rendered to its documentation page with the bundled ATT&CK data when
//! it loads; the experimental path is used for inputs with an odd first byte so both page
//! layouts are reached.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use detection::attack::Attack;
use detection::content::Detection;
use detection::render;
use libfuzzer_sys::fuzz_target;

fn attack() -> &'static Attack {
    static ATTACK: OnceLock<Attack> = OnceLock::new();
    ATTACK.get_or_init(|| Attack::bundled().unwrap_or_else(|err| panic!("bundled data: {err}")))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = if data.first().is_some_and(|byte| byte % 2 == 1) {
        Path::new("detections/experimental/endpoint/fuzz.yml")
    } else {
        Path::new("detections/endpoint/fuzz.yml")
    };
    let Ok(detection) = Detection::from_yaml(text, path) else {
        return;
    };
    drop(render::file_name(&detection));
    drop(render::page(&detection, attack()));
});
