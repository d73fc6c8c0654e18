#!/bin/sh
# a missing scheduler module fails before any change; a failure midway (a port the kernel will not enslave) is undone completely
. /etc/portfwd-test.sh
public_host
ipvsadm -A -t 198.51.100.7:443 -s wlc
pf_config /tmp/a.json '{"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.2","10.0.0.3"]},{"name":"old","listen":"203.0.113.10:81","backends":["10.0.0.4"]}'
portfwd apply -c /tmp/a.json --auto-approve
before="$(ipvsadm -S -n)"

# A scheduler whose module this kernel lacks: refused before any change, naming the command.
pf_config /tmp/b.json '{"name":"web","listen":"203.0.113.10:80","scheduler":"rr","backends":["10.0.0.2",{"address":"10.0.0.3","weight":5},"10.0.0.5"]},{"name":"new","listen":"203.0.113.10:5000-5199","backends":["10.0.0.6"]},{"name":"twos","listen":"203.0.113.10:6000","scheduler":"twos","backends":["10.0.0.7"]}'
expect_rc "plan with a missing module" 1 portfwd plan -c /tmp/b.json
expect_in "plan names the module and the kernel" "$out" "kernel module ip_vs_twos is not available for kernel $(uname -r):"
expect_in "and the command" "$out" '`modprobe ip_vs_twos` would fail'
expect_rc "apply with a missing module" 1 portfwd apply -c /tmp/b.json --auto-approve
expect_in "refused before any change" "$out" 'the plan cannot be applied; nothing was changed'
expect_eq "table after the refused apply" "$before" "$(ipvsadm -S -n)"

# A failure midway: the sysctl is set, the bridge created and brought up, its address added,
# then the kernel refuses to enslave an nlmon device (not Ethernet: EINVAL). Everything is
# undone; IPVS never touched.
$IP link add nlmon9 type nlmon
rp_before="$(cat /proc/sys/net/ipv4/conf/all/rp_filter)"
cat > /tmp/c.json <<'JSON'
{"public":[{"address":"203.0.113.10"}],
 "sysctl":{"net.ipv4.conf.all.rp_filter":2},
 "bridges":[{"name":"br9","address":"10.9.0.1/24","ports":["nlmon9"]}],
 "forwards":[{"name":"web","listen":"203.0.113.10:80","scheduler":"rr","backends":["10.0.0.2","10.0.0.3","10.0.0.5"]}]}
JSON
expect_rc "plan of the failing config" 2 portfwd plan -c /tmp/c.json --detailed-exitcode
expect_in "plan shows the sysctl" "$out" "~ sysctl net.ipv4.conf.all.rp_filter = $rp_before -> 2"
expect_in "plan shows the bridge" "$out" '+ bridge br9'
expect_in "plan shows the port" "$out" '~ port nlmon9 of br9'
expect_rc "failing apply" 1 portfwd apply -c /tmp/c.json --auto-approve
expect_in "names the failure" "$out" 'enslaving nlmon9 to br9'
expect_in "says it rolled back" "$out" 'was rolled back'
expect_in "confirms the kernel" "$out" 'read back exactly as it was before'
expect_eq "IPVS after the failed apply" "$before" "$(ipvsadm -S -n)"
expect_eq "rp_filter restored" "$rp_before" "$(cat /proc/sys/net/ipv4/conf/all/rp_filter)"
if $IP link show br9 2>/dev/null; then fail "br9 is still there"; fi
