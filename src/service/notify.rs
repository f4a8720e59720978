//! Webhooks, the service's half: a project's webhook (set by the admin API, its secret shown
//! once), and the notices queued for it. A notice is queued in the same catalog write as the
//! verdict it announces (`scan.rs`), and the webhook worker (`crate::worker::webhooks`)
//! delivers and then removes it, so none is lost to a restart.

use crate::clock::Timestamp;
use crate::ids::ProjectId;
use crate::model::control::ControlChange;
use crate::model::{Notice, Webhook};

use super::admin::random_secret;
use super::{Result, Service, ServiceError};

/// Prefix of webhook signing secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

impl Service {
    /// A project's webhook, if one is set.
    pub fn webhook(&self, project: &ProjectId) -> Result<Option<Webhook>> {
        Ok(self.catalog.webhook(project)?)
    }

    /// Sets project `project`'s webhook to `url` with a new signing secret; returns it (the
    /// only time the secret is shown).
    pub fn set_webhook(&self, project: ProjectId, url: &str) -> Result<Webhook> {
        if !webhook_url_ok(url) {
            return Err(ServiceError::BadParameter(
                "url must be http://host[:port]/path (put a TLS proxy in front of an https receiver)".into(),
            ));
        }
        self.catalog.project(&project)?.filter(|p| p.deleted_at.is_none()).ok_or(ServiceError::ProjectNotFound)?;
        let hook = Webhook {
            project_id: project,
            url: url.to_string(),
            secret: format!("{WEBHOOK_SECRET_PREFIX}{}", random_secret()),
            created_at: Timestamp::now(),
        };
        self.commit_control(vec![ControlChange::SetWebhook { project, webhook: Some(hook.clone()) }])?;
        Ok(hook)
    }

    /// Removes a project's webhook; whether there was one. Notices queued for it are dropped
    /// as the worker meets them.
    pub fn delete_webhook(&self, project: ProjectId) -> Result<bool> {
        if self.catalog.webhook(&project)?.is_none() {
            return Ok(false);
        }
        self.commit_control(vec![ControlChange::SetWebhook { project, webhook: None }])?;
        Ok(true)
    }

    /// Up to `limit` queued notices, oldest first.
    pub fn notices(&self, limit: usize) -> Result<Vec<Notice>> {
        Ok(self.catalog.notices(limit)?)
    }

    /// Removes a delivered notice.
    pub fn notice_sent(&self, n: &Notice) -> Result<()> {
        Ok(self.catalog.notice_sent(n)?)
    }

    /// What wakes the webhook worker early (a notice was queued).
    pub fn notice_wakeup(&self) -> &tokio::sync::Notify {
        &self.notice_wake
    }
}

/// Whether `url` is `http://host[:port][/path]`: no credentials, no spaces, at most 2 KiB (the
/// HTTP layer parses it again when it delivers).
pub fn webhook_url_ok(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h,
        Some(_) => "",
        None => authority,
    };
    !host.is_empty()
        && !authority.contains('@')
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        for ok in ["http://127.0.0.1:8080/hooks?x=1", "http://example.com", "http://h/p"] {
            assert!(webhook_url_ok(ok), "{ok}");
        }
        for bad in
            ["https://example.com/h", "http://user:pw@h/", "http:///p", "http://h:99999/", "http://h /", "ftp://h/", ""]
        {
            assert!(!webhook_url_ok(bad), "{bad}");
        }
    }
}
