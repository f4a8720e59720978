//! The backend conformance suite: what every backend must do, written once and run against
//! each one (the local backend in `local::backend`'s tests; a new backend calls [`run_all`]
//! from its own) — the catalog's records (`catalog.rs`), the queues derived from them
//! (`queues.rs`), its control plane (`control.rs`), the blob store (`blobs.rs`) and what a
//! migration reads and writes (`migration.rs`). Each check starts from projects it creates through the
//! catalog's own control plane and fails with a panic naming what broke.

mod blobs;
mod catalog;
mod control;
mod migration;
mod queues;

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::ids::{ProjectId, TeamId};
use crate::model::control::{ControlChange, Project};

use super::{BlobStore, Catalog, ReserveLimits};

pub use blobs::*;
pub use catalog::*;
pub use control::*;
pub use migration::*;
pub use queues::*;

/// What a backend provides to be checked: its catalog and its blob store, over the same data
/// (fresh, or at least with no project the suite did not make).
pub trait Fixture: Send + Sync {
    /// The catalog under test.
    fn catalog(&self) -> Arc<dyn Catalog>;

    /// The blob store under test, committing through [`Fixture::catalog`].
    fn blobs(&self) -> Arc<dyn BlobStore>;

    /// A new project with these quota overrides (`None`: the limits' defaults).
    fn project(&self, quota: Option<u64>, user_quota: Option<u64>) -> ProjectId {
        let p = Project {
            id: ProjectId::random(),
            team_id: TeamId::random(),
            name: "p".into(),
            created_at: Timestamp(1),
            deleted_at: None,
            project_quota_bytes: quota,
            user_quota_bytes: user_quota,
        };
        self.catalog().apply_control(vec![ControlChange::PutProject(p.clone())]).unwrap();
        p.id
    }

    /// Marks a project deleted.
    fn delete_project(&self, project: ProjectId) {
        let c = self.catalog();
        c.apply_control(vec![ControlChange::DeleteProject { project, at: Timestamp(2) }]).unwrap();
        assert_eq!(c.project(&project).unwrap().and_then(|p| p.deleted_at), Some(Timestamp(2)));
    }
}

/// Generous limits, so only what a check sets up can refuse.
pub const LIMITS: ReserveLimits = ReserveLimits {
    default_project_quota: 1 << 40,
    default_user_quota: 1 << 40,
    max_pending_count: 1_000_000,
    max_pending_bytes: 1 << 40,
};

/// Runs every check.
pub fn run_all(f: &dyn Fixture) {
    reserve_records_and_counts(f);
    quota_refusals_in_order(f);
    concurrent_reserves_never_overshoot(f);
    pending_caps(f);
    transitions_move_rows_and_counters(f);
    stale_updates_are_refused(f);
    concurrent_deletes_win_once(f);
    listing_pages_neither_skip_nor_repeat(f);
    lapsed_and_deleted_scans(f);
    the_scan_queue_follows_the_records(f);
    ephemeral_deadlines_are_found_until_deleted(f);
    notices_commit_with_their_change(f);
    deleted_projects_take_no_reservations(f);
    quota_changes_reach_the_next_reserve(f);
    control_changes_land_whole_and_read_back(f);
    users_aliases_and_parents_belong_to_one_project(f);
    bodies_round_trip_at_every_size(f);
    commits_refuse_records_that_changed(f);
    unsized_bodies_round_trip(f);
    a_commit_retires_the_record_it_replaces(f);
    aborted_bodies_leave_the_reservation_retryable(f);
    settled_commits_record_what_was_measured(f);
    the_control_plane_exports_as_the_changes_that_made_it(f);
    records_import_exactly_and_read_back_in_id_order(f);
}
