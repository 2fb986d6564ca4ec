//! Fetcher tests against a real HTTP/1.1 server on 127.0.0.1, hand-written so that each test
//! can script bad behaviour (cut bodies, stalls, wrong sizes) that a full server would not
//! produce. Nothing here leaves the loopback interface, and every wait is bounded.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest as _, Sha256};

use super::cache::{Cache, PARTIAL_PREFIX, STALE_PARTIAL_AGE, hex};
use super::download::{Downloader, Options, PROGRESS_TEMPLATE};
use super::lock::{Lock, Pin, is_lower_hex, pin_url};
use super::{DatasetState, DatasetStatus, Mode, Unavailable, ensure_pins, rules, update_lock};

/// What the server does with one request.
#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    /// 200 with `Content-Encoding: gzip` and this content compressed.
    Gzip(Vec<u8>),
    /// 200 with `Content-Encoding: gzip` and this content as it is: not gzip at all.
    FalseGzip(Vec<u8>),
    /// Announces all of `body`, then sends it a byte at a time, `pause` apart.
    Drip {
        body: Vec<u8>,
        pause: Duration,
    },
    Status(u16),
    /// Announces `announced` bytes, sends `body`, then closes.
    CutShort {
        announced: usize,
        body: Vec<u8>,
    },
    /// 200 without `Content-Length`: the body ends when the connection closes.
    Unframed(Vec<u8>),
    /// Reads the request, then says nothing for this long.
    Stall(Duration),
    /// Announces all of `body`, sends its first `sent` bytes, then waits `pause` and closes.
    Trickle {
        body: Vec<u8>,
        sent: usize,
        pause: Duration,
    },
    /// 302 to this absolute URL; `{base}` is replaced by the server's own `http://addr`.
    Redirect(String),
}

struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serves `replies` in order, one per connection, each on its own thread so that a stalled
    /// reply does not hold up the next connection; the last reply repeats.
    fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (thread_requests, thread_heads, thread_base) =
            (Arc::clone(&requests), Arc::clone(&heads), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let n = thread_requests.fetch_add(1, Ordering::SeqCst);
                let reply = replies[n.min(replies.len() - 1)].clone();
                let (heads, base) = (Arc::clone(&thread_heads), thread_base.clone());
                std::thread::spawn(move || answer(stream, reply, &base, &heads));
            }
        });
        Self { base, requests, heads }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request head, records it and writes `reply`. Recording comes first so that heads
/// are in request order. Write errors are ignored: the client may hang up early on purpose.
fn answer(stream: TcpStream, reply: Reply, base: &str, heads: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    heads.lock().expect("heads lock").push(head);
    let mut stream = reader.into_inner();
    let response = |status: &str, headers: &str, length: Option<usize>, body: &[u8]| {
        let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n{headers}");
        if let Some(length) = length {
            let _ = write!(out, "Content-Length: {length}\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let bytes = match reply {
        Reply::Ok(body) => response("200 OK", "", Some(body.len()), &body),
        Reply::Gzip(content) => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&content).expect("gzip into memory");
            let body = encoder.finish().expect("gzip into memory");
            response("200 OK", "Content-Encoding: gzip\r\n", Some(body.len()), &body)
        }
        Reply::FalseGzip(body) => {
            response("200 OK", "Content-Encoding: gzip\r\n", Some(body.len()), &body)
        }
        Reply::Drip { body, pause } => {
            let head = response("200 OK", "", Some(body.len()), b"");
            let _ = stream.write_all(&head);
            for byte in &body {
                std::thread::sleep(pause);
                if stream.write_all(&[*byte]).and_then(|()| stream.flush()).is_err() {
                    return;
                }
            }
            Vec::new()
        }
        Reply::Status(code) => response(&format!("{code} Scripted"), "", Some(0), b""),
        Reply::CutShort { announced, body } => response("200 OK", "", Some(announced), &body),
        Reply::Unframed(body) => response("200 OK", "", None, &body),
        Reply::Stall(duration) => {
            std::thread::sleep(duration);
            Vec::new()
        }
        Reply::Trickle { body, sent, pause } => {
            let mut first = response("200 OK", "", Some(body.len()), &body[..sent]);
            let _ = stream.write_all(&first);
            let _ = stream.flush();
            first.clear();
            std::thread::sleep(pause);
            first
        }
        Reply::Redirect(location) => {
            let location = location.replace("{base}", base);
            response("302 Found", &format!("Location: {location}\r\n"), Some(0), b"")
        }
    };
    let _ = stream.write_all(&bytes);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn options() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        allow_loopback_http: true,
        progress: false,
        min_bytes_per_second: 1 << 20,
        deadline_slack: Duration::from_secs(10),
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn pin(url: &str, content: &[u8]) -> Pin {
    Pin {
        url: url.to_owned(),
        commit: "0".repeat(40),
        pinned_url: url.to_owned(),
        sha256: sha256(content),
        size: content.len() as u64,
        fixture: None,
    }
}

fn content() -> Vec<u8> {
    (0..200_000u32).flat_map(|i| format!("<Event>{i}</Event>\n").into_bytes()).collect()
}

/// Everything in the cache folder, partial files included.
fn cache_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list cache")
        .map(|entry| entry.expect("cache entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs one pin through `ensure_pins` online and returns the file or why it is unavailable.
#[track_caller]
fn fetch(pin: &Pin, cache: &Cache, options: &Options) -> Result<PathBuf, String> {
    let mut statuses = ensure_pins(std::slice::from_ref(pin), cache, Mode::Online, options)
        .expect("ensure_pins only fails on local problems");
    assert_eq!(statuses.len(), 1);
    match statuses.remove(0) {
        DatasetStatus { state: DatasetState::Ready(path), .. } => Ok(path),
        DatasetStatus { state: DatasetState::Unavailable(reason), .. } => Err(reason.to_string()),
    }
}

#[track_caller]
fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in {text:?}");
}

fn temp_cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = Cache::open(&dir.path().join("cache")).expect("open cache");
    (dir, cache)
}

#[test]
fn download_is_verified_and_cached_under_its_sha256() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/media/o/r/abc/windows-sysmon.log"), &body);
    let path = fetch(&pin, &cache, &options()).expect("fetched");
    assert_eq!(path, cache.dir().join(&pin.sha256));
    assert_eq!(std::fs::read(&path).expect("read cached"), body);
    assert_eq!(cache_files(cache.dir()), vec![pin.sha256.clone()]);
    let heads = server.heads.lock().expect("heads").clone();
    assert!(heads[0].starts_with("GET /media/o/r/abc/windows-sysmon.log HTTP/1.1"), "{heads:?}");
}

#[test]
fn second_run_uses_the_cache_without_a_request() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    fetch(&pin, &cache, &options()).expect("first fetch");
    fetch(&pin, &cache, &options()).expect("second fetch");
    assert_eq!(server.requests(), 1);
}

#[test]
fn gzip_content_encoding_is_decoded_before_hashing() {
    let body = content();
    let server = Server::start(vec![Reply::Gzip(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    let path = fetch(&pin, &cache, &options()).expect("fetched");
    assert_eq!(std::fs::read(path).expect("read cached"), body);
    let heads = server.heads.lock().expect("heads").clone();
    assert_contains(&heads[0].to_ascii_lowercase(), "accept-encoding: gzip");
}

#[test]
fn body_cut_short_is_retried() {
    let body = content();
    let cut = Reply::CutShort { announced: body.len(), body: body[..1000].to_vec() };
    let server = Server::start(vec![cut, Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    let path = fetch(&pin, &cache, &options()).expect("fetched on the second try");
    assert_eq!(std::fs::read(path).expect("read cached"), body);
    assert_eq!(server.requests(), 2);
}

#[test]
fn body_always_cut_short_fails_and_leaves_nothing_in_the_cache() {
    let body = content();
    let cut = Reply::CutShort { announced: body.len(), body: body[..1000].to_vec() };
    let server = Server::start(vec![cut]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    let err = fetch(&pin, &cache, &options()).expect_err("never complete");
    assert_contains(&err, "3 tries");
    assert_eq!(server.requests(), 3);
    assert!(cache_files(cache.dir()).is_empty(), "{:?}", cache_files(cache.dir()));
}

#[test]
fn wrong_checksum_shows_both_sums_and_caches_nothing() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let mut pin = pin(&server.url("/data.log"), &body);
    pin.sha256 = sha256(b"something else");
    let err = fetch(&pin, &cache, &options()).expect_err("checksum mismatch");
    assert_contains(&err, "checksum mismatch");
    assert_contains(&err, &format!("expected sha256 {}", pin.sha256));
    assert_contains(&err, &format!("got sha256 {}", sha256(&body)));
    assert_eq!(server.requests(), 1, "a wrong checksum is not retried");
    assert!(cache_files(cache.dir()).is_empty());
}

#[test]
fn not_found_is_a_clear_error_and_not_retried() {
    let server = Server::start(vec![Reply::Status(404)]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/gone.log"), b"x");
    let err = fetch(&pin, &cache, &options()).expect_err("404");
    assert_contains(&err, "not found (HTTP 404)");
    assert_contains(&err, "/gone.log");
    assert_eq!(server.requests(), 1);
}

#[test]
fn server_error_is_retried_then_succeeds() {
    let body = content();
    let server =
        Server::start(vec![Reply::Status(500), Reply::Status(503), Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    fetch(&pin, &cache, &options()).expect("third try succeeds");
    assert_eq!(server.requests(), 3);
}

#[test]
fn wrong_bytes_in_the_cache_are_rejected_and_fetched_again() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    let planted = cache.entry_path(&pin.sha256);
    let mut wrong = body.clone();
    wrong[10] ^= 1;
    std::fs::write(&planted, &wrong).expect("plant");
    let path = fetch(&pin, &cache, &options()).expect("fetched again");
    assert_eq!(std::fs::read(path).expect("read cached"), body);
    assert_eq!(server.requests(), 1);
}

#[test]
fn wrong_bytes_in_the_cache_are_removed_offline() {
    let (_dir, cache) = temp_cache();
    let pin = pin("https://example.test/data.log", b"right");
    std::fs::write(cache.entry_path(&pin.sha256), b"wrong").expect("plant");
    let statuses = ensure_pins(&[pin], &cache, Mode::Offline, &options()).expect("offline");
    assert!(matches!(statuses[0].state, DatasetState::Unavailable(Unavailable::NotInCache)));
    assert!(cache_files(cache.dir()).is_empty());
}

#[test]
fn announced_size_over_the_pin_is_refused() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body[..100]);
    let err = fetch(&pin, &cache, &options()).expect_err("too large");
    assert_contains(&err, &format!("server announces {} bytes, expected 100", body.len()));
    assert_eq!(server.requests(), 1);
    assert!(cache_files(cache.dir()).is_empty());
}

#[test]
fn unannounced_body_over_the_pin_stops_one_byte_past_it() {
    let body = content();
    let server = Server::start(vec![Reply::Unframed(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body[..100]);
    let err = fetch(&pin, &cache, &options()).expect_err("too large");
    assert_contains(&err, "larger than the expected 100 bytes; stopped reading at 101 bytes");
    assert!(cache_files(cache.dir()).is_empty());
}

#[test]
fn stalled_server_times_out() {
    let server = Server::start(vec![Reply::Stall(Duration::from_secs(3))]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), b"x");
    let options = Options { read_timeout: Duration::from_millis(300), attempts: 2, ..options() };
    let started = Instant::now();
    let err = fetch(&pin, &cache, &options).expect_err("timeout");
    assert_contains(&err, "timed out");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[test]
fn refused_connection_is_retried_and_fails_quickly() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let (_dir, cache) = temp_cache();
    let first = pin(&format!("http://127.0.0.1:{port}/data.log"), b"x");
    let second = pin(&format!("http://127.0.0.1:{port}/other.log"), b"y");
    let started = Instant::now();
    let statuses = ensure_pins(&[first, second], &cache, Mode::Online, &options()).expect("run");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let reasons: Vec<String> = statuses
        .iter()
        .map(|status| match &status.state {
            DatasetState::Unavailable(Unavailable::FetchFailed(reason)) => reason.clone(),
            other => panic!("expected a failed fetch, got {other:?}"),
        })
        .collect();
    assert_contains(&reasons[0], "3 tries");
    assert_contains(&reasons[0], "Connection refused");
    // The second dataset on the same unreachable host fails at once, without its own tries.
    assert_contains(&reasons[1], "other.log");
    assert_contains(&reasons[1], "(earlier in this run)");
}

#[test]
fn redirect_away_from_https_is_refused() {
    let server = Server::start(vec![Reply::Redirect("http://example.invalid/data.log".into())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), b"x");
    let err = fetch(&pin, &cache, &options()).expect_err("refused redirect");
    assert_contains(&err, "refusing redirect to http://example.invalid/data.log");
    assert_eq!(server.requests(), 1, "a refused redirect is not retried");
}

#[test]
fn redirect_within_allowed_urls_is_followed() {
    let body = content();
    let server =
        Server::start(vec![Reply::Redirect("{base}/moved.log".into()), Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    fetch(&pin, &cache, &options()).expect("followed");
    let heads = server.heads.lock().expect("heads").clone();
    assert!(heads[1].starts_with("GET /moved.log "), "{heads:?}");
}

#[test]
fn plain_http_is_refused_without_the_loopback_test_option() {
    let server = Server::start(vec![Reply::Ok(b"x".to_vec())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), b"x");
    let options = Options { allow_loopback_http: false, ..options() };
    let err = fetch(&pin, &cache, &options).expect_err("http refused");
    assert_contains(&err, "only https is allowed");
    assert_eq!(server.requests(), 0);
}

#[test]
fn offline_mode_reports_the_cache_without_requests() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let cached = pin(&server.url("/cached.log"), b"cached");
    std::fs::write(cache.entry_path(&cached.sha256), b"cached").expect("plant");
    let missing = pin(&server.url("/missing.log"), &body);
    let statuses = ensure_pins(&[cached.clone(), missing], &cache, Mode::Offline, &options())
        .expect("offline");
    assert!(
        matches!(&statuses[0].state, DatasetState::Ready(path) if *path == cache.entry_path(&cached.sha256))
    );
    assert!(matches!(statuses[1].state, DatasetState::Unavailable(Unavailable::NotInCache)));
    assert_eq!(server.requests(), 0);
}

/// Environment variables that turn [`child_download`] into a real download for
/// [`killed_download_leaves_only_an_ignored_partial_file`] to kill.
const CHILD_URL: &str = "XTASK_FETCH_TEST_CHILD_URL";
const CHILD_CACHE: &str = "XTASK_FETCH_TEST_CHILD_CACHE";

#[test]
#[ignore = "a child process of killed_download_leaves_only_an_ignored_partial_file"]
fn child_download() {
    let url = std::env::var(CHILD_URL).expect("child url");
    let cache = Cache::open(Path::new(&std::env::var(CHILD_CACHE).expect("child cache")))
        .expect("child cache");
    let mut fetcher = Downloader::new(options()).expect("client");
    // Killed before this returns; should it return, the parent sees a finished download.
    let _ = fetcher.download(&url, None, &cache);
}

#[test]
fn killed_download_leaves_only_an_ignored_partial_file() {
    let body = content();
    let trickle = Reply::Trickle { body: body.clone(), sent: 1000, pause: Duration::from_secs(20) };
    let server = Server::start(vec![trickle, Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);

    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "fetch::tests::child_download", "--ignored", "--nocapture"])
        .env(CHILD_URL, &pin.pinned_url)
        .env(CHILD_CACHE, cache.dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the child download");
    let deadline = Instant::now() + Duration::from_secs(15);
    let partial_path = loop {
        let partial = std::fs::read_dir(cache.dir())
            .expect("list cache")
            .map(|entry| entry.expect("cache entry").path())
            .find(|path| std::fs::metadata(path).is_ok_and(|meta| meta.len() >= 1000));
        if let Some(path) = partial {
            break path;
        }
        assert!(Instant::now() < deadline, "the child never wrote its first bytes");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill the child");
    child.wait().expect("reap the child");

    let name = partial_path.file_name().expect("name").to_string_lossy().into_owned();
    assert!(name.starts_with(PARTIAL_PREFIX) && !is_lower_hex(&name, 64), "{name}");
    assert_eq!(cache_files(cache.dir()), vec![name.clone()], "only the partial file is left");

    let statuses = ensure_pins(std::slice::from_ref(&pin), &cache, Mode::Offline, &options())
        .expect("offline");
    assert!(matches!(statuses[0].state, DatasetState::Unavailable(Unavailable::NotInCache)));

    // A fresh partial file may belong to a live run: it is left alone, and the fetch works.
    let path = fetch(&pin, &cache, &options()).expect("fetched");
    assert_eq!(std::fs::read(path).expect("read cached"), body);
    assert!(partial_path.exists());

    // Once stale it is removed.
    let old = SystemTime::now() - STALE_PARTIAL_AGE - Duration::from_mins(1);
    std::fs::File::options()
        .write(true)
        .open(&partial_path)
        .and_then(|file| file.set_modified(old))
        .expect("age the partial file");
    assert_eq!(cache.clean_stale_partials(STALE_PARTIAL_AGE).expect("clean"), 1);
    assert_eq!(cache_files(cache.dir()), vec![pin.sha256.clone()]);
}

#[test]
fn unpinned_download_reports_sha256_and_size() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let (_dir, cache) = temp_cache();
    let mut fetcher = Downloader::new(options()).expect("client");
    let downloaded = fetcher.download(&server.url("/data.log"), None, &cache).expect("fetched");
    assert_eq!(downloaded.sha256, sha256(&body));
    assert_eq!(downloaded.size, body.len() as u64);
    assert_eq!(downloaded.path, cache.entry_path(&downloaded.sha256));
}

/// The keys every rule needs besides `name` and `tags`, which the tests write themselves.
const RULE_KEYS: &str = "id: 8943b567-f14d-4ee8-a0bb-2121d4ce3184\nversion: 1\n\
    date: '2020-02-21'\nauthor: A\ntype: TTP\ndescription: d\n\
    search: '| tstats count from datamodel=Endpoint.Processes'\nhow_to_implement: h\n\
    known_false_positives: none\n";

fn write_rule(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).expect("rule dir");
    std::fs::write(dir.join(name), format!("{RULE_KEYS}{text}")).expect("write rule");
}

#[test]
fn rules_name_datasets_in_tags_and_tests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let detections = dir.path().join("detections");
    write_rule(
        &detections.join("endpoint"),
        "a.yml",
        "name: A\ntags:\n  dataset:\n  - https://example.test/a.log\n  - https://example.test/shared.log\n\
         tests:\n- name: True Positive Test\n  attack_data:\n  - data: https://example.test/b.log\n    \
         sourcetype: XmlWinEventLog\n  - data: https://example.test/shared.log\n",
    );
    write_rule(
        &detections.join("cloud"),
        "c.yml",
        "name: C\ntags:\n  dataset:\n  - https://example.test/c.log\n",
    );
    write_rule(
        &detections.join("cloud"),
        "notes.md",
        "tags:\n  dataset: https://example.test/ignored.log\n",
    );
    write_rule(&detections.join("cloud"), "d.yml", "name: D without datasets\ntags: {}\n");
    let urls: Vec<String> = rules::dataset_urls(&detections).expect("urls").into_iter().collect();
    assert_eq!(
        urls,
        [
            "https://example.test/a.log",
            "https://example.test/b.log",
            "https://example.test/c.log",
            "https://example.test/shared.log"
        ]
    );
    assert!(rules::dataset_urls(&dir.path().join("absent")).expect("absent").is_empty());
}

#[test]
fn rule_that_is_not_yaml_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let detections = dir.path().join("detections");
    write_rule(&detections.join("endpoint"), "broken.yml", "name: [unclosed\n");
    let err = rules::dataset_urls(&detections).expect_err("not YAML");
    assert_contains(&format!("{err:#}"), "broken.yml:10:");
}

#[test]
fn update_lock_records_a_fresh_download_of_the_pinned_url() {
    let body = content();
    let server = Server::start(vec![Reply::Ok(body.clone())]);
    let dir = tempfile::tempdir().expect("temp dir");
    let detections = dir.path().join("detections");
    let rule_url = server.url("/media/o/r/master/data.log");
    write_rule(
        &detections.join("endpoint"),
        "rule.yml",
        &format!("name: Rule\ntags:\n  dataset:\n  - {rule_url}\n"),
    );
    let lock_path = dir.path().join("datasets.lock");
    let stale =
        Pin { pinned_url: server.url("/media/o/r/pinned/data.log"), ..pin(&rule_url, b"old") };
    let dropped = pin("https://example.test/unused.log", b"unused");
    Lock::new(vec![stale.clone(), dropped]).write(&lock_path).expect("write lock");
    let cache = Cache::open(&dir.path().join("cache")).expect("cache");

    update_lock(&detections, &lock_path, &cache, None, &options()).expect("update");

    let lock = Lock::read(&lock_path).expect("read lock");
    let expected = Pin { sha256: sha256(&body), size: body.len() as u64, ..stale };
    assert_eq!(lock.datasets, vec![expected]);
    assert!(cache.entry_path(&sha256(&body)).exists());
    let heads = server.heads.lock().expect("heads").clone();
    assert!(heads[0].starts_with("GET /media/o/r/pinned/data.log "), "{heads:?}");
}

#[test]
fn update_lock_needs_a_commit_for_an_unpinned_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let detections = dir.path().join("detections");
    write_rule(
        &detections.join("endpoint"),
        "rule.yml",
        "name: Rule\ntags:\n  dataset:\n  - https://example.test/new.log\n",
    );
    let cache = Cache::open(&dir.path().join("cache")).expect("cache");
    let lock_path = dir.path().join("datasets.lock");
    let err = update_lock(&detections, &lock_path, &cache, None, &options()).expect_err("no pin");
    assert_contains(&format!("{err:#}"), "https://example.test/new.log has no pin yet");
    assert!(!lock_path.exists());
}

#[test]
fn the_fixture_lock_pins_the_comsvcs_dataset() {
    // The fixture content tree's lock, not the workspace's: a user's edit to their own lock
    // must never fail a tool test.
    let lock_path = crate::project_root().join("fixtures/content").join(super::LOCK_FILE);
    let lock = Lock::read(&lock_path).expect("valid lock");
    let url = "https://media.githubusercontent.com/media/splunk/attack_data/master/datasets/\
               attack_techniques/T1003.001/atomic_red_team/windows-sysmon.log";
    let pin = lock.find(url).expect("the rule's URL is locked");
    assert_eq!(pin.commit, "6db2eedeaf746593c73a5b97d3a5e08379db0a1f");
    assert_eq!(pin.sha256, "a1905850598f1e943708c3329190e29c6cb046389c1575cb2afd6369b5f269f1");
    assert_eq!(pin.size, 14_235_927);
    assert_eq!(pin.pinned_url, url.replace("/master/", &format!("/{}/", pin.commit)));
}

#[test]
fn pin_url_replaces_the_branch_by_the_commit() {
    let commit = "6db2eedeaf746593c73a5b97d3a5e08379db0a1f";
    assert_eq!(
        pin_url("https://media.githubusercontent.com/media/o/r/master/a/b.log", commit)
            .expect("media"),
        format!("https://media.githubusercontent.com/media/o/r/{commit}/a/b.log")
    );
    assert_eq!(
        pin_url("https://raw.githubusercontent.com/o/r/main/a.yml", commit).expect("raw"),
        format!("https://raw.githubusercontent.com/o/r/{commit}/a.yml")
    );
    let err = pin_url("https://example.test/o/r/main/a.log", commit).expect_err("unknown host");
    assert_contains(&err.to_string(), "cannot pin https://example.test/o/r/main/a.log");
    assert!(pin_url("https://raw.githubusercontent.com/o/r/main/a.yml", "main").is_err());
}

#[test]
fn lock_rejects_entries_that_could_escape_the_cache_or_drift() {
    let good = pin("https://example.test/a.log", b"a");
    let text = |pin: &Pin| serde_json::to_string(&Lock::new(vec![pin.clone()])).expect("json");
    assert!(Lock::parse(&text(&good)).is_ok());

    let traversal = Pin { sha256: "../../etc/passwd".into(), ..good.clone() };
    assert_contains(
        &format!("{:#}", Lock::parse(&text(&traversal)).expect_err("bad sha")),
        "sha256 must be",
    );

    let media = "https://media.githubusercontent.com/media/o/r/master/a.log";
    let drifted = Pin { url: media.into(), pinned_url: media.into(), ..good.clone() };
    assert_contains(
        &format!("{:#}", Lock::parse(&text(&drifted)).expect_err("unpinned")),
        "pinned_url must be",
    );

    let unsorted = format!(
        r#"{{"format": 1, "datasets": [{}, {}]}}"#,
        serde_json::to_string(&Pin { url: "https://example.test/b.log".into(), ..good.clone() })
            .expect("json"),
        serde_json::to_string(&good).expect("json"),
    );
    assert_contains(&format!("{:#}", Lock::parse(&unsorted).expect_err("unsorted")), "sorted");
}

#[test]
fn progress_template_is_valid() {
    indicatif::ProgressStyle::with_template(PROGRESS_TEMPLATE).expect("valid template");
}

#[test]
fn body_that_is_not_the_gzip_it_claims_is_named_and_not_retried() {
    // A bogus `Content-Encoding: gzip` said "connection lost" and was retried.
    let body = content();
    let server = Server::start(vec![Reply::FalseGzip(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    let err = fetch(&pin, &cache, &options()).expect_err("not gzip");
    assert_contains(&err, "Content-Encoding: gzip");
    assert!(!err.contains("connection lost"), "{err}");
    assert_eq!(server.requests(), 1, "{err}");
}

#[test]
fn server_trickling_inside_every_read_timeout_meets_the_deadline() {
    // A 40-byte pin at a byte per 200 ms with a 2 s read timeout took the whole 8 s, and at
    // a byte a second it took 39 s: no read ever timed out.
    let body = b"<Event>a trickle of forty bytes</Event>\n".to_vec();
    assert_eq!(body.len(), 40);
    let server =
        Server::start(vec![Reply::Drip { body: body.clone(), pause: Duration::from_millis(200) }]);
    let (_dir, cache) = temp_cache();
    let pin = pin(&server.url("/data.log"), &body);
    let options = Options {
        min_bytes_per_second: 100,
        deadline_slack: Duration::from_millis(500),
        ..options()
    };
    assert_eq!(options.deadline(40), Duration::from_millis(500));
    let started = Instant::now();
    let err = fetch(&pin, &cache, &options).expect_err("too slow");
    assert_contains(&err, "too slow");
    assert_contains(&err, "40 bytes must arrive within 0.5 s");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    assert_eq!(server.requests(), 1, "a download too slow is not retried");
    assert!(cache_files(cache.dir()).is_empty());
}

#[test]
fn deadline_grows_with_the_pinned_size_and_stays_bounded() {
    let options =
        Options { min_bytes_per_second: 1000, deadline_slack: Duration::from_secs(5), ..options() };
    assert_eq!(options.deadline(0), Duration::from_secs(5));
    assert_eq!(options.deadline(60_000), Duration::from_secs(65));
    assert_eq!(options.deadline(u64::MAX), Duration::from_hours(24));
    let production = Options::production();
    assert_eq!(production.deadline(14_235_927), Duration::from_secs(60 + 434));
}

#[test]
fn pinned_size_of_u64_max_is_a_failed_fetch_not_an_overflow() {
    // `limit + 1` overflowed (a panic in a debug build).
    let body = content();
    let server = Server::start(vec![Reply::Unframed(body.clone())]);
    let (_dir, cache) = temp_cache();
    let pin = Pin { size: u64::MAX, ..pin(&server.url("/data.log"), &body) };
    let err = fetch(&pin, &cache, &options()).expect_err("cut short");
    assert_contains(&err, &format!("body cut short: got {} of {} bytes", body.len(), u64::MAX));
}

#[test]
fn folder_where_a_cache_entry_belongs_falls_back_or_is_replaced() {
    // `fetch --offline` failed with "Is a directory".
    let (_dir, cache) = temp_cache();
    let full = pin("https://example.test/full.log", b"full");
    let empty = pin("https://example.test/empty.log", b"empty");
    std::fs::create_dir(cache.entry_path(&full.sha256)).expect("folder");
    std::fs::write(cache.entry_path(&full.sha256).join("keep.txt"), b"not ours").expect("file");
    std::fs::create_dir(cache.entry_path(&empty.sha256)).expect("folder");
    let statuses = ensure_pins(&[full.clone(), empty.clone()], &cache, Mode::Offline, &options())
        .expect("offline");
    assert!(matches!(statuses[0].state, DatasetState::Unavailable(Unavailable::NotInCache)));
    assert!(matches!(statuses[1].state, DatasetState::Unavailable(Unavailable::NotInCache)));
    // The empty folder was ours to replace; the other is left as it was.
    assert!(!cache.entry_path(&empty.sha256).exists());
    assert!(cache.entry_path(&full.sha256).join("keep.txt").exists());
    // Online, the blocked entry is not downloaded over: it says why and falls back.
    let server = Server::start(vec![Reply::Ok(b"full".to_vec())]);
    let online = Pin { pinned_url: server.url("/full.log"), ..full };
    let err = fetch(&online, &cache, &options()).expect_err("blocked");
    assert_contains(&err, "is a folder, not a dataset file");
    assert_eq!(server.requests(), 0);
}

#[test]
fn cache_path_that_is_a_file_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cache");
    std::fs::write(&path, b"a file").expect("file");
    let err = Cache::open(&path).err().expect("not a folder");
    assert_contains(&format!("{err:#}"), "is not a directory");
    assert!(!format!("{err:#}").contains("File exists"), "{err:#}");
}

#[test]
fn stale_partial_folder_does_not_stop_the_cleanup() {
    let (_dir, cache) = temp_cache();
    std::fs::create_dir(cache.dir().join(format!("{PARTIAL_PREFIX}folder"))).expect("folder");
    assert_eq!(cache.clean_stale_partials(Duration::ZERO).expect("clean"), 0);
}
