//! Users and access control for the `myqttd` broker (MyQtt's mod-auth-xml, fixed).
//!
//! - [`PasswordFile`]: users with salted Argon2 password hashes in a text file
//!   (`username:$argon2id$...`), loaded, checked, changed and saved atomically.
//! - [`Acl`]: ordered allow/deny [`AclRule`]s for publish and subscribe, with `+`/`#`
//!   wildcards and `%c`/`%u` substitution. Unlike MyQtt's XML ACLs (publish only, exact
//!   topics), subscriptions are checked too, wildcard filters included, with a sound
//!   filter-coverage test ([`filter_covers`], [`filters_overlap`]).
//!
//! Nothing here is async or depends on a runtime; Argon2 verification takes tens of
//! milliseconds, so a runtime should call [`PasswordFile::verify`] on a blocking thread.
//!
//! ```
//! use myqtt_host::auth::{Acl, AclAction, AclPermission, AclRule};
//!
//! let acl = Acl::from_rules(
//!     AclPermission::Deny,
//!     [
//!         AclRule::new(AclAction::Both, "admin/#", AclPermission::Allow).for_user("admin"),
//!         AclRule::new(AclAction::Both, "clients/%c/#", AclPermission::Allow),
//!         AclRule::new(AclAction::Subscribe, "public/#", AclPermission::Allow),
//!     ],
//! )?;
//! assert!(acl.check_publish("dev1", None, "clients/dev1/temp").is_allowed());
//! assert!(!acl.check_publish("dev1", None, "clients/dev2/temp").is_allowed());
//! assert!(acl.check_subscribe("dev1", None, "public/+/news").is_allowed());
//! assert!(!acl.check_subscribe("dev1", Some("bob"), "admin/#").is_allowed());
//! # Ok::<(), myqtt_host::auth::AclError>(())
//! ```

mod acl;
mod password;
mod verify;

pub use acl::{Acl, AclAction, AclError, AclPermission, AclRule, filter_covers, filters_overlap};
pub use password::{PasswordFile, PasswordFileError};
