#!/bin/sh
# doctor and plan name a listen port the packet filter drops (IPVS sees packets after INPUT), with nftables and with iptables-nft; traffic confirms both verdicts
. /etc/portfwd-test.sh
classic_topology
cat > /tmp/fw.json <<'JSON'
{"public": [{"address": "203.0.113.10"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0"]}],
 "forwards": [{"name": "domu-ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22"]},
              {"name": "dns", "protocol": "udp", "listen": "203.0.113.10:53", "backends": ["10.0.0.2"]}]}
JSON
expect_rc "apply" 0 portfwd apply -c /tmp/fw.json --auto-approve
expect_eq "reachable without a firewall" "SSH-2.0-domU-banner" "$(connect internet 203.0.113.10 2222)"
expect_rc "doctor without a firewall" 0 portfwd doctor -c /tmp/fw.json
case "$out" in *"drops new connections"*) fail "no firewall, yet: $out" ;; esac

# NixOS's nftables firewall: policy drop, 22 open.
nft -f - <<'NFT'
table inet nixos-fw {
    chain input-allow {
        tcp dport { 22 } accept
    }
    chain input {
        type filter hook input priority filter; policy drop;
        iifname "lo" accept
        ct state { established, related } accept
        jump input-allow
        counter drop
    }
}
NFT
if connect internet 203.0.113.10 2222 >/dev/null 2>&1; then fail "the firewall let 2222 through"; fi
expect_rc "doctor with nftables" 1 portfwd doctor -c /tmp/fw.json
expect_in "names both" "$out" 'warn  the packet filter'"'"'s INPUT path drops new connections to tcp 2222 of forward "domu-ssh" (table inet nixos-fw); udp 53 of forward "dns" (table inet nixos-fw)'
expect_rc "plan warns too" 0 portfwd plan -c /tmp/fw.json
expect_in "plan warning" "$out" "warning: the packet filter's INPUT path drops new connections to tcp 2222"
# Opened: the warning goes, and traffic flows.
nft add rule inet nixos-fw input-allow tcp dport 2222 accept
nft add rule inet nixos-fw input-allow udp dport 53 accept
expect_eq "reachable once opened" "SSH-2.0-domU-banner" "$(connect internet 203.0.113.10 2222)"
expect_rc "doctor once opened" 0 portfwd doctor -c /tmp/fw.json
expect_in "ok" "$out" "ok    the packet filter lets new connections reach every listen port"
nft delete table inet nixos-fw

# iptables (its nft backend), the way NixOS's iptables firewall writes it.
iptables -N fw
iptables -N fw-refuse
iptables -A INPUT -j fw
iptables -A fw -i lo -j ACCEPT
iptables -A fw -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A fw -p tcp -m tcp --dport 22 -j ACCEPT
iptables -A fw -p udp -m multiport --dports 53,123 -j ACCEPT
iptables -A fw -j fw-refuse
iptables -A fw-refuse -j DROP
if connect internet 203.0.113.10 2222 >/dev/null 2>&1; then fail "iptables let 2222 through"; fi
expect_rc "doctor with iptables" 1 portfwd doctor -c /tmp/fw.json
expect_in "names tcp only" "$out" 'drops new connections to tcp 2222 of forward "domu-ssh" (table ip filter): '
case "$out" in *"udp 53"*) fail "udp 53 is open: $out" ;; esac
# A rule the model cannot read (a source address) is no certain drop: no warning.
iptables -I fw -s 203.0.113.0/24 -j ACCEPT
expect_rc "doctor with an address rule" 0 portfwd doctor -c /tmp/fw.json
iptables -F; iptables -X
