//! `cargo xtask fetch --offline` into a closed pipe ends quietly: it panicked (exit 101) on
//! the first line it could not print.

use std::process::{Command, Stdio};

#[test]
fn fetch_offline_into_a_closed_pipe_ends_quietly() {
    let cache = tempfile::tempdir().unwrap();
    for closed in ["stdout", "stderr", "both"] {
        let (reader, writer) = std::io::pipe().unwrap();
        // No one reads: every write to the pipe fails.
        drop(reader);
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(["fetch", "--offline"])
            .env("DETECTION_DATASET_CACHE", cache.path())
            .stdin(Stdio::null());
        match closed {
            "stdout" => command.stdout(writer).stderr(Stdio::piped()),
            "stderr" => command.stdout(Stdio::piped()).stderr(writer),
            _ => command.stdout(writer.try_clone().unwrap()).stderr(writer),
        };
        let output = command.output().unwrap();
        let shown = String::from_utf8_lossy(if closed == "stdout" {
            &output.stderr
        } else {
            &output.stdout
        })
        .into_owned();
        assert_eq!(output.status.code(), Some(0), "closed {closed}: {shown}");
        assert!(!shown.contains("panicked") && !shown.contains("Broken pipe"), "{shown}");
    }
}
