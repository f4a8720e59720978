//! Recovery of a crashed segment: whole records, junk (possibly starting with the record
//! marker) and torn records in any order, scanned as recovery scans them. Every whole record in
//! front of the first damage is kept, and every whole record after it is found by the search
//! recovery runs before it would cut (so such a segment is kept, not cut).
//! Proptest mirror: `store::segment::scan_check::tests::whole_records_survive_any_damage`.
#![no_main]
use attachd::store::segment::scan_check::valid_prefix_then_anything;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| valid_prefix_then_anything(data));
