//! Downloads over HTTPS with reqwest (blocking, rustls): streams into a temporary file in the
//! cache while hashing and counting, retries what may pass on a second try and gives up at
//! once on what will not. It never writes a cache entry that failed verification.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::blocking::Client;
use reqwest::{StatusCode, Url, redirect};
use sha2::{Digest as _, Sha256};

use super::cache::{Cache, hex};

/// Redirects followed before giving up; GitHub's media host uses one or two.
const MAX_REDIRECTS: usize = 5;

/// How the downloader behaves; production values come from [`Options::production`].
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) connect_timeout: Duration,
    /// Longest wait for the response head or for any single read of the body.
    pub(crate) read_timeout: Duration,
    /// Tries per URL, counting the first.
    pub(crate) attempts: u32,
    /// Wait before the first retry; doubles after each, up to `max_backoff`.
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    /// Accept `http://` to loopback addresses, for tests against a local server only.
    pub(crate) allow_loopback_http: bool,
    pub(crate) progress: bool,
    /// The slowest average a download may keep: with `deadline_slack`, this sets each
    /// download's deadline from its size, so that a server trickling a byte just inside every
    /// read timeout cannot hold it for hours.
    pub(crate) min_bytes_per_second: u64,
    /// Time every download gets on top of its size at the minimum rate (connecting, TLS,
    /// the first byte).
    pub(crate) deadline_slack: Duration,
}

impl Options {
    pub(crate) fn production() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            allow_loopback_http: false,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("CI").is_none(),
            // 14 MB (the largest dataset today) then gets eight minutes.
            min_bytes_per_second: 32 * 1024,
            deadline_slack: Duration::from_mins(1),
        }
    }

    /// How long a download of `size` bytes may take in all, at most a day.
    pub(crate) fn deadline(&self, size: u64) -> Duration {
        let at_min_rate = Duration::from_secs(size / self.min_bytes_per_second.max(1));
        (self.deadline_slack + at_min_rate).min(Duration::from_hours(24))
    }
}

/// What a download must match; `None` when recording a new pin.
#[derive(Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub(crate) sha256: &'a str,
    pub(crate) size: u64,
}

/// A verified download, already moved into the cache.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

/// The progress line on a terminal.
pub(crate) const PROGRESS_TEMPLATE: &str =
    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

/// Largest body accepted when no pin bounds it (recording a new pin).
const MAX_UNPINNED_SIZE: u64 = 4 << 30;

pub(crate) struct Downloader {
    client: Client,
    options: Options,
    /// Hosts that could not be resolved or connected to in this run, with the reason: later
    /// URLs on them fail at once instead of waiting through the same timeouts and retries.
    unreachable_hosts: BTreeMap<String, String>,
}

/// One failed try, and whether another try may succeed.
struct AttemptError {
    retry: bool,
    /// No connection could be made at all.
    unreachable: bool,
    error: anyhow::Error,
}

impl AttemptError {
    fn retry(error: anyhow::Error) -> Self {
        Self { retry: true, unreachable: false, error }
    }

    fn fatal(error: anyhow::Error) -> Self {
        Self { retry: false, unreachable: false, error }
    }
}

impl Downloader {
    pub(crate) fn new(options: Options) -> anyhow::Result<Self> {
        let allow_loopback_http = options.allow_loopback_http;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                let message = format!("more than {MAX_REDIRECTS} redirects");
                return attempt.error(message);
            }
            if is_allowed(attempt.url(), allow_loopback_http) {
                attempt.follow()
            } else {
                let message =
                    format!("refusing redirect to {}: only https is allowed", attempt.url());
                attempt.error(message)
            }
        });
        let mut builder = Client::builder();
        if allow_loopback_http {
            // Test servers are on this machine; a proxy from the environment would not reach them.
            builder = builder.no_proxy();
        }
        let client = builder
            .connect_timeout(options.connect_timeout)
            .timeout(options.read_timeout)
            .redirect(policy)
            .user_agent(concat!("detection-xtask/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self { client, options, unreachable_hosts: BTreeMap::new() })
    }

    /// Downloads `url` into the cache, checking it against `expected` when given.
    pub(crate) fn download(
        &mut self,
        url: &str,
        expected: Option<Expected<'_>>,
        cache: &Cache,
    ) -> anyhow::Result<Downloaded> {
        let parsed = Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
        if !is_allowed(&parsed, self.options.allow_loopback_http) {
            anyhow::bail!("refusing {url}: only https is allowed");
        }
        let host = parsed.host_str().unwrap_or_default().to_owned();
        if let Some(reason) = self.unreachable_hosts.get(&host) {
            anyhow::bail!("cannot fetch {url}: {reason} (earlier in this run)");
        }
        self.check_resolves(&parsed)?;
        let attempts = self.options.attempts.max(1);
        let mut delay = self.options.backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(&parsed, expected, cache) {
                Ok(downloaded) => return Ok(downloaded),
                Err(failure) if failure.retry && attempt < attempts => {
                    crate::note(format_args!(
                        "  try {attempt} of {attempts} failed: {:#}; retrying in {delay:?}",
                        failure.error
                    ));
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(self.options.max_backoff);
                    attempt += 1;
                }
                Err(failure) => {
                    if failure.unreachable {
                        self.unreachable_hosts.insert(host, format!("{:#}", failure.error));
                    }
                    let tries =
                        if attempt == 1 { "1 try".to_owned() } else { format!("{attempt} tries") };
                    return Err(failure.error.context(format!("cannot fetch {url} ({tries})")));
                }
            }
        }
    }

    /// Fails fast, without retries, when the host name does not resolve: on a machine without
    /// network this is the usual case and retrying only delays the report. Behind a proxy
    /// (which reqwest honours) only the proxy needs to resolve, so nothing is checked.
    fn check_resolves(&mut self, url: &Url) -> anyhow::Result<()> {
        let Some(host) = url.host_str() else {
            anyhow::bail!("{url} has no host");
        };
        let proxied = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        if proxied {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Err(err) = (bare, port).to_socket_addrs() {
            let reason = format!("cannot resolve host {host} (no network?): {err}");
            self.unreachable_hosts.insert(host.to_owned(), reason.clone());
            anyhow::bail!(reason);
        }
        Ok(())
    }

    fn attempt(
        &self,
        url: &Url,
        expected: Option<Expected<'_>>,
        cache: &Cache,
    ) -> Result<Downloaded, AttemptError> {
        let started = Instant::now();
        let mut response = self.client.get(url.clone()).send().map_err(|err| {
            let retry = !(err.is_redirect() || err.is_builder());
            let unreachable = err.is_connect();
            AttemptError {
                retry,
                unreachable,
                error: anyhow::Error::new(err).context("request failed"),
            }
        })?;
        let limit = check_head(&response, expected)?;
        let allowed = self.options.deadline(response.content_length().unwrap_or(limit).min(limit));

        let mut partial = cache.partial_file().map_err(AttemptError::fatal)?;
        let progress = self.progress_bar(url, expected.map(|expected| expected.size));
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 64 * 1024];
        let mut size = 0u64;
        // One byte past the limit is enough to know the body is too large.
        let mut body = (&mut response).take(limit.saturating_add(1));
        loop {
            // A read waits at most the read timeout; the deadline is checked between reads.
            if started.elapsed() > allowed {
                progress.abandon();
                return Err(AttemptError::fatal(anyhow!(
                    "too slow: {size} bytes in {:.1} s, where {} bytes must arrive within {:.1} s \
                     (at least {} bytes/s after {} s)",
                    started.elapsed().as_secs_f64(),
                    expected.map_or(limit, |expected| expected.size),
                    allowed.as_secs_f64(),
                    self.options.min_bytes_per_second,
                    self.options.deadline_slack.as_secs()
                )));
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) if is_decoding_failure(&err) => {
                    progress.abandon();
                    // The same bytes would come again: no use retrying.
                    return Err(AttemptError::fatal(anyhow::Error::new(err).context(format!(
                        "the server announced `Content-Encoding: gzip` but the body does not \
                         decompress (after {size} bytes)"
                    ))));
                }
                Err(err) => {
                    progress.abandon();
                    return Err(AttemptError::retry(
                        anyhow::Error::new(err)
                            .context(format!("connection lost after {size} bytes")),
                    ));
                }
            };
            hasher.update(&buf[..n]);
            partial.write_all(&buf[..n]).map_err(|err| {
                AttemptError::fatal(anyhow::Error::new(err).context("cannot write the download"))
            })?;
            size += n as u64;
            progress.set_position(size);
        }
        progress.finish_and_clear();
        if size > limit {
            return Err(AttemptError::fatal(anyhow!(
                "body is larger than the expected {limit} bytes; stopped reading at {size} bytes"
            )));
        }
        let sha256 = hex(&hasher.finalize());
        if let Some(expected) = expected {
            if size < expected.size {
                return Err(AttemptError::retry(anyhow!(
                    "body cut short: got {size} of {} bytes",
                    expected.size
                )));
            }
            if sha256 != expected.sha256 {
                return Err(AttemptError::fatal(anyhow!(
                    "checksum mismatch: expected sha256 {}, got sha256 {sha256} ({size} bytes)",
                    expected.sha256
                )));
            }
        }
        let path = cache.persist(partial, &sha256).map_err(AttemptError::fatal)?;
        Ok(Downloaded { path, sha256, size })
    }

    fn progress_bar(&self, url: &Url, size: Option<u64>) -> ProgressBar {
        if !self.options.progress {
            return ProgressBar::hidden();
        }
        let bar = size.map_or_else(ProgressBar::no_length, ProgressBar::new);
        let name = url.path_segments().and_then(Iterator::last).unwrap_or("dataset");
        if let Ok(style) = ProgressStyle::with_template(PROGRESS_TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_owned());
        bar
    }
}

/// The response's status and announced size checked against what is expected: the most
/// bytes the body may have.
fn check_head(
    response: &reqwest::blocking::Response,
    expected: Option<Expected<'_>>,
) -> Result<u64, AttemptError> {
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(AttemptError::fatal(anyhow!(
            "not found (HTTP 404) at {}: the pinned commit or path does not exist upstream",
            response.url()
        )));
    }
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Err(AttemptError::retry(anyhow!("server answered HTTP {status}")));
    }
    if !status.is_success() {
        return Err(AttemptError::fatal(anyhow!("server answered HTTP {status}")));
    }
    let limit = expected.map_or(MAX_UNPINNED_SIZE, |expected| expected.size);
    if let Some(announced) = response.content_length()
        && (announced > limit || expected.is_some_and(|expected| announced != expected.size))
    {
        return Err(AttemptError::fatal(anyhow!(
            "server announces {announced} bytes, expected {}",
            expected.map_or_else(|| format!("at most {limit}"), |e| e.size.to_string())
        )));
    }
    Ok(limit)
}

/// Whether a body read failed because the body does not decode (a server that says
/// `Content-Encoding: gzip` and sends something else), not because the connection broke.
/// The cause sits inside the io error, which `source()` alone would skip.
fn is_decoding_failure(err: &std::io::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> =
        err.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(error) = cause {
        if error.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_decode)
            || error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == ErrorKind::InvalidData)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Production takes https only; tests may add plain http to a loopback address.
fn is_allowed(url: &Url, allow_loopback_http: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" if allow_loopback_http => url
            .host_str()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|host| host.parse::<IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback()),
        _ => false,
    }
}
