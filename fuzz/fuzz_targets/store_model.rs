//! The store against a model: random appends, deletes, compactions, restarts, crashes and
//! torn tails on real segment files, checked against a `BTreeMap` after every step.
//! Proptest mirror: `store::segment::model::tests::store_matches_the_model`.
#![no_main]
use attachd::store::segment::model::{decode, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 64 * 1024, &decode(data));
});
