//! `attachd migrate`: a local deployment's keys, records and bytes carried into postgres_s3,
//! served there unchanged, and a second run changes nothing.

use std::process::Command;

use reqwest::Method;
use serde_json::Value;

use super::Place;
use crate::harness::{Daemon, Opts, daemon_binary, data};

#[tokio::test(flavor = "multi_thread")]
async fn a_local_deployment_moves_into_postgres_s3_whole() {
    let mut local = Daemon::start().await;
    let small = data(3_000, 1);
    let large = data(9 << 20, 2);
    let (a, b) = (local.upload(&small).await, local.upload(&large).await);
    let gone = local.upload(&data(500, 3)).await;
    let (s, _) = local.delete(&local.client_key(), &gone).await;
    assert!(s == 200 || s == 204);
    let pending = local.reserve(&data(700, 4), Some("later")).await;
    let usage_before = local.usage(None).await;
    local.stop().await;

    let place = Place::fresh();
    let mut target = Opts::default();
    target.settings.extend(place.settings());
    let target = Daemon::unstarted(target);
    let to = target.dir.path().join("target.toml");
    std::fs::write(&to, target.config_text()).unwrap();
    let from = local.dir.path().join("config.toml");
    let run = || {
        let out =
            Command::new(daemon_binary()).args(["migrate", "--from"]).arg(&from).arg("--to").arg(&to).output().unwrap();
        assert!(out.status.success(), "migrate: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = run();
    assert_eq!(first["imported"], 4, "{first}");
    assert_eq!(first["objects"], 3, "{first}");
    let second = run();
    assert_eq!((second["imported"].as_u64(), second["skipped"].as_u64()), (Some(0), Some(4)), "{second}");

    let mut d = Daemon::start_with({
        let mut o = Opts::default();
        o.settings.extend(place.settings());
        o
    })
    .await;
    d.boot = local.boot.clone();
    assert_eq!(d.download(&a).await, small, "the same key reads the same bytes");
    assert_eq!(d.download(&b).await, large);
    let (s, _) = d.get(&d.agent_key(), &format!("/v1/attachments/{gone}")).await;
    assert_eq!(s, 404, "a soft-deleted attachment stays deleted");
    let (s, v) = d.put(&d.client_key(), &pending, data(700, 4)).await;
    assert_eq!(s, 200, "a pending reservation uploads on the new backend: {v}");
    assert_eq!(d.usage(None).await, usage_before, "usage carried over");
    let (s, v) = d.admin(Method::GET, "keys", None).await;
    assert_eq!(s, 200, "the admin token carried over: {v}");
}
