#!/bin/sh
# a new backend and a new scheduler are applied in place; a connection held open survives
. /etc/portfwd-test.sh
classic_topology
echo_server domu 7
pf_config /tmp/a.json '{"name":"echo","listen":"203.0.113.10:7000","backends":["10.0.0.2:7"],"scheduler":"wlc"}'
pf_config /tmp/b.json '{"name":"echo","listen":"203.0.113.10:7000","backends":["10.0.0.2:7",{"address":"10.0.0.3:7","weight":2}],"scheduler":"rr"}'
portfwd apply -c /tmp/a.json --auto-approve

# A client in the internet keeps one connection open across the apply.
rm -f /tmp/to-server /tmp/from-server
mkfifo /tmp/to-server
$IP netns exec internet nc 203.0.113.10 7000 < /tmp/to-server > /tmp/from-server &
exec 3> /tmp/to-server
echo one >&3
for _ in $(seq 50); do grep -q one /tmp/from-server && break; sleep 0.1; done
expect_eq "echo before the change" "one" "$(cat /tmp/from-server)"
conn_before="$(ipvsadm -L -n -c | grep ESTABLISHED)"
[ -n "$conn_before" ] || fail "no established IPVS connection: $(ipvsadm -L -n -c)"

expect_rc "plan" 2 portfwd plan -c /tmp/b.json --detailed-exitcode
expect_in "scheduler changes in place" "$out" '~ service tcp 203.0.113.10:7000
        scheduler: wlc -> rr'
expect_in "new destination" "$out" '+ destination 10.0.0.3:7 (masq, weight 2)'
expect_in "summary" "$out" 'Plan: 1 to add, 1 to change, 0 to remove.'
expect_rc "apply" 0 portfwd apply -c /tmp/b.json --auto-approve
expect_eq "ipvsadm -S -n" "-A -t 203.0.113.10:7000 -s rr
-a -t 203.0.113.10:7000 -r 10.0.0.2:7 -m -w 1
-a -t 203.0.113.10:7000 -r 10.0.0.3:7 -m -w 2" "$(ipvsadm -S -n)"

echo two >&3
for _ in $(seq 50); do grep -q two /tmp/from-server && break; sleep 0.1; done
expect_eq "the held connection still echoes" "one
two" "$(cat /tmp/from-server)"
expect_eq "the IPVS connection entry is the same" "$conn_before" "$(ipvsadm -L -n -c | grep ESTABLISHED)"
exec 3>&-
