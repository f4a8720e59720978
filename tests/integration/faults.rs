//! Fault injection below the engine: failed writes, failed fsyncs (with the write-back loss
//! Linux really has) and ENOSPC, against the real daemon running in-process. Every affected
//! upload gets a 5xx an SDK retries, its reservation stays pending, the retry succeeds, nothing
//! acknowledged is lost, and the daemon stays consistent and keeps serving.

use std::sync::Arc;

use attachd::store::io::fault::{FaultPlan, FaultyEngine};
use attachd::store::io::{IoEngine, sync::SyncEngine, uring::UringEngine};
use serde_json::Value;

use crate::harness::{Opts, data};
use crate::inprocess::InProcess;

fn inner_engines() -> Vec<Arc<dyn IoEngine>> {
    let mut v: Vec<Arc<dyn IoEngine>> = vec![Arc::new(SyncEngine)];
    if let Ok(u) = UringEngine::start() {
        v.push(Arc::new(u));
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_writes_and_syncs_fail_only_their_uploads_which_then_retry_fine() {
    for inner in inner_engines() {
        let faulty = Arc::new(FaultyEngine::new(inner.clone()));
        let p =
            InProcess::start(Opts::default().set("storage", "standalone_threshold_bytes = 8192"), faulty.clone()).await;
        let d = &p.d;
        let before = d.upload(&data(1000, 1)).await;
        // One of each fault, for a small (segment) and a large (standalone) upload.
        let cases = [
            (FaultPlan { fail_syncs: 1, ..Default::default() }, 3000usize, 500u16, "upload_failed"),
            (FaultPlan { fail_writes: 1, ..Default::default() }, 3000, 500, "upload_failed"),
            (FaultPlan { no_space: 1, ..Default::default() }, 3000, 507, "insufficient_storage"),
            (FaultPlan { fail_syncs: 1, ..Default::default() }, 50_000, 500, "upload_failed"),
            (FaultPlan { fail_writes: 1, ..Default::default() }, 50_000, 500, "upload_failed"),
            (FaultPlan { no_space: 1, ..Default::default() }, 50_000, 507, "insufficient_storage"),
        ];
        let mut acked = vec![(before, data(1000, 1))];
        for (i, (plan, len, status, code)) in cases.into_iter().enumerate() {
            let bytes = data(len, 10 + i as u64);
            let id = d.reserve(&bytes, None).await;
            faulty.plan(plan);
            let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
            assert_eq!((s, v["code"].as_str().unwrap()), (status, code), "engine {} case {i}: {v}", inner.name());
            let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await;
            assert_eq!(g["uploaded_at"], Value::Null, "case {i}: the reservation stays pending");
            // The SDK's retry succeeds, and uploads in general keep working.
            let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
            assert_eq!(s, 200, "case {i} retry: {v}");
            acked.push((id, bytes));
            let other = data(700, 100 + i as u64);
            acked.push((d.upload(&other).await, other));
        }
        let st = faulty.stats();
        assert_eq!((st.syncs_failed, st.writes_failed, st.no_space), (2, 2, 2));
        for (id, bytes) in &acked {
            assert!(d.download(id).await == *bytes, "acknowledged {id} intact");
        }
        let (s, v) = d.admin(reqwest::Method::POST, "fsck", None).await;
        assert_eq!(s, 200);
        assert_eq!(v["ok"], true, "{v}");
        assert!(v["orphan_files"].as_array().unwrap().is_empty(), "failed standalone uploads left nothing: {v}");
        p.stop().await;
    }
}
