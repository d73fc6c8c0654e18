#!/bin/sh
# removing a forward removes only it; services on other addresses and fwmarks survive every apply
. /etc/portfwd-test.sh
public_host
ipvsadm -A -t 198.51.100.7:443 -s wlc
ipvsadm -a -t 198.51.100.7:443 -r 10.9.0.1:443 -g -w 1
ipvsadm -A -f 7 -s rr
ipvsadm -A -t 203.0.113.10:9999 -s wlc
ipvsadm -a -t 203.0.113.10:9999 -r 10.0.0.9:9999 -m -w 1

pf_config /tmp/two.json '{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]},{"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.3"]}'
pf_config /tmp/one.json '{"name":"ssh","listen":"203.0.113.10:2222","backends":["10.0.0.2:22"]}'

expect_rc "plan" 2 portfwd plan -c /tmp/two.json --detailed-exitcode
expect_in "undeclared service on a managed address is removed" "$out" '- service tcp 203.0.113.10:9999 (scheduler wlc)'
expect_in "foreign services are counted" "$out" '2 services on other addresses are not managed by portfwd'
portfwd plan -c /tmp/two.json --json > /tmp/plan.json
grep -q '"unmanaged_services": 2' /tmp/plan.json || fail "unmanaged count: $(cat /tmp/plan.json)"
grep -q '"reason": "not_in_config"' /tmp/plan.json || fail "reason: $(cat /tmp/plan.json)"

expect_rc "apply two" 0 portfwd apply -c /tmp/two.json --auto-approve
# (ipvsadm lists 198.51.100.7 before 203.0.113.10: it compares addresses as host-order words)
expect_eq "after two" "-A -t 198.51.100.7:443 -s wlc
-a -t 198.51.100.7:443 -r 10.9.0.1:443 -g -w 1
-A -t 203.0.113.10:80 -s wlc
-a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 1
-A -t 203.0.113.10:2222 -s wlc
-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1
-A -f 7 -s rr" "$(ipvsadm -S -n)"

expect_rc "apply one" 0 portfwd apply -c /tmp/one.json --auto-approve
expect_in "only web goes" "$out" 'Plan: 0 to add, 0 to change, 2 to remove.'
expect_eq "after one" "-A -t 198.51.100.7:443 -s wlc
-a -t 198.51.100.7:443 -r 10.9.0.1:443 -g -w 1
-A -t 203.0.113.10:2222 -s wlc
-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1
-A -f 7 -s rr" "$(ipvsadm -S -n)"
