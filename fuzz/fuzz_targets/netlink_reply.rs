//! Arbitrary bytes as a kernel reply: the netlink message splitter, the attribute walker and
//! every decoder of IPVS and rtnetlink records.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portfwd::kernel::netlink::{Body, attributes, parse_messages};
use portfwd::state::ipvs::Family;

fuzz_target!(|data: &[u8]| {
    let Ok(messages) = parse_messages(data) else {
        return;
    };
    for m in messages {
        if let Body::Data(payload) = m.body {
            let attrs = payload.get(4..).unwrap_or(&[]);
            let _ = attributes(attrs).count();
            let _ = portfwd::kernel::ipvs::decode::service(attrs);
            let _ = portfwd::kernel::ipvs::decode::dest(attrs, Family::V4);
            let _ = portfwd::kernel::ipvs::decode::dest(attrs, Family::V6);
            let _ = portfwd::kernel::links::decode::link(payload);
            let _ = portfwd::kernel::links::decode::address(payload);
        }
    }
});
