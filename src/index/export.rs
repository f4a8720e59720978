//! Every control-plane entry of the `control` and `event_links` families, as the
//! [`ControlChange`]s that recreate it (a migration to another backend applies them there).
//! Derived entries (`H` key hashes, `U` memberships by user, `Q` parents by project) follow
//! from the changes and are not exported; an entry this version cannot read fails the export
//! rather than being dropped.

use crate::ids::{AppId, ClientEventId, ProjectId, TeamId, UserId};
use crate::model::control::{AliasKind, ControlChange, EventLink};
use crate::model::{UploadPolicy, Webhook};

use super::{Index, IndexError, control, links};

fn corrupt(what: &str) -> IndexError {
    IndexError::Corrupt { cf: control::CF, what: format!("export: {what}") }
}

fn json<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, IndexError> {
    serde_json::from_slice(v).map_err(|e| corrupt(&e.to_string()))
}

fn text(b: &[u8]) -> Result<String, IndexError> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt("not UTF-8"))
}

impl Index {
    /// The control plane as changes (see the module docs).
    pub fn export_control(&self) -> Result<Vec<ControlChange>, IndexError> {
        let mut out = Vec::new();
        // The hash a key was stored under (`H` entries), which lookups use.
        let mut hashes = std::collections::HashMap::new();
        for row in self.scan_prefix(control::CF, vec![b'H'], &[b'H']) {
            let (k, v) = row?;
            let sha = <[u8; 32]>::try_from(&k[1..]).map_err(|_| corrupt("key hash entry"))?;
            hashes.insert(crate::ids::KeyId::from_slice(&v).ok_or_else(|| corrupt("key hash entry"))?, sha);
        }
        for row in self.scan_prefix(control::CF, Vec::new(), &[]) {
            let (k, v) = row?;
            let (&tag, rest) = k.split_first().ok_or_else(|| corrupt("empty key"))?;
            let change = match tag {
                b'T' => ControlChange::PutTeam(json(&v)?),
                b'P' => ControlChange::PutProject(json(&v)?),
                b'A' => ControlChange::PutApp(json(&v)?),
                b'K' => {
                    let key: crate::model::control::ApiKey = json(&v)?;
                    let secret_sha256 = match hashes.get(&key.id) {
                        Some(h) => *h,
                        None => {
                            let mut h = [0u8; 32];
                            hex::decode_to_slice(&key.secret_sha256, &mut h).map_err(|_| corrupt("key hash"))?;
                            h
                        }
                    };
                    ControlChange::PutApiKey { key, secret_sha256 }
                }
                b'S' => {
                    let sha256 = <[u8; 32]>::try_from(rest).map_err(|_| corrupt("admin token key"))?;
                    ControlChange::PutAdminToken { sha256, token: json(&v)? }
                }
                b'M' => {
                    let team = TeamId::from_slice(rest.get(..16).ok_or_else(|| corrupt("member key"))?)
                        .ok_or_else(|| corrupt("member team"))?;
                    ControlChange::PutMember { team, user: UserId(text(&rest[16..])?), role: json(&v)? }
                }
                b'X' => ControlChange::PutMarker { name: text(rest)?, value: json(&v)? },
                b'W' => ControlChange::PutUser(json(&v)?),
                b'L' => {
                    let (&kind, value) = rest.split_first().ok_or_else(|| corrupt("alias key"))?;
                    let kind = [AliasKind::SpaceSlug, AliasKind::ProjectNumber]
                        .into_iter()
                        .find(|k| k.tag() == kind)
                        .ok_or_else(|| corrupt("alias kind"))?;
                    let project = ProjectId::from_slice(&v).ok_or_else(|| corrupt("alias value"))?;
                    ControlChange::PutAlias { kind, value: text(value)?, project }
                }
                b'R' => ControlChange::PutParent(json(&v)?),
                b'V' => {
                    let w: Webhook = json(&v)?;
                    ControlChange::SetWebhook { project: w.project_id, webhook: Some(w) }
                }
                b'Y' => {
                    let project = ProjectId::from_slice(rest).ok_or_else(|| corrupt("upload policy key"))?;
                    let policy: UploadPolicy = json(&v)?;
                    ControlChange::SetUploadPolicy { project, policy: Some(policy) }
                }
                b'H' | b'U' | b'Q' => continue,
                other => return Err(corrupt(&format!("unknown tag {:?}", other as char))),
            };
            out.push(change);
        }
        for row in self.scan_prefix(links::CF, Vec::new(), &[]) {
            let (k, v) = row?;
            let app = AppId::from_slice(k.get(..16).ok_or_else(|| corrupt("link key"))?)
                .ok_or_else(|| corrupt("link app"))?;
            let client_event_id = ClientEventId::from_slice(k.get(16..32).ok_or_else(|| corrupt("link key"))?)
                .ok_or_else(|| corrupt("link id"))?;
            let link: EventLink = json(&v)?;
            out.push(ControlChange::PutEventLink { app, client_event_id, link });
        }
        Ok(out)
    }
}
