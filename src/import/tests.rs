use super::*;
use crate::state::ipvsadm_rules;

/// The import of `rules` as config text, the notes, and whether a plan of it against the
/// same table changes nothing.
fn round_trip(rules: &str) -> (String, Vec<String>, bool) {
    let table = ipvsadm_rules::parse(rules).expect("rules");
    let imported = from_table(&table, None);
    let text = serde_json::to_string_pretty(&imported.config).expect("json");
    let loaded = crate::config::check("imported".into(), text.as_bytes());
    let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    let config = loaded.config.expect("valid");
    let desired = crate::state::desired::from_config(&config);
    let plan = crate::plan::diff::diff(&desired, &table);
    (text, imported.notes, plan.changes.is_empty())
}

#[test]
fn every_field_ipvsadm_can_set_comes_back_unchanged() {
    let rules = "\
-A -t 203.0.113.10:22 -s rr
-a -t 203.0.113.10:22 -r 10.0.0.2:22 -m -w 1
-A -t 203.0.113.10:443 -s sh -b sh-fallback,sh-port -p 600 -M 255.255.255.0
-a -t 203.0.113.10:443 -r 10.0.0.3:8443 -m -w 3 -x 100 -y 10
-a -t 203.0.113.10:443 -r 10.0.0.4:8443 -m -w 0
-A -t 203.0.113.11:443 -s wlc
-A -u 203.0.113.10:53 -s wrr
-a -u 203.0.113.10:53 -r 10.0.0.5:53 -g -w 1
-A --sctp-service 203.0.113.10:3868 -s mh -b mh-port
-a --sctp-service 203.0.113.10:3868 -r 10.0.0.6:3868 -i -w 2
-A -t [2001:db8::10]:80 -s lc -p 60 -M 64
-a -t [2001:db8::10]:80 -r [fd00::5]:80 -m -w 1
";
    let (text, notes, unchanged) = round_trip(rules);
    assert!(notes.is_empty(), "{notes:?}");
    assert!(unchanged, "the plan of the import has changes:\n{text}");
    for name in [
        "\"ssh-22\"",
        "\"web-443\"",
        "\"web-443-203-0-113-11\"",
        "\"dns-53\"",
        "\"sctp-3868\"",
        "\"web-80\"",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
}

#[test]
fn what_a_config_cannot_say_is_a_note_never_a_silent_drop() {
    let rules = "\
-A -f 7 -s rr
-A -t 203.0.113.10:80 -s rr -o
-A -t 203.0.113.10:81 -s rr
-a -t 203.0.113.10:81 -r 10.0.0.2:81 -m -w 1
-a -t 203.0.113.10:81 -r 10.0.0.3:81 -g -w 1
-A -t 203.0.113.10:82 -s rr --pe sip -p 300
-A -t 203.0.113.10:83 -s rr
";
    let table = ipvsadm_rules::parse(rules).expect("rules");
    let imported = finish(from_table(&table, None));
    assert_eq!(
        imported.config.forwards.len(),
        2,
        ":81 (mixed methods) and :83 are carried over"
    );
    let mixed = serde_json::to_value(&imported.config.forwards[0]).expect("json");
    assert_eq!(
        mixed["backends"],
        serde_json::json!(["10.0.0.2:81", {"address": "10.0.0.3:81", "weight": 1, "method": "route"}]),
        "the destination of the other method gets its own"
    );
    assert!(
        imported.notes.iter().any(|n| n.starts_with("service tcp 203.0.113.10:80")
            && n.ends_with("a plan of the imported config would remove it (203.0.113.10 is one of its public addresses), so adjust the service or add the forward by hand")),
        "{:?}",
        imported.notes
    );
    let notes = imported.notes.join("\n");
    for expected in [
        "service fwmark 7",
        "service tcp 203.0.113.10:80: service flags 0x4",
        "service tcp 203.0.113.10:82: persistence engine sip",
    ] {
        assert!(notes.contains(expected), "{expected} missing:\n{notes}");
    }
}

#[test]
fn names_are_readable_stable_and_unique() {
    let mut taken = BTreeSet::new();
    let a: IpAddr = "203.0.113.10".parse().expect("ip");
    let b: IpAddr = "2001:db8::1".parse().expect("ip");
    assert_eq!(unique_name("tcp", a, 2222, &mut taken), "tcp-2222");
    assert_eq!(unique_name("tcp", a, 443, &mut taken), "web-443");
    assert_eq!(
        unique_name("tcp", b, 443, &mut taken),
        "web-443-2001-db8--1"
    );
    assert_eq!(unique_name("udp", a, 2222, &mut taken), "udp-2222");
    assert_eq!(
        unique_name("tcp", a, 443, &mut taken),
        "web-443-203-0-113-10"
    );
    assert_eq!(
        unique_name("tcp", a, 443, &mut taken),
        "web-443-203-0-113-10-2"
    );
}

#[test]
fn from_the_kernel_an_address_the_host_lacks_is_noted() {
    let table = ipvsadm_rules::parse("-A -t 203.0.113.10:22 -s rr\n").expect("rules");
    let imported = from_table(&table, Some(&LinkTable::default()));
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.starts_with("203.0.113.10 is not an address of this host")),
        "{:?}",
        imported.notes
    );
    assert!(imported.config.public[0].interface.is_none());
}

#[test]
fn a_service_left_out_on_an_address_no_forward_keeps_is_left_alone_by_a_plan() {
    let table =
        ipvsadm_rules::parse("-A -t 203.0.113.20:80 -s rr --pe sip -p 300\n").expect("rules");
    let imported = finish(from_table(&table, None));
    assert!(imported.config.forwards.is_empty());
    assert_eq!(
        imported.notes,
        [
            "service tcp 203.0.113.20:80: persistence engine sip is not supported; skipped: a plan leaves it alone (203.0.113.20 is not one of the config's public addresses)"
        ]
    );
}
