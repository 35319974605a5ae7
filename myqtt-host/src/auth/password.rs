//! The password file: one user per line, `username:<PHC string>`, salted Argon2 hashes.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;

/// Why a password file could not be read, written or changed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A line of the file is not `username:<PHC hash string>`.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// The file (empty for [`PasswordFile::parse`]).
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it (never contains the line itself, which may hold a hash).
        reason: String,
    },
    /// The user name cannot be stored in the file.
    #[error("invalid user name: {0}")]
    InvalidUserName(&'static str),
    /// The password is empty.
    #[error("empty password")]
    EmptyPassword,
    /// Hashing failed (the OS random generator failed, for instance).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// A set of users and their salted password hashes: the `password_file` of `myqttd`.
///
/// # Format
///
/// UTF-8 text, one user per line:
///
/// ```text
/// # comment lines and blank lines are ignored
/// alice:$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
/// ```
///
/// The user name is everything before the first `:` (so it cannot contain `:`; nor line
/// breaks, and it cannot start with `#`); the rest is a PHC string
/// (`$scheme$params$salt$hash`). The schemes understood are `argon2id`, `argon2i` and
/// `argon2d`; [`PasswordFile::set`] writes `argon2id` with the crate's default parameters
/// (19 MiB, 2 passes) and a random 16-byte salt from the operating system. The plain password
/// is never stored, logged or kept in memory by this type.
///
/// Verification ([`PasswordFile::verify`]) compares hashes in constant time, and an unknown
/// user costs one hash like a known one, so timing does not reveal which users exist.
///
/// Entries keep the order of the file; [`PasswordFile::set`] on a new user appends it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    entries: Vec<(String, String)>,
}

impl fmt::Debug for PasswordFile {
    /// Lists the user names only, not the hashes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("users", &self.usernames().collect::<Vec<_>>())
            .finish()
    }
}

/// Schemes accepted in a password file.
const SCHEMES: [&str; 3] = ["argon2id", "argon2i", "argon2d"];

impl PasswordFile {
    /// An empty file: no user can log in.
    pub fn new() -> Self {
        PasswordFile::default()
    }

    /// Reads and checks a password file (see the [format](PasswordFile#format)). Errors name
    /// the file and line.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PasswordFileError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| PasswordFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            PasswordFileError::Syntax { line, reason, .. } => PasswordFileError::Syntax {
                path: path.to_owned(),
                line,
                reason,
            },
            other => other,
        })
    }

    /// Parses the text of a password file (see the [format](PasswordFile#format)); a later line
    /// for the same user replaces an earlier one.
    pub fn parse(text: &str) -> Result<Self, PasswordFileError> {
        let mut file = PasswordFile::new();
        for (index, raw) in text.lines().enumerate() {
            let syntax = |reason: &str| PasswordFileError::Syntax {
                path: PathBuf::new(),
                line: index + 1,
                reason: reason.to_owned(),
            };
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| syntax("expected `username:<hash>`"))?;
            check_username(user).map_err(&syntax)?;
            let parsed = PasswordHash::new(hash)
                .map_err(|_| syntax("the hash is not a PHC string ($scheme$params$salt$hash)"))?;
            if !SCHEMES.contains(&parsed.algorithm.as_str()) {
                return Err(syntax(
                    "unsupported hash scheme (expected argon2id, argon2i or argon2d)",
                ));
            }
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err(syntax("the hash has no salt or no hash value"));
            }
            file.insert(user.to_owned(), hash.to_owned());
        }
        Ok(file)
    }

    /// Whether `password` is the password of `username`. `false` for an unknown user, and for a
    /// hash that cannot be checked. Takes the time of one Argon2 hash (tens of milliseconds in
    /// release builds): call it where blocking is fine, e.g. `spawn_blocking`.
    pub fn verify(&self, username: &str, password: impl AsRef<[u8]>) -> bool {
        let password = password.as_ref();
        match self.hash_of(username) {
            Some(hash) => match PasswordHash::new(hash) {
                Ok(parsed) => super::verify::verify(password, &parsed),
                Err(_) => false,
            },
            None => {
                // Same cost as a known user, so the answer time does not tell who exists.
                if let Some(dummy) = dummy_hash() {
                    let _ = super::verify::verify(password, dummy);
                }
                false
            }
        }
    }

    /// Sets (adds or replaces) the password of `username`, hashed with Argon2id and a fresh
    /// random salt. Refuses user names with `:`, control characters, surrounding whitespace
    /// or a leading `#`, and empty passwords.
    pub fn set(
        &mut self,
        username: &str,
        password: impl AsRef<[u8]>,
    ) -> Result<(), PasswordFileError> {
        check_username(username).map_err(PasswordFileError::InvalidUserName)?;
        let password = password.as_ref();
        if password.is_empty() {
            return Err(PasswordFileError::EmptyPassword);
        }
        let hash = Argon2::default()
            .hash_password(password)
            .map_err(|e| PasswordFileError::Hash(e.to_string()))?;
        self.insert(username.to_owned(), hash.to_string());
        Ok(())
    }

    /// Removes `username`; returns whether it was there.
    pub fn remove(&mut self, username: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(user, _)| user != username);
        self.entries.len() != before
    }

    /// Whether `username` has an entry.
    pub fn contains(&self, username: &str) -> bool {
        self.hash_of(username).is_some()
    }

    /// The user names, in file order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(user, _)| user.as_str())
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file's text: one `username:hash` line per user, in order.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for (user, hash) in &self.entries {
            text.push_str(user);
            text.push(':');
            text.push_str(hash);
            text.push('\n');
        }
        text
    }

    /// Writes the file atomically: the text goes to a temporary file in the same directory,
    /// which is flushed to disk and then renamed over `path`, so a reader (or a crash) sees the
    /// old file or the new one, never a part. On Unix the file is created with mode 0600.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PasswordFileError> {
        let path = path.as_ref();
        let io_err = |source| PasswordFileError::Io {
            path: path.to_owned(),
            source,
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io_err(io::Error::other("not a file name")))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(self.to_text().as_bytes())?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        // Make the rename itself durable (best effort: not every platform opens directories).
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(dir) = fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }

    fn hash_of(&self, username: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(user, _)| user == username)
            .map(|(_, hash)| hash.as_str())
    }

    fn insert(&mut self, username: String, hash: String) {
        match self.entries.iter_mut().find(|(user, _)| *user == username) {
            Some(entry) => entry.1 = hash,
            None => self.entries.push((username, hash)),
        }
    }
}

/// A hash of a random password, for the time an unknown user's check takes.
fn dummy_hash() -> Option<&'static PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let password = argon2::password_hash::try_generate_salt().ok()?;
            Argon2::default().hash_password(&password).ok()
        })
        .as_ref()
}

/// Whether `name` can be a user name in the file.
fn check_username(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty user name");
    }
    if name.contains(':') {
        return Err("a user name cannot contain `:`");
    }
    if name.chars().any(char::is_control) {
        return Err("a user name cannot contain control characters");
    }
    if name.trim() != name {
        return Err("a user name cannot start or end with whitespace");
    }
    if name.starts_with('#') {
        return Err("a user name cannot start with `#`");
    }
    Ok(())
}
