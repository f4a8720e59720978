//! The PostgreSQL schema, as numbered migrations embedded in the binary and applied at start.
//!
//! Every replica runs [`migrate`] when it starts; a session advisory lock makes them take turns,
//! and `schema_migrations` records each version applied, in the same transaction as the
//! migration, so a migration is applied exactly once however many replicas start together and
//! whichever of them crashes half-way. A database at a newer version than this binary knows is
//! refused (an older binary must not write to a schema it does not understand).
//!
//! Tables (migration 1):
//! - `attachments`: one row per record; `record` holds the record in the versioned binary form
//!   both backends share (`crate::model::codec`); the other columns are derived from it for
//!   the queries, each with a partial index shaped like the local index's column family:
//!   listing (project, created desc, id), lapsed reservations, pending reservations per
//!   project, the scan queue, ephemeral deadlines, soft deletions.
//! - `attachment_parents`: (parent, created desc, id) for every parent of a visible record.
//! - `project_usage`: per project the declared bytes and files of everything not deleted, and a
//!   copy of the project's quotas and deletion, so a reserve checks and counts in one
//!   conditional `UPDATE` of this row. Pending reservations are not counted here but read from
//!   the `attachments_pending` index under this row's lock: an upload's commit then never
//!   touches the project's row, which every reserve of the project queues on.
//! - `user_usage`: per (project, owner) bytes and files.
//! - `outbox`: notices for webhooks, written in the transaction of the change they announce.
//!
//! `claimed_by`/`claimed_until` on `attachments` and `outbox` are the background jobs' leases
//! (`catalog.rs`): a replica's queue read claims what it returns with `FOR UPDATE SKIP LOCKED`,
//! so the jobs of several replicas share the work instead of repeating it.
//! - `control`: the control plane, one JSON value per (kind, k1, k2).
//! - `control_version`: one counter every control transaction bumps; replicas watch it to drop
//!   their control caches.

use super::runner::pg_error;
use crate::engine::CatalogError;

/// The migrations, in order; entry `i` is version `i + 1`. Never edit one that has shipped:
/// add the next.
pub const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE attachments (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL,
    size_bytes   bigint NOT NULL,
    created_at   bigint NOT NULL,
    expires_at   bigint NOT NULL,
    uploaded_at  bigint,
    deleted_at   bigint,
    scan_queued  boolean NOT NULL,
    remove_at    bigint,
    claimed_by   uuid,
    claimed_until bigint,
    record       bytea NOT NULL
);
CREATE INDEX attachments_listing ON attachments (project_id, created_at DESC, id) WHERE deleted_at IS NULL;
CREATE INDEX attachments_lapsing ON attachments (expires_at, id) WHERE uploaded_at IS NULL AND deleted_at IS NULL;
CREATE INDEX attachments_pending ON attachments (project_id) INCLUDE (size_bytes) WHERE uploaded_at IS NULL AND deleted_at IS NULL;
CREATE INDEX attachments_scans ON attachments (uploaded_at, id) WHERE scan_queued;
CREATE INDEX attachments_ephemeral ON attachments (remove_at, id) WHERE remove_at IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX attachments_deleted ON attachments (deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE TABLE attachment_parents (
    parent       text NOT NULL,
    created_at   bigint NOT NULL,
    id           uuid NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    project_id   uuid NOT NULL,
    PRIMARY KEY (parent, created_at, id)
);
CREATE INDEX attachment_parents_by_id ON attachment_parents (id);
CREATE TABLE project_usage (
    project_id     uuid PRIMARY KEY,
    bytes          bigint NOT NULL DEFAULT 0,
    files          bigint NOT NULL DEFAULT 0,
    project_quota  bigint,
    user_quota     bigint,
    deleted        boolean NOT NULL DEFAULT false
);
CREATE TABLE user_usage (
    project_id  uuid NOT NULL,
    owner       text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    files       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, owner)
);
CREATE TABLE outbox (
    queued_at   bigint NOT NULL,
    id          uuid NOT NULL,
    project_id  uuid NOT NULL,
    event       smallint NOT NULL,
    claimed_by  uuid,
    claimed_until bigint,
    PRIMARY KEY (queued_at, id)
);
CREATE TABLE control (
    kind   text NOT NULL,
    k1     text NOT NULL,
    k2     text NOT NULL DEFAULT '',
    value  jsonb NOT NULL,
    PRIMARY KEY (kind, k1, k2)
);
CREATE INDEX control_by_k2 ON control (kind, k2);
CREATE INDEX control_parents_by_project ON control ((value->>'project_id')) WHERE kind = 'parent';
CREATE TABLE control_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO control_version (one, version) VALUES (true, 0);

-- A reservation, whole, in one statement (one round trip, its own transaction): the row
-- locks every reserve of a project or owner queues on are held only while the server runs
-- it, never across a client round trip. Refusals raise SQLSTATE AT001 (nothing is kept).
CREATE FUNCTION attachd_reserve(
    p_id uuid, p_project uuid, p_owner text, p_size bigint, p_created bigint, p_expires bigint,
    p_remove bigint, p_record bytea, p_parents text[], p_freed uuid, p_freed_owned uuid,
    p_default_quota bigint, p_default_user_quota bigint, p_max_count bigint, p_max_bytes bigint
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_user_quota bigint;
    v_count bigint;
    v_bytes bigint;
BEGIN
    -- Durability::Logged: kept if attachd crashes; the WAL writer makes it durable moments later.
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO attachments (id, project_id, size_bytes, created_at, expires_at, uploaded_at, deleted_at,
                             scan_queued, remove_at, record)
        VALUES (p_id, p_project, p_size, p_created, p_expires, NULL, NULL, false, p_remove, p_record);
    IF cardinality(p_parents) > 0 THEN
        INSERT INTO attachment_parents (parent, created_at, id, project_id)
            SELECT unnest(p_parents), p_created, p_id, p_project;
    END IF;
    UPDATE project_usage SET bytes = bytes + p_size, files = files + 1
        WHERE project_id = p_project AND NOT deleted
          AND bytes + p_size - coalesce((SELECT a.size_bytes FROM attachments a
                                          WHERE a.id = p_freed AND a.project_id = p_project
                                            AND a.deleted_at IS NULL), 0)
              <= coalesce(project_quota, p_default_quota)
        RETURNING coalesce(user_quota, p_default_user_quota) INTO v_user_quota;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'project refused' USING ERRCODE = 'AT001';
    END IF;
    -- Under the project row's lock: the pending totals (this reservation included) cannot grow.
    SELECT count(*), coalesce(sum(s), 0) INTO v_count, v_bytes FROM (
        SELECT a.size_bytes AS s FROM attachments a
        WHERE a.project_id = p_project AND a.uploaded_at IS NULL AND a.deleted_at IS NULL
        LIMIT least(p_max_count, 9223372036854775806) + 1) pending;
    IF v_count - 1 >= p_max_count OR v_bytes > p_max_bytes THEN
        RAISE EXCEPTION 'pending refused' USING ERRCODE = 'AT001';
    END IF;
    IF p_owner IS NOT NULL THEN
        IF p_size > v_user_quota THEN
            RAISE EXCEPTION 'owner refused' USING ERRCODE = 'AT001';
        END IF;
        INSERT INTO user_usage AS u (project_id, owner, bytes, files) VALUES (p_project, p_owner, p_size, 1)
            ON CONFLICT (project_id, owner) DO UPDATE SET bytes = u.bytes + p_size, files = u.files + 1
            WHERE u.bytes + p_size - coalesce((SELECT a.size_bytes FROM attachments a
                                                WHERE a.id = p_freed_owned AND a.project_id = p_project
                                                  AND a.deleted_at IS NULL), 0)
                  <= v_user_quota;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'owner refused' USING ERRCODE = 'AT001';
        END IF;
    END IF;
END
$fn$;
"#];

/// The advisory lock key replicas take turns on while migrating ("attachd\0" as a number).
const MIGRATION_LOCK: i64 = 0x6174_7461_6368_6400;

/// Applies every migration the database lacks; returns the schema version it is at.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<usize, CatalogError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_error)?;
    let result = apply(client).await;
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    result
}

async fn apply(client: &mut tokio_postgres::Client) -> Result<usize, CatalogError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg_error)?;
    let row =
        client.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).await.map_err(pg_error)?;
    let at = row.get::<_, i32>(0) as usize;
    if at > MIGRATIONS.len() {
        return Err(CatalogError::Backend(format!(
            "the database schema is at version {at}, newer than this attachd knows ({}): upgrade attachd",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(at) {
        let version = (i + 1) as i32;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await.map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(MIGRATIONS.len())
}
