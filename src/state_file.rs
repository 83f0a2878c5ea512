//! The state file: the ledger, the counters and the watermark, kept across restarts.
//! App calls [`prepare`] (checks, lock, leftovers) then [`restore`] once at start-up, the
//! poller [`save`] after each pass and at shutdown.
//!
//! Layout: the 8-byte magic `IADVZST\0`, a little-endian `u32` version, a `u64` payload
//! length, the payload (postcard, compact binary), and a CRC-32 of the payload. Written
//! whole after each poll that changed something: a new temp file of a random name, fsync,
//! rename, fsync of the directory, so a `kill -9` leaves either the old file or the new
//! one. It holds no password and no token.
//!
//! Since version 3 the payload starts with the [`Identity`] of the account it counts, so
//! that a file is never restored into another account's series.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::iadvize::{ClientConfig, Credentials, UnixMillis};
use crate::ledger::{Ledger, LedgerConfig, LedgerState, LedgerStateRef, LedgerStateV1};
use crate::metrics::Metrics;

const MAGIC: &[u8; 8] = b"IADVZST\0";
/// 3: the identity of the account first. 2 (read, unverified): conversations as 128-bit
/// ids in one record list. 1 (read, converted, unverified): keyed by text.
const VERSION: u32 = 3;
const HEADER_LEN: usize = 8 + 4 + 8;

/// Which account, and which part of it, a state file counts. Restoring another account's
/// ledger would add its counts to this one's series, so a file whose identity differs is
/// treated as foreign. Never a password or a token: the file is not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `--demo`: the built-in simulated account.
    pub demo: bool,
    /// `--iadvize.url`, without user info, query or fragment, which could hold secrets;
    /// empty with `--demo`, whose URL is a new loopback port at each start.
    pub url: String,
    /// `--iadvize.platform sd`.
    pub platform_sd: bool,
    pub login: Login,
    /// `--iadvize.project-ids`, sorted, without duplicates; `None` reads every project.
    pub project_ids: Option<Vec<i64>>,
}

/// Who logs in, as far as it can be told without a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Login {
    /// `--iadvize.username`.
    Username(String),
    /// `--iadvize.token-file`: a token names no user, and the file's path may move
    /// between deployments of the same account, so only the way of logging in is kept.
    TokenFile,
}

impl Identity {
    /// The identity of the account `client` reads. With `demo`, the URL is left out.
    pub fn of(client: &ClientConfig, demo: bool) -> Self {
        let url = if demo {
            String::new()
        } else {
            let mut url = client.base_url.clone();
            // Both only fail for URLs that cannot hold user info, which then have none.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        };
        let login = match &client.credentials {
            Credentials::Password { username, .. } => Login::Username(username.clone()),
            Credentials::TokenFile(_) => Login::TokenFile,
        };
        let project_ids = client.project_ids.as_ref().map(|ids| {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        Identity {
            demo,
            url,
            platform_sd: client.platform_sd,
            login,
            project_ids,
        }
    }

    /// The first setting in which `saved` differs from `self`, as a sentence naming it
    /// and both values; `None` when they are the same account.
    pub fn difference(&self, saved: &Identity) -> Option<String> {
        let on = |b: bool| if b { "on" } else { "off" };
        if self.demo != saved.demo {
            return Some(format!(
                "--demo differs (the file: {}, now: {})",
                on(saved.demo),
                on(self.demo)
            ));
        }
        if self.url != saved.url {
            return Some(format!(
                "--iadvize.url differs (the file: {}, now: {})",
                saved.url, self.url
            ));
        }
        if self.platform_sd != saved.platform_sd {
            let name = |sd: bool| if sd { "sd" } else { "ha" };
            return Some(format!(
                "--iadvize.platform differs (the file: {}, now: {})",
                name(saved.platform_sd),
                name(self.platform_sd)
            ));
        }
        if self.login != saved.login {
            let name = |l: &Login| match l {
                Login::Username(u) => format!("--iadvize.username {u}"),
                Login::TokenFile => "--iadvize.token-file".to_owned(),
            };
            return Some(format!(
                "the login differs, --iadvize.username or --iadvize.token-file (the file: {}, now: {})",
                name(&saved.login),
                name(&self.login)
            ));
        }
        if self.project_ids != saved.project_ids {
            let name = |p: &Option<Vec<i64>>| match p {
                None => "every project".to_owned(),
                Some(ids) => ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
            };
            return Some(format!(
                "--iadvize.project-ids differs (the file: {}, now: {})",
                name(&saved.project_ids),
                name(&self.project_ids)
            ));
        }
        None
    }
}

/// What the poller needs to go on where it stopped, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedState {
    /// `None` for files of versions 1 and 2, which did not record it.
    pub identity: Option<Identity>,
    /// Unix ms of the save.
    pub written_at: UnixMillis,
    pub watermark: Option<UnixMillis>,
    pub last_revisit: Option<UnixMillis>,
    pub ledger: LedgerState,
}

/// A version 3 file, as written by [`SavedStateRef`].
#[derive(Debug, Deserialize)]
struct SavedStateV3 {
    identity: Identity,
    written_at: UnixMillis,
    watermark: Option<UnixMillis>,
    last_revisit: Option<UnixMillis>,
    ledger: LedgerState,
}

impl From<SavedStateV3> for SavedState {
    fn from(v3: SavedStateV3) -> Self {
        SavedState {
            identity: Some(v3.identity),
            written_at: v3.written_at,
            watermark: v3.watermark,
            last_revisit: v3.last_revisit,
            ledger: v3.ledger,
        }
    }
}

/// A version 2 file: version 3 without the identity.
#[derive(Debug, Deserialize)]
struct SavedStateV2 {
    written_at: UnixMillis,
    watermark: Option<UnixMillis>,
    last_revisit: Option<UnixMillis>,
    ledger: LedgerState,
}

impl From<SavedStateV2> for SavedState {
    fn from(v2: SavedStateV2) -> Self {
        SavedState {
            identity: None,
            written_at: v2.written_at,
            watermark: v2.watermark,
            last_revisit: v2.last_revisit,
            ledger: v2.ledger,
        }
    }
}

/// A version 1 file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SavedStateV1 {
    written_at: UnixMillis,
    watermark: Option<UnixMillis>,
    last_revisit: Option<UnixMillis>,
    ledger: LedgerStateV1,
}

impl From<SavedStateV1> for SavedState {
    fn from(v1: SavedStateV1) -> Self {
        SavedState {
            identity: None,
            written_at: v1.written_at,
            watermark: v1.watermark,
            last_revisit: v1.last_revisit,
            ledger: v1.ledger.into(),
        }
    }
}

/// The same, borrowed from the live poller for writing: the field order and types must
/// match `SavedStateV3`, since the encoding is positional.
#[derive(Debug, Serialize)]
pub struct SavedStateRef<'a> {
    pub identity: &'a Identity,
    pub written_at: UnixMillis,
    pub watermark: Option<UnixMillis>,
    pub last_revisit: Option<UnixMillis>,
    pub ledger: LedgerStateRef<'a>,
}

/// Why a state file could not be used or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the state file {} is not a state file of this exporter, or is damaged: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write the state file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot encode the state: {0}")]
    Encode(String),
    /// `--state.file` names something the exporter can never save to: a configuration
    /// error, found at start-up rather than at the first save.
    #[error("the state file {} cannot be used: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
    /// Another process holds the lock beside the file.
    #[error(
        "the state file {} is in use by another exporter ({}; lock file {}): two exporters must not share one state file",
        path.display(),
        holder.map_or_else(|| "its pid is unknown".to_owned(), |pid| format!("pid {pid}")),
        lock.display()
    )]
    Locked {
        path: PathBuf,
        lock: PathBuf,
        holder: Option<u32>,
    },
    #[error("cannot lock the state file {} with {}: {source}", path.display(), lock.display())]
    Lock {
        path: PathBuf,
        lock: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StateError {
    /// Whether this is the configuration's fault (exit 2) rather than the run's (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, StateError::Unusable { .. })
    }
}

/// Encode a state into the file layout.
pub fn encode(state: &SavedStateRef<'_>) -> Result<Vec<u8>, StateError> {
    let payload = postcard::to_stdvec(state).map_err(|e| StateError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    Ok(out)
}

/// Decode the file layout; any flaw is a reason, never a panic.
pub fn decode(bytes: &[u8]) -> Result<SavedState, String> {
    let header = bytes.get(..HEADER_LEN).ok_or("shorter than its header")?;
    let (magic, rest) = header.split_at(8);
    if magic != MAGIC {
        return Err("wrong magic bytes".to_owned());
    }
    let (version, len) = rest.split_at(4);
    let version = u32::from_le_bytes(version.try_into().map_err(|_| "bad version field")?);
    if !(1..=VERSION).contains(&version) {
        return Err(format!(
            "version {version}, this exporter reads 1 to {VERSION}"
        ));
    }
    let len = u64::from_le_bytes(len.try_into().map_err(|_| "bad length field")?);
    let len = usize::try_from(len).map_err(|_| "length out of range")?;
    let end = HEADER_LEN.checked_add(len).ok_or("length out of range")?;
    let payload = bytes.get(HEADER_LEN..end).ok_or("truncated payload")?;
    let crc = bytes.get(end..end + 4).ok_or("truncated checksum")?;
    if bytes.len() != end + 4 {
        return Err("trailing bytes after the checksum".to_owned());
    }
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| "bad checksum field")?);
    if crc != crc32fast::hash(payload) {
        return Err("checksum mismatch".to_owned());
    }
    let undecodable = |e: postcard::Error| format!("undecodable payload: {e}");
    match version {
        1 => postcard::from_bytes::<SavedStateV1>(payload).map(SavedState::from),
        2 => postcard::from_bytes::<SavedStateV2>(payload).map(SavedState::from),
        _ => postcard::from_bytes::<SavedStateV3>(payload).map(SavedState::from),
    }
    .map_err(undecodable)
}

/// Load the state file. `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<SavedState>, StateError> {
    // Reading a FIFO would wait forever, a device like /dev/zero would fill the memory.
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(StateError::Unusable {
                path: path.to_owned(),
                reason: "not a regular file".to_owned(),
            });
        }
        _ => {}
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    decode(&bytes)
        .map(Some)
        .map_err(|reason| StateError::Corrupt {
            path: path.to_owned(),
            reason,
        })
}

/// Where this process saves its state, and the account each save records.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: PathBuf,
    pub identity: Identity,
}

/// Where a restored poller goes on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub watermark: Option<UnixMillis>,
    pub last_revisit: Option<UnixMillis>,
}

/// The ledger to start from: the state file's when there is a sound one of this
/// account, else a fresh one counting from `counting_start`. A damaged file, or one of
/// another account (another `identity`), is moved aside, loudly, and counted; an
/// unreadable one stops the exporter rather than risk counting twice.
pub fn restore(
    path: Option<&Path>,
    identity: &Identity,
    config: LedgerConfig,
    metrics: &Metrics,
    counting_start: UnixMillis,
    now: UnixMillis,
) -> Result<(Ledger, Option<Resume>), StateError> {
    let fresh = |config| (Ledger::new(config, counting_start), None);
    let Some(path) = path else {
        return Ok(fresh(config));
    };
    let saved = match load(path) {
        Ok(None) => {
            tracing::info!(path = %path.display(), "no state file yet: starting fresh");
            return Ok(fresh(config));
        }
        Ok(Some(saved)) => saved,
        Err(error @ StateError::Corrupt { .. }) => {
            set_aside(path, metrics, now, |aside| {
                tracing::error!(
                    error = %error,
                    moved_to = %aside.display(),
                    "STATE FILE UNUSABLE: moved aside, starting fresh; counts restart from zero"
                );
            })?;
            return Ok(fresh(config));
        }
        Err(error) => return Err(error),
    };
    match &saved.identity {
        Some(recorded) => {
            if let Some(difference) = identity.difference(recorded) {
                set_aside(path, metrics, now, |aside| {
                    tracing::error!(
                        path = %path.display(),
                        difference = %difference,
                        moved_to = %aside.display(),
                        "STATE FILE OF ANOTHER ACCOUNT: {difference}; moved aside, starting \
                         fresh; counts restart from zero"
                    );
                })?;
                return Ok(fresh(config));
            }
        }
        None => tracing::warn!(
            path = %path.display(),
            "the state file is of an older version, which does not record its account: the \
             account could not be verified, so it is restored as it is; the next save records \
             this account"
        ),
    }
    let ledger = Ledger::from_state(config, saved.ledger);
    tracing::info!(
        path = %path.display(),
        tracked = ledger.tracked(),
        watermark = ?saved.watermark,
        "state restored: counters go on from the saved values"
    );
    let resume = Resume {
        watermark: saved.watermark,
        last_revisit: saved.last_revisit,
    };
    Ok((ledger, Some(resume)))
}

/// Count a file that cannot be restored, move it aside, and `log` where it went.
fn set_aside(
    path: &Path,
    metrics: &Metrics,
    now: UnixMillis,
    log: impl FnOnce(&Path),
) -> Result<(), StateError> {
    metrics.state_file_corrupt();
    let aside = move_aside(path, now / 1000).map_err(|source| StateError::Write {
        path: path.to_owned(),
        source,
    })?;
    log(&aside);
    Ok(())
}

/// Move a damaged file aside as `<file>.corrupt-<unix seconds>`, so it can be examined and
/// is never read again. Returns the new name.
pub fn move_aside(path: &Path, now_seconds: i64) -> io::Result<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{now_seconds}"));
    let target = PathBuf::from(name);
    fs::rename(path, &target)?;
    Ok(target)
}

/// Write `state` to the file at `path`. A failure is counted and returned: the caller
/// knows whether another save will follow.
pub async fn save(
    path: &Path,
    state: &SavedStateRef<'_>,
    metrics: &Metrics,
) -> Result<(), StateError> {
    let started = Instant::now();
    // Encoding a million conversations takes a few hundred milliseconds: on the
    // multi-threaded runtime, hand this worker's other tasks (scrapes) to another
    // worker meanwhile. The encoding borrows the live ledger, so it cannot move to a
    // blocking thread without a copy of it.
    let encoded = match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| encode(state)),
        _ => encode(state),
    };
    let result = match encoded {
        Ok(bytes) => {
            let len = bytes.len();
            let path = path.to_owned();
            match tokio::task::spawn_blocking(move || write_atomic(&path, &bytes)).await {
                Ok(result) => result.map(|()| len),
                Err(join) => Err(StateError::Encode(join.to_string())),
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(bytes) => {
            tracing::debug!(
                path = %path.display(),
                bytes,
                seconds = started.elapsed().as_secs_f64(),
                tracked = state.ledger.tracked(),
                "state saved"
            );
            Ok(())
        }
        Err(error) => {
            metrics.state_write_failed();
            Err(error)
        }
    }
}

/// Write `bytes` to `path` atomically and durably, readable by the owner only.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let err = |source| StateError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = directory_of(path);
    let (tmp, mut file) = create_beside(path, "tmp").map_err(err)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // The rename itself must reach the disk, or a crash could bring the old file back.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// The directory holding `path`.
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `suffix` appended to its name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A new file `<path>.<kind>-<random>`, private to the owner. Exclusive creation fails
/// on anything already there, a symbolic link included, and the random name cannot be
/// guessed ahead: nobody can make the exporter write through a link they planted.
fn create_beside(path: &Path, kind: &str) -> io::Result<(PathBuf, File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut last = None;
    for _ in 0..8 {
        let name = with_suffix(path, &format!(".{kind}-{:016x}", rand::random::<u64>()));
        match options.open(&name) {
            Ok(file) => return Ok((name, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// The lock on `<state>.lock`, held for as long as this value lives.
#[derive(Debug)]
pub struct StateLock {
    /// Kept open: closing it, or the process ending however it ends, releases the lock.
    _file: File,
}

/// Everything about `--state.file` that can be checked before counting starts, so that a
/// wrong path stops the exporter at once instead of failing every save: the directory
/// exists and can be written in, the file is a regular file (or not there yet), and no
/// other exporter uses it. Then clears the temporary files a kill during a save left.
/// Returns the lock, to be held until the last save is done.
pub fn prepare(path: &Path) -> Result<StateLock, StateError> {
    let unusable = |reason: String| StateError::Unusable {
        path: path.to_owned(),
        reason,
    };
    let dir = directory_of(path);
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(unusable(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(unusable(format!(
                "its directory {} does not exist",
                dir.display()
            )));
        }
        Err(e) => return Err(unusable(format!("cannot read {}: {e}", dir.display()))),
    }
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(unusable("not a regular file".to_owned())),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(unusable(format!("cannot read it: {e}"))),
    }
    let probe = create_beside(path, "probe").and_then(|(probe, mut file)| {
        let written = file.write_all(b"probe");
        drop(file);
        let removed = fs::remove_file(&probe);
        written.and(removed)
    });
    if let Err(e) = probe {
        return Err(unusable(format!(
            "cannot create a file in its directory {}: {e}",
            dir.display()
        )));
    }
    let lock = take_lock(path)?;
    remove_leftovers(path);
    Ok(lock)
}

fn take_lock(path: &Path) -> Result<StateLock, StateError> {
    let lock = with_suffix(path, ".lock");
    let failed = |source| StateError::Lock {
        path: path.to_owned(),
        lock: lock.clone(),
        source,
    };
    // Writing the pid into a planted link's target would damage another file.
    if let Ok(meta) = fs::symlink_metadata(&lock)
        && !meta.is_file()
    {
        return Err(StateError::Unusable {
            path: path.to_owned(),
            reason: format!("its lock file {} is not a regular file", lock.display()),
        });
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&lock).map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = io::Read::read_to_string(&mut io::Read::take(&file, 32), &mut text);
            return Err(StateError::Locked {
                path: path.to_owned(),
                lock,
                holder: text.trim().parse().ok(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    // The pid only helps whoever meets the lock; the lock itself is what protects.
    let pid = (|| {
        file.set_len(0)?;
        io::Seek::rewind(&mut file)?;
        writeln!(file, "{}", std::process::id())
    })();
    if let Err(e) = pid {
        tracing::warn!(lock = %lock.display(), error = %e, "cannot write the pid into the lock file");
    }
    Ok(StateLock { _file: file })
}

/// Remove the `<file>.tmp-*` and `<file>.probe-*` a kill left behind: under the lock, no
/// save of another exporter can be under way. Only regular files: a link is not ours.
fn remove_leftovers(path: &Path) {
    let dir = directory_of(path);
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&name) else {
            continue;
        };
        if !(rest.starts_with(".tmp-") || rest.starts_with(".probe-")) {
            continue;
        }
        let leftover = entry.path();
        match fs::symlink_metadata(&leftover) {
            Ok(meta) if meta.is_file() => match fs::remove_file(&leftover) {
                Ok(()) => {
                    tracing::info!(file = %leftover.display(), "removed a temporary file left by an interrupted save")
                }
                Err(e) => {
                    tracing::warn!(file = %leftover.display(), error = %e, "cannot remove a temporary file left by an interrupted save")
                }
            },
            _ => {
                tracing::warn!(file = %leftover.display(), "left alone: named like a temporary state file, but not a regular file")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iadvize::{Conversation, Currency, Id128, Page, Transaction};
    use crate::ledger::{Ledger, LedgerConfig};

    fn config() -> LedgerConfig {
        LedgerConfig {
            window_ms: 3_600_000,
            duration_bounds: vec![60.0, 600.0],
            amount_bounds: vec![50.0],
            max_channels: 32,
            max_currencies: 16,
        }
    }

    fn sample_ledger() -> Ledger {
        let mut ledger = Ledger::new(config(), 1_000);
        ledger.apply(
            &[Page {
                conversations: vec![Conversation {
                    id: Id128::of("c1"),
                    id_text: Some("c1".into()),
                    project_id: 7,
                    channel: 0,
                    closed_at: 2_000,
                    duration_seconds: Some(30.0),
                    csat: Some(5),
                    nps: None,
                    transactions: vec![Transaction {
                        key: Id128::of("t"),
                        amount: 12.0,
                        currency: Currency(*b"EUR"),
                    }],
                }],
                records: 1,
                channels: vec!["CHAT".into()],
                ..Page::default()
            }],
            3_000,
        );
        ledger
    }

    fn client(url: &str, username: &str) -> ClientConfig {
        ClientConfig::new(
            url::Url::parse(url).unwrap(),
            Credentials::Password {
                username: username.to_owned(),
                password: crate::secret::Secret::new("hunter2-secret"),
            },
        )
    }

    fn identity() -> Identity {
        Identity::of(
            &client("https://api.iadvize.com", "alice@example.com"),
            false,
        )
    }

    fn sample_bytes(ledger: &Ledger) -> Vec<u8> {
        bytes_of(ledger, &identity())
    }

    fn bytes_of(ledger: &Ledger, identity: &Identity) -> Vec<u8> {
        encode(&SavedStateRef {
            identity,
            written_at: 3_000,
            watermark: Some(2_500),
            last_revisit: None,
            ledger: ledger.state(),
        })
        .unwrap()
    }

    #[test]
    fn a_state_survives_encoding() {
        let ledger = sample_ledger();
        let bytes = sample_bytes(&ledger);
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(&bytes[8..12], &3u32.to_le_bytes());
        let saved = decode(&bytes).unwrap();
        assert_eq!(
            (saved.written_at, saved.watermark, saved.last_revisit),
            (3_000, Some(2_500), None)
        );
        assert_eq!(saved.identity, Some(identity()));
        let restored = Ledger::from_state(config(), saved.ledger);
        assert_eq!(restored.totals(), ledger.totals());
        assert_eq!(restored.tracked(), 1);
        // Everything but the exemplars, which METRICS.md says are not kept.
        let mut expected = ledger.snapshot(3_000);
        assert_ne!(expected.exemplars, crate::ledger::Exemplars::default());
        expected.exemplars = crate::ledger::Exemplars::default();
        assert_eq!(restored.snapshot(3_000), expected);
    }

    #[test]
    fn damage_is_detected_not_trusted() {
        let bytes = sample_bytes(&sample_ledger());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(decode(&bytes[..10]).is_err(), "cut in the header");
        assert!(decode(b"{\"json\": true}").is_err(), "foreign");
        assert!(decode(&[]).is_err(), "empty");
        let mut flipped = bytes.clone();
        flipped[HEADER_LEN + 3] ^= 0x40;
        assert_eq!(decode(&flipped).unwrap_err(), "checksum mismatch");
        let mut other_version = bytes.clone();
        other_version[8] = 9;
        assert!(decode(&other_version).unwrap_err().contains("version 9"));
        let mut longer = bytes;
        longer.push(0);
        assert!(decode(&longer).is_err(), "trailing bytes");
    }

    #[test]
    fn restored_ledger_counts_nothing_twice() {
        let state = decode(&sample_bytes(&sample_ledger())).unwrap();
        let mut ledger = Ledger::from_state(config(), state.ledger);
        let before = ledger.totals().clone();
        let again = Conversation {
            id: Id128::of("c1"),
            id_text: Some("c1".into()),
            project_id: 7,
            channel: 0,
            closed_at: 2_000,
            duration_seconds: Some(30.0),
            csat: Some(5),
            nps: Some(9),
            transactions: vec![Transaction {
                key: Id128::of("t"),
                amount: 12.0,
                currency: Currency(*b"EUR"),
            }],
        };
        let report = ledger.apply(
            &[Page {
                conversations: vec![again],
                records: 1,
                channels: vec!["CHAT".into()],
                ..Page::default()
            }],
            4_000,
        );
        assert_eq!(report.new_conversations, 0);
        assert_eq!(report.answers, 1, "only the NPS is new");
        assert_eq!(report.transactions, 0);
        assert_eq!(ledger.totals().conversations, before.conversations);
        assert_eq!(ledger.totals().transactions, before.transactions);
    }

    /// The layout of version 1 files, written out independently of the reader.
    mod v1 {
        use std::collections::{BTreeMap, HashMap};

        use serde::Serialize;

        #[derive(Serialize)]
        pub struct Saved {
            pub written_at: i64,
            pub watermark: Option<i64>,
            pub last_revisit: Option<i64>,
            pub ledger: Ledger,
        }
        #[derive(Serialize)]
        pub struct Ledger {
            pub counting_start: i64,
            pub channels: Vec<String>,
            pub currencies: Vec<String>,
            pub duration_bounds: Vec<f64>,
            pub amount_bounds: Vec<f64>,
            pub entries: HashMap<String, Entry>,
            pub skipped: HashMap<String, Skipped>,
            pub totals: Totals,
        }
        #[derive(Serialize)]
        pub struct Entry {
            pub closed_at: i64,
            pub series: (i64, u16),
            pub counted: bool,
            pub duration: Option<f64>,
            pub csat: Option<u8>,
            pub nps: Option<u8>,
            pub transactions: Vec<(String, u16, f64)>,
            pub invalid_seen: u16,
        }
        #[derive(Serialize)]
        pub struct Skipped {
            pub invalid_seen: u16,
            pub first_seen: i64,
        }
        #[derive(Serialize)]
        pub struct Histogram {
            pub counts: Vec<u64>,
            pub sum: f64,
            pub count: u64,
        }
        #[derive(Serialize, Default)]
        pub struct Totals {
            pub conversations: BTreeMap<(i64, u16), u64>,
            pub duration: BTreeMap<(i64, u16), Histogram>,
            pub csat: BTreeMap<(i64, u16), Histogram>,
            pub nps: BTreeMap<(i64, u16), Histogram>,
            pub conversions: BTreeMap<(i64, u16), u64>,
            pub transactions: BTreeMap<((i64, u16), u16), Histogram>,
            pub invalid: BTreeMap<u8, u64>,
        }
    }

    #[test]
    fn a_version_1_file_is_read_and_converted() {
        let entry = v1::Entry {
            closed_at: 2_000,
            series: (7, 0),
            counted: true,
            duration: Some(30.0),
            csat: Some(5),
            nps: None,
            transactions: vec![("t".to_owned(), 0, 12.0)],
            invalid_seen: 1 << 6, // bad_csat already counted
        };
        let mut totals = v1::Totals::default();
        totals.conversations.insert((7, 0), 1);
        let saved = v1::Saved {
            written_at: 3_000,
            watermark: Some(2_500),
            last_revisit: Some(2_400),
            ledger: v1::Ledger {
                counting_start: 1_000,
                channels: vec!["chat".to_owned()],
                currencies: vec!["EUR".to_owned()],
                duration_bounds: vec![60.0, 600.0],
                amount_bounds: vec![50.0],
                entries: std::collections::HashMap::from([("c1".to_owned(), entry)]),
                skipped: std::collections::HashMap::from([(
                    "s1".to_owned(),
                    v1::Skipped {
                        invalid_seen: 1,
                        first_seen: 2_100,
                    },
                )]),
                totals,
            },
        };
        let payload = postcard::to_stdvec(&saved).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());

        let state = decode(&bytes).unwrap();
        assert_eq!(
            (state.watermark, state.last_revisit),
            (Some(2_500), Some(2_400))
        );
        let mut ledger = Ledger::from_state(config(), state.ledger);
        assert_eq!(ledger.tracked(), 1);
        assert_eq!(ledger.totals().conversations.values().sum::<u64>(), 1);
        // The converted record is recognised by its id, answers and transactions included.
        let again = Conversation {
            id: Id128::of("c1"),
            id_text: Some("c1".into()),
            project_id: 7,
            channel: 0,
            closed_at: 2_000,
            duration_seconds: Some(30.0),
            csat: Some(5),
            nps: Some(9),
            transactions: vec![Transaction {
                key: Id128::of("t"),
                amount: 12.0,
                currency: Currency(*b"EUR"),
            }],
        };
        let report = ledger.apply(
            &[Page {
                conversations: vec![again],
                channels: vec!["CHAT".into()],
                rejections: vec![
                    crate::iadvize::Rejection {
                        reason: crate::iadvize::InvalidReason::BadCsat,
                        conversation_id: Some(Id128::of("c1")),
                    },
                    crate::iadvize::Rejection {
                        reason: crate::iadvize::InvalidReason::Malformed,
                        conversation_id: Some(Id128::of("s1")),
                    },
                ],
                records: 2,
                ..Page::default()
            }],
            4_000,
        );
        assert_eq!(report.new_conversations, 0);
        assert_eq!(report.answers, 1, "only the NPS is new");
        assert_eq!(report.transactions, 0);
        assert_eq!(report.invalid, 0, "both rejections were counted before");
        let window = ledger.snapshot(3_000).window;
        assert_eq!(
            window.series.values().map(|s| s.conversations).sum::<u64>(),
            1
        );
        assert_eq!(window.revenue.values().sum::<f64>(), 12.0);
    }

    // -----------------------------------------------------------------------------------
    // The account a file counts
    // -----------------------------------------------------------------------------------

    fn corrupt_total(metrics: &Metrics) -> String {
        let text = metrics.encode(crate::metrics::Format::Text).unwrap();
        text.lines()
            .find(|l| l.starts_with("iadvize_state_file_corrupt_total "))
            .unwrap_or("none")
            .to_owned()
    }

    /// Writes a file for `saved_as`, restores it as `now_as`: whether it was restored, and
    /// what became of the file.
    fn restore_as(saved_as: &Identity, now_as: &Identity) -> (bool, bool, bool, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        fs::write(&path, bytes_of(&sample_ledger(), saved_as)).unwrap();
        let metrics = Metrics::new();
        let (ledger, resume) =
            restore(Some(&path), now_as, config(), &metrics, 10_000, 20_000).unwrap();
        let aside = dir.path().join("state.bin.corrupt-20");
        assert_eq!(resume.is_some(), ledger.tracked() == 1);
        (
            resume.is_some(),
            path.exists(),
            aside.exists(),
            corrupt_total(&metrics),
        )
    }

    fn assert_foreign(saved_as: &Identity, now_as: &Identity) {
        let (restored, kept, aside, corrupt) = restore_as(saved_as, now_as);
        assert!(!restored, "{saved_as:?} restored as {now_as:?}");
        assert!(!kept && aside, "the foreign file is moved aside");
        assert_eq!(corrupt, "iadvize_state_file_corrupt_total 1");
        assert!(saved_as.difference(now_as).is_some());
    }

    #[test]
    fn the_same_account_restores() {
        let (restored, kept, aside, corrupt) = restore_as(&identity(), &identity());
        assert!(restored && kept && !aside);
        assert_eq!(corrupt, "iadvize_state_file_corrupt_total 0");
    }

    #[test]
    fn another_url_is_foreign() {
        let other = Identity::of(
            &client("https://sd.iadvize.com", "alice@example.com"),
            false,
        );
        assert_foreign(&identity(), &other);
        assert!(
            identity()
                .difference(&other)
                .unwrap()
                .starts_with("--iadvize.url differs")
        );
    }

    #[test]
    fn another_username_is_foreign() {
        let other = Identity::of(&client("https://api.iadvize.com", "bob@example.com"), false);
        assert_foreign(&identity(), &other);
        assert!(
            identity()
                .difference(&other)
                .unwrap()
                .contains("bob@example.com")
        );
    }

    #[test]
    fn a_token_file_is_another_login() {
        let mut token = client("https://api.iadvize.com", "alice@example.com");
        token.credentials = Credentials::TokenFile(PathBuf::from("/run/secrets/token"));
        let token = Identity::of(&token, false);
        assert_eq!(token.login, Login::TokenFile);
        assert_foreign(&identity(), &token);
        assert_foreign(&token, &identity());
        // The token file may move: the same account still.
        let mut moved = client("https://api.iadvize.com", "alice@example.com");
        moved.credentials = Credentials::TokenFile(PathBuf::from("/elsewhere/token"));
        assert_eq!(token.difference(&Identity::of(&moved, false)), None);
    }

    #[test]
    fn other_project_ids_are_foreign() {
        let with = |ids: Option<Vec<i64>>| {
            let mut c = client("https://api.iadvize.com", "alice@example.com");
            c.project_ids = ids;
            Identity::of(&c, false)
        };
        assert_foreign(&identity(), &with(Some(vec![7])));
        assert_foreign(&with(Some(vec![7])), &with(Some(vec![7, 8])));
        assert_foreign(&with(Some(vec![7])), &identity());
        // The order they are given in is not part of the account.
        let (restored, ..) = restore_as(&with(Some(vec![8, 7, 8])), &with(Some(vec![7, 8])));
        assert!(restored);
    }

    #[test]
    fn another_platform_is_foreign() {
        let mut sd = client("https://api.iadvize.com", "alice@example.com");
        sd.platform_sd = true;
        let sd = Identity::of(&sd, false);
        assert_foreign(&identity(), &sd);
        assert_foreign(&sd, &identity());
    }

    #[test]
    fn the_demo_account_is_foreign_to_a_real_one_and_back() {
        let demo_at = |port: u16| {
            Identity::of(
                &client(
                    &format!("http://127.0.0.1:{port}"),
                    crate::config::DEMO_USERNAME,
                ),
                true,
            )
        };
        assert_foreign(&identity(), &demo_at(4000));
        assert_foreign(&demo_at(4000), &identity());
        // Its URL is a new port at each start: the same demo account still.
        let (restored, ..) = restore_as(&demo_at(4000), &demo_at(4001));
        assert!(restored);
    }

    #[test]
    fn the_identity_holds_no_secret() {
        let c = client(
            "https://user:url-secret@api.iadvize.com/?token=q-secret#f",
            "alice",
        );
        let identity = Identity::of(&c, false);
        assert_eq!(identity.url, "https://api.iadvize.com/");
        let bytes = bytes_of(&sample_ledger(), &identity);
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["hunter2-secret", "url-secret", "q-secret"] {
            assert!(!text.contains(secret), "{secret}");
        }
    }

    /// The payload of version 2, written out independently of the reader: version 3
    /// without the identity.
    #[derive(Serialize)]
    struct SavedV2<'a> {
        written_at: i64,
        watermark: Option<i64>,
        last_revisit: Option<i64>,
        ledger: LedgerStateRef<'a>,
    }

    fn framed(version: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        bytes
    }

    #[test]
    fn a_version_2_file_still_restores_unverified() {
        let ledger = sample_ledger();
        let payload = postcard::to_stdvec(&SavedV2 {
            written_at: 3_000,
            watermark: Some(2_500),
            last_revisit: Some(2_400),
            ledger: ledger.state(),
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        fs::write(&path, framed(2, &payload)).unwrap();
        let saved = load(&path).unwrap().unwrap();
        assert_eq!(saved.identity, None);
        let metrics = Metrics::new();
        let (restored, resume) =
            restore(Some(&path), &identity(), config(), &metrics, 10_000, 20_000).unwrap();
        assert_eq!(
            resume,
            Some(Resume {
                watermark: Some(2_500),
                last_revisit: Some(2_400)
            })
        );
        assert_eq!(restored.totals(), ledger.totals());
        assert!(path.exists(), "an unverified file is not moved aside");
        assert_eq!(
            corrupt_total(&metrics),
            "iadvize_state_file_corrupt_total 0"
        );
    }

    // -----------------------------------------------------------------------------------
    // Start-up checks, the lock, the temporary file
    // -----------------------------------------------------------------------------------

    fn reason(result: Result<StateLock, StateError>) -> String {
        match result {
            Err(e @ StateError::Unusable { .. }) => {
                assert!(e.is_usage());
                e.to_string()
            }
            other => panic!("not refused as unusable: {other:?}"),
        }
    }

    #[test]
    fn a_missing_directory_is_refused_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("state.bin");
        let message = reason(prepare(&path));
        assert!(message.contains("does not exist"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_refused_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("state.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        assert!(reason(prepare(&fifo)).contains("not a regular file"));
        assert!(matches!(load(&fifo), Err(StateError::Unusable { .. })));
        let zero = Path::new("/dev/zero");
        assert!(reason(prepare(zero)).contains("not a regular file"));
        assert!(matches!(load(zero), Err(StateError::Unusable { .. })));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_second_exporter_meets_the_lock_and_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let held = prepare(&path).unwrap();
        let lock = dir.path().join("state.bin.lock");
        assert_eq!(
            fs::read_to_string(&lock).unwrap().trim(),
            std::process::id().to_string()
        );
        match prepare(&path) {
            Err(e @ StateError::Locked { .. }) => {
                assert!(!e.is_usage());
                let message = e.to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
                assert!(
                    message.contains(&format!("pid {}", std::process::id())),
                    "{message}"
                );
            }
            other => panic!("not locked: {other:?}"),
        }
        drop(held);
        let again = prepare(&path);
        assert!(again.is_ok(), "released with its holder: {again:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_at_a_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let target = dir.path().join("precious");
        fs::write(&target, b"precious").unwrap();
        // The name saves used to write to.
        let old_style = with_suffix(&path, &format!(".tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&target, &old_style).unwrap();
        write_atomic(&path, b"state").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"state");
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&old_style).unwrap().is_symlink());
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());
        // Nor removed as a leftover at start-up: only regular files are.
        drop(prepare(&path).unwrap());
        assert!(fs::symlink_metadata(&old_style).unwrap().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"precious");
    }

    #[test]
    fn leftovers_of_a_killed_save_are_removed_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let leftover = with_suffix(&path, ".tmp-12345");
        let other = dir.path().join("other.bin.tmp-12345");
        fs::write(&leftover, b"half a state").unwrap();
        fs::write(&other, b"not ours").unwrap();
        write_atomic(&path, b"state").unwrap();
        drop(prepare(&path).unwrap());
        assert!(!leftover.exists());
        assert!(other.exists(), "another file's temporary is not ours");
        assert_eq!(fs::read(&path).unwrap(), b"state");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".probe-")), "{names:?}");
    }

    #[test]
    fn writes_are_atomic_and_private() {
        let dir = std::env::temp_dir().join(format!("iadvize-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        let aside = move_aside(&path, 1234).unwrap();
        assert!(aside.to_string_lossy().ends_with("state.bin.corrupt-1234"));
        assert!(!path.exists());
        assert!(matches!(load(&path), Ok(None)));
        fs::remove_dir_all(&dir).unwrap();
    }
}
