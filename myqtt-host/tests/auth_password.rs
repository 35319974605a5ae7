//! Password file: set/verify/remove/save/load round trips and format checks.

use myqtt_host::auth::{PasswordFile, PasswordFileError};

#[test]
fn set_verify_remove_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");

    let mut file = PasswordFile::new();
    assert!(file.is_empty());
    file.set("alice", "s3cret-Alice").unwrap();
    file.set("bob", b"b0b-password".as_slice()).unwrap();
    assert_eq!(file.len(), 2);
    assert!(file.verify("alice", "s3cret-Alice"));
    assert!(!file.verify("alice", "s3cret-alice"), "wrong password");
    assert!(!file.verify("alice", ""), "empty password");
    assert!(
        !file.verify("bob", "s3cret-Alice"),
        "another user's password"
    );
    assert!(!file.verify("carol", "s3cret-Alice"), "unknown user");
    file.save(&path).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("s3cret-Alice"), "plain password in the file");
    assert!(!text.contains("b0b-password"), "plain password in the file");
    assert!(text.starts_with("alice:$argon2id$v=19$"), "{text}");
    assert_eq!(text.lines().count(), 2);

    let mut loaded = PasswordFile::load(&path).unwrap();
    assert_eq!(loaded, file);
    assert!(loaded.verify("alice", "s3cret-Alice"));
    assert!(loaded.verify("bob", "b0b-password"));
    assert!(!loaded.verify("bob", "b0b-passwore"));

    // Update: the old password stops working, the order is kept.
    loaded.set("alice", "new one").unwrap();
    assert!(!loaded.verify("alice", "s3cret-Alice"));
    assert!(loaded.verify("alice", "new one"));
    assert_eq!(loaded.usernames().collect::<Vec<_>>(), ["alice", "bob"]);

    // Remove.
    assert!(loaded.remove("bob"));
    assert!(!loaded.remove("bob"));
    assert!(!loaded.contains("bob"));
    assert!(!loaded.verify("bob", "b0b-password"));
    loaded.save(&path).unwrap();
    let reloaded = PasswordFile::load(&path).unwrap();
    assert_eq!(reloaded.usernames().collect::<Vec<_>>(), ["alice"]);
    assert!(reloaded.verify("alice", "new one"));

    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["passwd"]);
}

#[test]
fn same_password_gets_a_different_salt() {
    let mut file = PasswordFile::new();
    file.set("a", "same").unwrap();
    file.set("b", "same").unwrap();
    let text = file.to_text();
    let hashes: Vec<&str> = text.lines().map(|l| l.split_once(':').unwrap().1).collect();
    assert_ne!(hashes[0], hashes[1]);
    let salt = |h: &str| h.split('$').nth(4).unwrap().to_owned();
    assert_ne!(salt(hashes[0]), salt(hashes[1]));
}

#[cfg(unix)]
#[test]
fn saved_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    let mut file = PasswordFile::new();
    file.set("u", "p").unwrap();
    file.save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn comments_blank_lines_and_crlf_are_accepted() {
    let mut file = PasswordFile::new();
    file.set("alice", "pw").unwrap();
    let text = format!("# users\n\n{}", file.to_text().replace('\n', "\r\n"));
    let parsed = PasswordFile::parse(&text).unwrap();
    assert!(parsed.verify("alice", "pw"));
}

#[test]
fn bad_lines_are_reported_with_their_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    let cases = [
        ("# ok\nalice plain\n", 2),
        ("alice:plaintext\n", 1),
        ("\n\nalice:$md5$abc$def\n", 3),
        (
            ":$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n",
            1,
        ),
    ];
    for (text, line) in cases {
        std::fs::write(&path, text).unwrap();
        match PasswordFile::load(&path) {
            Err(PasswordFileError::Syntax {
                line: l, path: p, ..
            }) => {
                assert_eq!(l, line, "{text:?}");
                assert_eq!(p, path);
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let err = PasswordFile::load(dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, PasswordFileError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn invalid_user_names_and_empty_passwords_are_refused() {
    let mut file = PasswordFile::new();
    for name in ["", "a:b", "new\nline", " padded", "#comment"] {
        assert!(
            matches!(
                file.set(name, "pw"),
                Err(PasswordFileError::InvalidUserName(_))
            ),
            "{name:?}"
        );
    }
    assert!(matches!(
        file.set("ok", ""),
        Err(PasswordFileError::EmptyPassword)
    ));
    assert!(file.is_empty());
    // Any other UTF-8 is fine, `@` and spaces inside included.
    file.set("jürgen smith@example", "pw").unwrap();
    assert!(file.verify("jürgen smith@example", "pw"));
}

#[test]
fn debug_output_has_no_hashes() {
    let mut file = PasswordFile::new();
    file.set("alice", "pw").unwrap();
    let debug = format!("{file:?}");
    assert!(debug.contains("alice"));
    assert!(!debug.contains("argon2"), "{debug}");
}
