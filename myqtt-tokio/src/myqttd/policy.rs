//! Who may connect, publish and subscribe in one domain: anonymous access, the password file
//! and the ACL, swappable at run time (SIGHUP) without touching established connections.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::server::{
    BrokerConfig, ClientView, ConnectDecision, ConnectInfo, Domain, PublishDecision,
    SubscribeDecision,
};
use myqtt_host::auth::{Acl, PasswordFile};
use myqtt_proto::ReasonCode;
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// One domain's settings, as the configuration gives them.
#[derive(Clone, Debug)]
pub(crate) struct DomainSettings {
    /// `None` for the default domain.
    pub(crate) name: Option<String>,
    pub(crate) anonymous: bool,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) acl: Acl,
    pub(crate) broker: BrokerConfig,
    /// `None` without persistence.
    pub(crate) data_dir: Option<PathBuf>,
}

impl DomainSettings {
    /// The name for log lines.
    pub(crate) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }
}

/// The rules in force: loaded users and the ACL.
#[derive(Debug)]
pub(crate) struct Rules {
    anonymous: bool,
    users: Option<Arc<PasswordFile>>,
    /// `None` when the ACL allows everything.
    acl: Option<Acl>,
}

impl Rules {
    /// Reads the password file the settings name.
    pub(crate) fn load(settings: &DomainSettings) -> Result<Rules, String> {
        let users = match &settings.password_file {
            Some(path) => Some(Arc::new(load_users(path, settings.label())?)),
            None => None,
        };
        let acl = (!settings.acl.allows_everything()).then(|| settings.acl.clone());
        Ok(Rules {
            anonymous: settings.anonymous,
            users,
            acl,
        })
    }
}

fn load_users(path: &Path, domain: &str) -> Result<PasswordFile, String> {
    let users = PasswordFile::load(path).map_err(|e| format!("password_file {e}"))?;
    if users.is_empty() {
        warn!(file = %path.display(), domain, "the password file has no users");
    }
    Ok(users)
}

/// A domain's rules, replaced as a whole on reload.
#[derive(Debug)]
pub(crate) struct Policy {
    domain: Option<Arc<str>>,
    rules: RwLock<Arc<Rules>>,
    /// Whether the rules have an ACL: without one, publishes and subscriptions skip the lock
    /// (they are on the broker's hot path).
    has_acl: AtomicBool,
    /// Argon2 takes ~20 MiB and tens of milliseconds per check: bounds how many run at once.
    checks: Arc<Semaphore>,
}

impl Policy {
    pub(crate) fn new(name: Option<&str>, rules: Rules, checks: Arc<Semaphore>) -> Arc<Policy> {
        Arc::new(Policy {
            domain: name.map(Arc::from),
            has_acl: AtomicBool::new(rules.acl.is_some()),
            rules: RwLock::new(Arc::new(rules)),
            checks,
        })
    }

    /// Puts new rules in force for every later CONNECT, PUBLISH and SUBSCRIBE.
    pub(crate) fn replace(&self, rules: Rules) {
        // Raise the flag before an ACL arrives and lower it after one is gone, so no check is
        // ever skipped while an ACL is in force.
        let has_acl = rules.acl.is_some();
        if has_acl {
            self.has_acl.store(true, Ordering::Release);
        }
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
        if !has_acl {
            self.has_acl.store(false, Ordering::Release);
        }
    }

    fn current(&self) -> Arc<Rules> {
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn domain_label(&self) -> &str {
        self.domain.as_deref().unwrap_or("-")
    }

    /// A server domain whose handlers consult this policy.
    pub(crate) fn domain(self: &Arc<Self>, settings: &DomainSettings) -> Domain {
        let mut domain = Domain::new().config(settings.broker.clone());
        if let Some(dir) = &settings.data_dir {
            domain = domain.storage(dir.clone());
        }
        let (connect, publish, subscribe) = (self.clone(), self.clone(), self.clone());
        domain
            .on_connect(move |info| {
                let policy = connect.clone();
                async move { policy.check_connect(info).await }
            })
            .on_publish(move |client, message| {
                publish.check_publish(client, message.topic.as_str())
            })
            .on_subscribe(move |client, subscription| {
                subscribe.check_subscribe(client, subscription)
            })
    }

    /// The CONNECT check: anonymous clients per `anonymous`, named ones against the password
    /// file, then the will topic against the ACL. Logs one line per failure, never the
    /// password.
    async fn check_connect(&self, info: ConnectInfo) -> ConnectDecision {
        let rules = self.current();
        let decision = self.authenticate(&info, &rules).await;
        if decision != ConnectDecision::Accept {
            return decision;
        }
        self.authorize_will(&info, &rules)
    }

    async fn authenticate(&self, info: &ConnectInfo, rules: &Rules) -> ConnectDecision {
        let peer = info.remote_addr.as_deref().unwrap_or("-");
        let probing = info.handle.is_none();
        let domain = self.domain_label();
        let Some(user) = info.username.clone() else {
            if rules.anonymous {
                return ConnectDecision::Accept;
            }
            if !probing {
                warn!(
                    client_id = info.client_id,
                    peer,
                    domain,
                    "authentication failed: no user name (anonymous clients are not allowed)"
                );
            }
            return ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword);
        };
        let Some(users) = rules.users.clone() else {
            // No password file (so anonymous = true): user names are not checked.
            return ConnectDecision::Accept;
        };
        let password = info.password.clone().unwrap_or_default();
        let ok = {
            let _permit = self.checks.acquire().await;
            let user = user.clone();
            tokio::task::spawn_blocking(move || users.verify(&user, &password))
                .await
                .unwrap_or(false)
        };
        if ok {
            ConnectDecision::Accept
        } else {
            if !probing {
                warn!(
                    client_id = info.client_id,
                    user, peer, domain, "authentication failed: bad user name or password"
                );
            }
            ConnectDecision::Reject(ReasonCode::BadUserNameOrPassword)
        }
    }

    /// The will is published by the server on the client's behalf: a will topic the client
    /// may not publish to refuses the CONNECT (Not authorized), so the ACL cannot be bypassed.
    fn authorize_will(&self, info: &ConnectInfo, rules: &Rules) -> ConnectDecision {
        if let (Some(acl), Some(topic)) = (&rules.acl, &info.will_topic)
            && !acl
                .check_publish(&info.client_id, info.username.as_deref(), topic)
                .is_allowed()
        {
            info!(
                client_id = info.client_id,
                user = info.username.as_deref().unwrap_or("-"),
                domain = self.domain_label(),
                topic = topic.as_str(),
                "will topic denied by ACL"
            );
            return ConnectDecision::Reject(ReasonCode::NotAuthorized);
        }
        ConnectDecision::Accept
    }

    fn check_publish(&self, client: &ClientView<'_>, topic: &str) -> PublishDecision {
        if !self.has_acl.load(Ordering::Acquire) {
            return PublishDecision::Allow;
        }
        let rules = self.current();
        let Some(acl) = &rules.acl else {
            return PublishDecision::Allow;
        };
        if acl
            .check_publish(client.client_id, client.username, topic)
            .is_allowed()
        {
            return PublishDecision::Allow;
        }
        info!(
            client_id = client.client_id,
            user = client.username.unwrap_or("-"),
            domain = self.domain_label(),
            topic,
            "publish denied by ACL"
        );
        PublishDecision::Refuse(ReasonCode::NotAuthorized)
    }

    fn check_subscribe(
        &self,
        client: &ClientView<'_>,
        subscription: &myqtt_proto::codec::Subscription,
    ) -> SubscribeDecision {
        let granted = SubscribeDecision::Grant(subscription.options.qos);
        if !self.has_acl.load(Ordering::Acquire) {
            return granted;
        }
        let rules = self.current();
        let Some(acl) = &rules.acl else {
            return granted;
        };
        let filter = subscription.filter.as_str();
        if acl
            .check_subscribe(client.client_id, client.username, filter)
            .is_allowed()
        {
            return granted;
        }
        info!(
            client_id = client.client_id,
            user = client.username.unwrap_or("-"),
            domain = self.domain_label(),
            filter,
            "subscribe denied by ACL"
        );
        SubscribeDecision::Deny(ReasonCode::NotAuthorized)
    }
}
