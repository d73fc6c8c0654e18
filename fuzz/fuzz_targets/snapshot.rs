//! The snapshot reader (`plan --from`) on arbitrary bytes; a snapshot that reads is also
//! rendered back and planned against.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portfwd::state::snapshot::{Snapshot, from_snapshot, to_snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = serde_json::from_slice::<Snapshot>(data) else {
        return;
    };
    if let Ok(table) = from_snapshot(&snapshot) {
        let again = from_snapshot(&to_snapshot(&table)).expect("a table survives the round trip");
        assert_eq!(again, table);
        let _ = portfwd::state::render::ipvsadm_save(&table);
        let _ = portfwd::plan::diff::diff(&Default::default(), &table);
    }
});
