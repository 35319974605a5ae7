//! `myqttd passwd`: adds, changes or deletes a user in a password file.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use myqtt_host::auth::PasswordFile;
use myqtt_host::config::MyqttdConfig;

use super::PasswdArgs;

/// `myqttd passwd [-f FILE | -c CONFIG] [--delete] USER`.
pub(crate) fn passwd(args: &PasswdArgs) -> Result<(), String> {
    let path = match (&args.file, &args.config) {
        (Some(file), _) => file.clone(),
        (None, Some(config)) => MyqttdConfig::load(config)
            .map_err(|e| e.to_string())?
            .password_file
            .ok_or_else(|| format!("{}: no password_file set", config.display()))?,
        (None, None) => return Err("no password file: use -f FILE".into()),
    };
    let mut users = load_or_new(&path)?;
    if args.delete {
        if !users.remove(&args.user) {
            return Err(format!("{}: no user {:?}", path.display(), args.user));
        }
        users.save(&path).map_err(|e| e.to_string())?;
        eprintln!("myqttd: deleted {:?} from {}", args.user, path.display());
        return Ok(());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for {}: ", args.user);
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("empty password (give it on standard input)".into());
    }
    let existed = users.contains(&args.user);
    users.set(&args.user, password).map_err(|e| e.to_string())?;
    users.save(&path).map_err(|e| e.to_string())?;
    let verb = if existed { "updated" } else { "added" };
    eprintln!("myqttd: {verb} {:?} in {}", args.user, path.display());
    Ok(())
}

/// The password file at `path`, or an empty one if there is none yet.
fn load_or_new(path: &Path) -> Result<PasswordFile, String> {
    match PasswordFile::load(path) {
        Ok(users) => Ok(users),
        Err(myqtt_host::auth::PasswordFileError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(PasswordFile::new())
        }
        Err(e) => Err(e.to_string()),
    }
}
