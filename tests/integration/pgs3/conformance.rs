//! The engine's conformance suite — the same checks the local backend passes — run against
//! the `postgres_s3` backend on a real PostgreSQL cluster and a real S3 gateway.

use std::sync::Arc;

use attachd::engine::conformance::{self, Fixture};
use attachd::engine::{BlobStore, Catalog};
use attachd::postgres_s3::PgS3Backend;

use super::Place;

struct PgS3 {
    backend: Arc<PgS3Backend>,
}

impl Fixture for PgS3 {
    fn catalog(&self) -> Arc<dyn Catalog> {
        self.backend.catalog()
    }
    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.backend.blobs()
    }
}

#[test]
fn the_postgres_s3_backend_conforms() {
    let place = Place::fresh();
    let backend = PgS3Backend::open(&place.config()).expect("open postgres_s3");
    conformance::run_all(&PgS3 { backend });
}

#[test]
fn migrations_apply_once_however_many_replicas_start_together() {
    let place = Place::fresh();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let cfg = place.config();
            std::thread::spawn(move || PgS3Backend::open(&cfg).map(|_| ()))
        })
        .collect();
    for t in opened {
        t.join().unwrap().expect("every replica opens");
    }
    let versions =
        super::Postgres::sql(&place.postgres_url, "SELECT string_agg(version::text, ',') FROM schema_migrations");
    assert_eq!(versions, "1", "each migration recorded once");
}
