#!/bin/sh
# an apply that fails midway (scheduler module missing) is undone: the table is exactly as before
. /etc/portfwd-test.sh
$IP link add dummy0 type dummy
$IP addr add 203.0.113.10/24 dev dummy0
ipvsadm -A -t 198.51.100.7:443 -s wlc
pf_config /tmp/a.json '{"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.2","10.0.0.3"]},{"name":"old","listen":"203.0.113.10:81","backends":["10.0.0.4"]}'
portfwd apply -c /tmp/a.json --auto-approve
before="$(ipvsadm -S -n)"

# Changes web in place, removes old, adds a range whose last services cannot load their
# scheduler: twos is not in this kernel.
pf_config /tmp/b.json '{"name":"web","listen":"203.0.113.10:80","scheduler":"rr","backends":["10.0.0.2",{"address":"10.0.0.3","weight":5},"10.0.0.5"]},{"name":"new","listen":"203.0.113.10:5000-5199","backends":["10.0.0.6"]},{"name":"twos","listen":"203.0.113.10:6000","scheduler":"twos","backends":["10.0.0.7"]}'
expect_rc "failing apply" 1 portfwd apply -c /tmp/b.json --auto-approve
expect_in "names the module" "$out" 'run `modprobe ip_vs_twos`'
expect_in "says it rolled back" "$out" 'was rolled back'
expect_in "confirms the table" "$out" 'read back exactly as it was before'
expect_eq "table after the failed apply" "$before" "$(ipvsadm -S -n)"
