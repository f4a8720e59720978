//! Parent locks across replicas: a slot's replace (seed 002 and the like: one live file per
//! parent) reads the parent's current file, reserves the new one with credit for it and
//! commits the swap; on one machine the service's in-process lock makes that a unit, across
//! replicas this lock does. It is a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`) taken in a transaction held open on a pooled connection of its
//! own for as long as the guard lives; dropping the guard rolls the transaction back, which
//! releases the lock, and a replica that dies releases it with its connection.

use std::sync::Arc;

use sha2::Digest as _;

use super::rows::parent_key;
use super::runner::{Runner, pg_error, pool_error};
use crate::engine::CatalogResult;
use crate::model::ParentRef;

/// The advisory lock key of a parent: 8 bytes of the SHA-256 of its key, as PostgreSQL's
/// advisory locks take one `bigint`.
fn lock_key(parent: &ParentRef) -> i64 {
    let digest = sha2::Sha256::digest(format!("attachd parent {}", parent_key(parent)).as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Holds a parent's lock until dropped.
pub struct ParentLockGuard {
    client: Option<deadpool_postgres::Object>,
    runner: Arc<Runner>,
}

impl Drop for ParentLockGuard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the transaction (releasing the lock) before the connection goes back to
            // the pool; a connection that cannot is dropped, which releases it too.
            self.runner.handle().spawn(async move {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    drop(deadpool_postgres::Object::take(client));
                }
            });
        }
    }
}

/// Takes `parent`'s lock, waiting for any replica that holds it.
pub fn lock_parent(runner: &Arc<Runner>, parent: &ParentRef) -> CatalogResult<ParentLockGuard> {
    let key = lock_key(parent);
    let pool = runner.lock_pool().clone();
    let client = runner.run(async move {
        let client = pool.get().await.map_err(pool_error)?;
        if let Err(e) = client.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({key})")).await {
            // Never hand back a connection inside a transaction.
            drop(deadpool_postgres::Object::take(client));
            return Err(pg_error(e));
        }
        Ok::<_, crate::engine::CatalogError>(client)
    })?;
    Ok(ParentLockGuard { client: Some(client), runner: runner.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ParentKind;

    #[test]
    fn lock_keys_are_stable_and_tell_parents_apart() {
        let a = ParentRef { kind: ParentKind::ClientEvent, id: crate::model::ParentId::Text("a".into()) };
        let b = ParentRef { kind: ParentKind::ClientEvent, id: crate::model::ParentId::Text("b".into()) };
        assert_eq!(lock_key(&a), lock_key(&a.clone()));
        assert_ne!(lock_key(&a), lock_key(&b));
    }
}
