//! Arbitrary bytes as a kernel reply: the netlink message splitter, the attribute walker and
//! every decoder of IPVS (with and without statistics) and rtnetlink records.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portfwd::kernel::netlink::{Body, attributes, messages};
use portfwd::state::ipvs::Family;

fuzz_target!(|data: &[u8]| {
    for m in messages(data).map_while(Result::ok) {
        if let Body::Data(payload) = m.body {
            let attrs = payload.get(4..).unwrap_or(&[]);
            let _ = attributes(attrs).count();
            for stats in [false, true] {
                let _ = portfwd::kernel::ipvs::decode::service(attrs, stats);
                let _ = portfwd::kernel::ipvs::decode::dest(attrs, Family::V4, stats);
                let _ = portfwd::kernel::ipvs::decode::dest(attrs, Family::V6, stats);
            }
            let _ = portfwd::kernel::links::decode::link(payload);
            let _ = portfwd::kernel::links::decode::address(payload);
        }
    }
});
