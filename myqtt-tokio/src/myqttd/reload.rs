//! The domains `myqttd` runs and their reload on SIGHUP (MyQttD test_21): users, ACLs, domains
//! and certificates change without dropping established connections.

use std::sync::Arc;

use crate::server::{Domain, Server};
use myqtt_host::config::{ListenerConfig, MyqttdConfig};
use tokio::sync::Semaphore;
use tracing::{error, info, warn};

use super::listeners::TlsListeners;
use super::policy::{DomainSettings, Policy, Rules};

/// The settings of every domain of `config`, the default domain first.
pub(crate) fn settings(config: &MyqttdConfig) -> Result<Vec<DomainSettings>, String> {
    let mut all = vec![DomainSettings {
        name: None,
        anonymous: config.anonymous,
        password_file: config.password_file.clone(),
        acl: config.acl().map_err(|e| e.to_string())?,
        broker: config.broker_config(),
        data_dir: config.persistence.then(|| config.data_dir.clone()),
    }];
    for domain in &config.domains {
        all.push(DomainSettings {
            name: Some(domain.name.clone()),
            anonymous: domain.anonymous,
            password_file: domain.password_file.clone(),
            acl: domain
                .acl()
                .map_err(|e| format!("domain {}: {e}", domain.name))?,
            broker: config.domain_broker_config(domain),
            data_dir: config.persistence.then(|| config.domain_data_dir(domain)),
        });
    }
    Ok(all)
}

/// One running domain: the settings it was started with and its swappable policy.
struct RunningDomain {
    settings: DomainSettings,
    policy: Arc<Policy>,
}

impl RunningDomain {
    fn is(&self, name: Option<&str>) -> bool {
        match (self.settings.name.as_deref(), name) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

/// What a reload can change.
pub(crate) struct Running {
    domains: Vec<RunningDomain>,
    /// Password checks running at once, shared by every domain.
    checks: Arc<Semaphore>,
    tls: TlsListeners,
    /// The listeners the server was started with.
    pub(crate) listeners: Vec<ListenerConfig>,
}

impl Running {
    pub(crate) fn new(tls: TlsListeners) -> Running {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Running {
            domains: Vec::new(),
            checks: Arc::new(Semaphore::new(parallel)),
            tls,
            listeners: Vec::new(),
        }
    }

    /// Loads a domain's users and builds its server side; returns its name and domain.
    pub(crate) fn prepare(
        &mut self,
        settings: DomainSettings,
    ) -> Result<(Option<String>, Domain), String> {
        let rules = Rules::load(&settings)?;
        let policy = Policy::new(settings.name.as_deref(), rules, self.checks.clone());
        let domain = policy.domain(&settings);
        let name = settings.name.clone();
        log_domain(&settings);
        self.domains.push(RunningDomain { settings, policy });
        Ok((name, domain))
    }

    /// Applies a new configuration: every domain's users and ACL are replaced, new domains
    /// start, removed ones stop (their clients are disconnected), certificates are reloaded.
    /// Limits, storage and listeners of running domains need a restart (a warning names
    /// them). If any password file fails to load, nothing changes.
    pub(crate) async fn reload(
        &mut self,
        server: &Server,
        config: &MyqttdConfig,
        domains: Vec<DomainSettings>,
    ) {
        let mut loaded = Vec::new();
        for settings in domains {
            match Rules::load(&settings) {
                Ok(rules) => loaded.push((settings, rules)),
                Err(e) => {
                    error!(
                        domain = settings.label(),
                        "reload failed, keeping the running configuration: {e}"
                    );
                    return;
                }
            }
        }
        let mut removed = Vec::new();
        self.domains.retain(|running| {
            let kept = loaded.iter().any(|(s, _)| running.is(s.name.as_deref()));
            if !kept {
                removed.extend(running.settings.name.clone());
            }
            kept
        });
        for name in removed {
            server.remove_domain(&name).await;
        }
        for (settings, rules) in loaded {
            match self
                .domains
                .iter_mut()
                .find(|d| d.is(settings.name.as_deref()))
            {
                Some(running) => {
                    running.policy.replace(rules);
                    if running.settings.broker != settings.broker
                        || running.settings.data_dir != settings.data_dir
                    {
                        warn!(
                            domain = settings.label(),
                            "limits or data_dir changed: restart myqttd to apply them"
                        );
                    }
                    running.settings.anonymous = settings.anonymous;
                    running.settings.password_file = settings.password_file.clone();
                    running.settings.acl = settings.acl.clone();
                    info!(domain = settings.label(), "users and ACL reloaded");
                }
                None => {
                    let name = settings.name.clone().unwrap_or_default();
                    let policy = Policy::new(settings.name.as_deref(), rules, self.checks.clone());
                    let domain = policy.domain(&settings);
                    match server.add_domain(&name, domain).await {
                        Ok(()) => {
                            log_domain(&settings);
                            self.domains.push(RunningDomain { settings, policy });
                        }
                        Err(e) => error!(domain = name, "cannot start the new domain: {e}"),
                    }
                }
            }
        }
        if config.listeners != self.listeners {
            warn!("listeners changed: restart myqttd to apply (certificates are reloaded)");
        }
        self.tls.reload(&config.listeners);
    }
}

fn log_domain(settings: &DomainSettings) {
    if settings.name.is_none() && settings.password_file.is_none() && settings.anonymous {
        return;
    }
    info!(
        domain = settings.label(),
        anonymous = settings.anonymous,
        users = settings.password_file.is_some(),
        acl = !settings.acl.allows_everything(),
        storage = settings.data_dir.as_ref().map(|d| d.display().to_string()),
        "domain ready"
    );
}
