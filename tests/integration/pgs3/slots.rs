//! A session point's slot replaced through two replicas at once holds exactly one live file:
//! the slot's reserve-and-commit is serialised across replicas by PostgreSQL, not by one
//! process's lock.

use crate::harness::{Daemon, Opts, data, json_of};
use crate::people::World;

use super::Place;

const POINT: &str = "/api/v1/project/42/sessions/0b6c5c1e-3f3d-4a52-9d6c-6f1d2a7c9e10/attachments/photo";

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_replacing_one_slot_leave_one_live_file() {
    let place = Place::fresh();
    let mut o = Opts::default();
    o.settings.extend(place.settings());
    let w = World::on(Daemon::start_with(o.clone()).await).await;
    let mut b = Daemon::start_with(o).await;
    b.boot = w.d.boot.clone();
    let bodies: Vec<Vec<u8>> = (0..24).map(|i| data(1_000 + i * 101, i as u64)).collect();
    let puts = bodies.iter().enumerate().map(|(i, body)| {
        let d = if i % 2 == 0 { &w.d } else { &b };
        let r = d.http.put(d.url(POINT)).bearer_auth(&w.ann).header("content-type", "application/octet-stream");
        let body = body.clone();
        async move { json_of(r.body(body).send().await.unwrap()).await }
    });
    for (s, v) in futures_util::future::join_all(puts).await {
        assert_eq!(s, 200, "{v}");
    }
    for d in [&w.d, &b] {
        let r = d.http.get(d.url(POINT)).bearer_auth(&w.ann).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let got = r.bytes().await.unwrap().to_vec();
        assert!(bodies.contains(&got), "the slot holds one of the bodies");
        let used = d.usage(None).await["used_bytes"].as_u64().unwrap();
        assert_eq!(used, got.len() as u64, "exactly one live file counts in usage");
    }
}
