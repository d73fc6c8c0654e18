//! The saved-plan reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portfwd::plan::planfile::PlanFile::from_slice(data, "fuzz.plan");
});
