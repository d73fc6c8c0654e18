use super::*;

fn imported(text: &str) -> (Value, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, text).expect("write");
    let out = super::super::finish(import(&path).expect("imports"));
    let text = serde_json::to_string(&out.config).expect("json");
    let loaded = crate::config::check("imported".into(), text.as_bytes());
    let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{text}");
    (serde_json::from_str(&text).expect("json"), out.notes)
}

#[test]
fn virtual_servers_checkers_and_vrrp_become_the_config() {
    let (cfg, notes) = imported(
        r#"! keepalived for the web pair
global_defs { router_id LVS1 }
vrrp_instance VI_1 {
    state MASTER            # the file's master
    interface br1
    virtual_router_id 51
    priority 150
    advert_int 2
    nopreempt
    unicast_peer {
        10.0.0.3
    }
    virtual_ipaddress {
        203.0.113.10/24 dev eth0
        10.0.0.1/24 dev br1
    }
}
virtual_server 203.0.113.10 443 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    protocol TCP
    sorry_server 10.0.0.99 443
    real_server 10.0.0.11 443 {
        weight 3
        inhibit_on_failure
        SSL_GET {
            url { path /healthz
                  status_code 200-204
                  digest 640205b7b0fc66c1ea91c463fac6334d }
            connect_timeout 2
            retry 2
        }
    }
    real_server 10.0.0.12 443 {
        inhibit_on_failure
        SSL_GET {
            url { path /healthz
                  status_code 200-204 }
            connect_timeout 2
            retry 2
        }
    }
}
virtual_server_group DNS { 203.0.113.20-21 53 }
virtual_server group DNS {
    lb_algo wrr
    lvs_method DR
    protocol UDP
    quorum 2
    real_server 10.0.0.20 53 { MISC_CHECK { misc_path "/usr/local/bin/check-dns 10.0.0.20" misc_timeout 3 } }
}
virtual_server fwmark 7 { lb_algo rr }
"#,
    );
    let forwards = cfg["forwards"].as_array().expect("forwards");
    assert_eq!(forwards.len(), 3, "{cfg}");
    let web = &forwards[0];
    assert_eq!(web["name"], "web-443");
    assert_eq!(web["persistence"], 300);
    assert_eq!(web["persistence_netmask"], 24);
    assert_eq!(web["backends"][0]["weight"], 3);
    assert_eq!(web["fallback"], "10.0.0.99:443");
    let h = &web["health"];
    assert_eq!(
        (h["check"].as_str(), h["path"].as_str()),
        (Some("https"), Some("/healthz"))
    );
    assert_eq!(h["expect_status"], json!([200, 204]));
    assert_eq!(
        (
            h["interval"].as_f64(),
            h["timeout"].as_f64(),
            h["fall"].as_u64()
        ),
        (Some(5.0), Some(2.0), Some(3))
    );
    assert_eq!(h["on_failure"], "inhibit");
    let dns: Vec<&str> = forwards[1..]
        .iter()
        .filter_map(|f| f["listen"].as_str())
        .collect();
    assert_eq!(dns, ["203.0.113.20:53", "203.0.113.21:53"]);
    assert_eq!(forwards[1]["method"], "route");
    assert_eq!(
        forwards[1]["health"]["command"],
        json!(["/usr/local/bin/check-dns", "{address}"]),
        "the server's own address is the placeholder"
    );
    assert_eq!(forwards[1]["health"]["on_failure"], "remove");
    let vrrp = &cfg["vrrp"];
    assert_eq!(
        (
            vrrp["router_id"].as_u64(),
            vrrp["priority"].as_u64(),
            vrrp["advert_interval"].as_u64()
        ),
        (Some(51), Some(150), Some(2))
    );
    assert_eq!(vrrp["unicast_peers"], json!(["10.0.0.3"]));
    assert!(
        vrrp.get("preempt").is_none(),
        "nopreempt is portfwd's default"
    );
    assert_eq!(
        cfg["public"][0],
        json!({"address": "203.0.113.10", "interface": "eth0", "prefix_len": 24, "floating": true})
    );
    let notes = notes.join("\n");
    for expected in [
        "digest is not supported",
        "quorum in virtual_server is not carried over",
        "firewall-mark virtual server",
        "10.0.0.1/24 is not a virtual server's address",
    ] {
        assert!(notes.contains(expected), "{expected} missing in:\n{notes}");
    }
    assert!(
        notes.contains("keepalived.conf:"),
        "notes name the file and line:\n{notes}"
    );
}

#[test]
fn includes_follow_globs_relative_to_the_including_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("conf.d")).expect("mkdir");
    std::fs::write(
        dir.path().join("keepalived.conf"),
        "include conf.d/*.conf\ninclude missing/*.conf\n",
    )
    .expect("write");
    for (name, port) in [("a.conf", 80), ("b.conf", 81)] {
        std::fs::write(
            dir.path().join("conf.d").join(name),
            format!("virtual_server 203.0.113.10 {port} {{\n  real_server 10.0.0.2 {port} {{ weight 1 }}\n}}\n"),
        )
        .expect("write");
    }
    let out = import(&dir.path().join("keepalived.conf")).expect("imports");
    let listens: Vec<&str> = out
        .config
        .forwards
        .iter()
        .map(|f| f.listen.as_str())
        .collect();
    assert_eq!(listens, ["203.0.113.10:80", "203.0.113.10:81"]);
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("missing/*.conf matches no file"))
    );
    std::fs::write(
        dir.path().join("conf.d/loop.conf"),
        "include ../keepalived.conf\n",
    )
    .expect("write");
    assert!(
        import(&dir.path().join("keepalived.conf")).is_err(),
        "an include cycle is an error, not a hang"
    );
}

#[test]
fn includes_pass_over_directories_and_refuse_endless_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("conf.d/old")).expect("mkdir");
    std::fs::write(
        dir.path().join("conf.d/web.conf"),
        // A Latin-1 comment (keepalived reads bytes): replaced, not a failure.
        b"# caf\xe9\nvirtual_server 203.0.113.10 80 {\n real_server 10.0.0.2 80 { weight 1 }\n}\n",
    )
    .expect("write");
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, "include conf.d/*\n").expect("write");
    let out = import(&conf).expect("a directory among the matches is passed over");
    assert_eq!(out.config.forwards.len(), 1);
    std::fs::write(&conf, "include /dev/zero\n").expect("write");
    let err = import(&conf).map(|_| ()).expect_err("an endless include");
    assert!(err.contains("larger than"), "{err}");
}

#[test]
fn text_in_memory_imports_like_a_file() {
    let out = import_text(
        "virtual_server 203.0.113.10 80 {\n real_server 10.0.0.2 80 { weight 1 }\n}\n}\n",
        "<stdin>",
    )
    .expect("imports");
    assert_eq!(out.config.forwards[0].listen, "203.0.113.10:80");
    assert!(
        out.notes
            .iter()
            .any(|n| n == "<stdin>: a \"}\" closes no block"),
        "{:?}",
        out.notes
    );
}

#[test]
fn what_does_not_validate_is_left_out_with_a_note() {
    // keepalived's own virtual_server_group sample: a real server equal to its virtual server.
    let (cfg, notes) = imported(
        "virtual_server_group G {\n 192.168.200.1 1358\n 10.0.0.1 8080\n}\nvirtual_server group G {\n lb_kind NAT\n real_server 192.168.200.1 1358 { weight 1 }\n}\n",
    );
    let forwards = cfg["forwards"].as_array().expect("forwards");
    assert_eq!(forwards.len(), 2);
    assert_eq!(
        forwards[0]["backends"],
        json!([]),
        "the looping backend is left out"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("loop back") && n.contains("left out")),
        "{notes:?}"
    );
}

#[test]
fn odd_files_give_notes_not_panics() {
    for text in [
        "",
        "}}} virtual_server 203.0.113.10 80 { real_server 10.0.0.2 80 { weight 1 } }",
        "virtual_server 203.0.113.10 80 { real_server 10.0.0.2 80 {",
        "virtual_server \"203.0.113.10 80 {",
        "virtual_server_group G { 10.0.0.1-300 80 ::1-5 80 fwmark }\nvirtual_server group G { }",
        "virtual_server group NOPE { }\nvirtual_server 999.1.1.1 80 { }\nvirtual_server { }",
        "vrrp_instance V { virtual_ipaddress { not-an-ip } }",
        "\u{0}\u{1}\u{ff}{{}}{",
    ] {
        let (_, notes) = imported(text);
        assert!(notes.iter().all(|n| !n.is_empty()));
    }
    let (cfg, notes) =
        imported("}}} virtual_server 203.0.113.10 80 { real_server 10.0.0.2 80 { weight 1 } }");
    assert_eq!(
        cfg["forwards"][0]["listen"], "203.0.113.10:80",
        "read on after stray braces"
    );
    assert!(
        notes.iter().any(|n| n.contains("closes no block")),
        "{notes:?}"
    );
}

#[test]
fn thresholds_come_along_at_any_weight_and_a_broken_granularity_is_noted() {
    let (cfg, notes) = imported(
        "virtual_server 203.0.113.10 80 {\n real_server 10.0.0.2 80 { weight 1\n uthreshold 100\n lthreshold 10 }\n}\nvirtual_server 203.0.113.10 81 {\n persistence_timeout 60\n persistence_granularity 255.0.255.0\n real_server 10.0.0.2 81 { weight 1 }\n}\n",
    );
    assert_eq!(
        cfg["forwards"][0]["backends"][0],
        json!({"address": "10.0.0.2:80", "weight": 1, "upper_threshold": 100, "lower_threshold": 10})
    );
    assert_eq!(cfg["forwards"].as_array().map(Vec::len), Some(1));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("persistence_granularity: netmask 0xff00ff00 is not contiguous")),
        "{notes:?}"
    );
}

#[test]
fn a_virtual_server_on_an_address_the_rules_refuse_is_left_out() {
    // Found by the fuzzer: a multicast virtual server made an import that did not validate.
    let (cfg, notes) = imported(
        "virtual_server 233.0.113.10 80 { real_server 10.0.0.2 80 { weight 1 } }\nvirtual_server 203.0.113.10 81 { real_server 10.0.0.2 81 { weight 1 } }\n",
    );
    assert_eq!(cfg["forwards"].as_array().map(Vec::len), Some(1));
    assert_eq!(cfg["forwards"][0]["listen"], "203.0.113.10:81");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("multicast") && n.contains("left out")),
        "{notes:?}"
    );
}

#[test]
fn every_keyword_not_read_is_noted_and_what_portfwd_has_is_carried() {
    let (cfg, notes) = imported(
        r#"global_defs {
    router_id LVS1
    lvs_sync_daemon br1 VI_1 maxlen 1400 port 8849
}
vrrp_instance VI_1 {
    interface br1
    virtual_router_id 51
    virtual_ipaddress { 203.0.113.10 dev eth0 }
    track_script { chk }
}
virtual_server 203.0.113.10 80 {
    delay_loop 2
    lb_kind NAT
    inhibit_on_failure
    hysteresis 2
    real_server 10.0.0.2 80 {
        wieght 2
        failover_threshold 3
        MISC_CHECK { misc_path "/usr/lib/check_web -H 10.0.0.2 -p 80 --url=http://10.0.0.2:80/"
                     user nobody }
    }
    real_server 10.0.0.3 80 {
        MISC_CHECK { misc_path "/usr/lib/check_web -H 10.0.0.3 -p 80 --url=http://10.0.0.3:80/" }
    }
}
virtual_server 203.0.113.10 443 {
    lb_kind NAT
    real_server 10.0.0.2 443 {
        HTTP_GET { url { path /a } url { path /b }
                   conect_timeout 3 }
    }
    real_server 10.0.0.3 443 { lvs_method DR }
}
"#,
    );
    let web = &cfg["forwards"][0];
    assert_eq!(
        web["health"]["command"],
        json!([
            "/usr/lib/check_web",
            "-H",
            "{address}",
            "-p",
            "{port}",
            "--url=http://{address}:{port}/"
        ])
    );
    assert_eq!(
        web["health"]["on_failure"], "inhibit",
        "inhibit_on_failure of the virtual server"
    );
    assert_eq!(
        cfg["sync"],
        json!({"interface": "br1", "sync_id": 51, "max_len": 1400, "port": 8849})
    );
    assert_eq!(
        cfg["forwards"][1]["backends"][1],
        json!({"address": "10.0.0.3:443", "weight": 1, "method": "route"}),
        "a real server's own lvs_method is its backend's"
    );
    let notes = notes.join("\n");
    for expected in [
        "keepalived.conf:2: router_id in global_defs is keepalived's own; not carried over",
        "keepalived.conf:9: track_script in vrrp_instance is not carried over",
        "keepalived.conf:15: hysteresis in virtual_server is not carried over",
        "keepalived.conf:17: wieght in real_server is not carried over (did you mean weight?)",
        "keepalived.conf:18: failover_threshold in real_server is not carried over",
        "user in MISC_CHECK is not carried over",
        "keepalived.conf:30: conect_timeout in HTTP_GET is not carried over (did you mean connect_timeout?)",
        "a second url is not checked",
    ] {
        assert!(notes.contains(expected), "{expected} missing in:\n{notes}");
    }
}

#[test]
fn misc_checks_that_differ_beyond_the_address_leave_the_forward_unchecked() {
    let (cfg, notes) = imported(
        r#"virtual_server 203.0.113.10 80 {
    lb_kind NAT
    real_server 10.0.0.2 80 { MISC_CHECK { misc_path "/usr/lib/check_a 10.0.0.2" } }
    real_server 10.0.0.3 80 { MISC_CHECK { misc_path "/usr/lib/check_b 10.0.0.3" } }
}
"#,
    );
    assert!(cfg["forwards"][0].get("health").is_none(), "{cfg}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("MISC_CHECK commands differ beyond their address and port")),
        "{notes:?}"
    );
}

#[test]
fn a_note_from_validation_names_the_keepalived_line() {
    let (_, notes) = imported(
        "virtual_server 203.0.113.10 80 {\n lb_kind NAT\n real_server 203.0.113.10 80 { weight 1 }\n}\n",
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("keepalived.conf:3: ") && n.contains("loop back")),
        "{notes:?}"
    );
}
