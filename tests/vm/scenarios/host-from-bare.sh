#!/bin/sh
# from a bare kernel (no bridge, forwarding off, public address absent, domU's veth loose) one apply makes domU reachable; hand-made ports and addresses survive
. /etc/portfwd-test.sh
ipvs_modules
# A scheduler module that is not loaded, so the plan has a module to load.
modprobe -r ip_vs_fo 2>/dev/null || true
[ -e /sys/module/ip_vs_fo ] && fail "ip_vs_fo is still loaded"

$IP netns add internet
$IP link add veth-pub type veth peer name eth0 netns internet
$IP link set veth-pub up
$IP -n internet addr add 203.0.113.99/24 dev eth0
$IP -n internet link set eth0 up
$IP -n internet link set lo up
$IP netns add domu
$IP link add vif1.0 type veth peer name eth0 netns domu
$IP -n domu addr add 10.0.0.2/24 dev eth0
$IP -n domu link set eth0 up
$IP -n domu link set lo up
$IP -n domu route add default via 10.0.0.1
echo 0 > /proc/sys/net/ipv4/ip_forward
$IP netns exec domu nc -ll -p 22 -e /bin/echo SSH-2.0-domU-banner &
wait_for_listener domu 22

cat > /tmp/host.json <<'JSON'
{"public": [{"address": "203.0.113.10", "interface": "veth-pub", "prefix_len": 24}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0"]}],
 "forwards": [{"name": "domu-ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22"], "scheduler": "fo"}]}
JSON

# (IPv6 link-local addresses are left out: their DAD flag changes on its own)
state() { $IP -o link show | sed 's/^[0-9]*: //' | cut -d' ' -f1-3; $IP -o addr show | grep -v ' fe80::'; cat /proc/sys/net/ipv4/ip_forward; ipvsadm -S -n; ls /sys/module | grep '^ip_vs' || true; }
bare="$(state)"
expect_rc "plan from bare" 2 portfwd plan -c /tmp/host.json --detailed-exitcode
expect_in "module" "$out" '+ module ip_vs_fo'
expect_in "sysctl" "$out" '~ sysctl net.ipv4.ip_forward = 0 -> 1'
expect_in "bridge" "$out" '  # bridge br1
  + bridge br1
  + address 10.0.0.1/24 (on br1)
  ~ port vif1.0 of br1
        master: none -> br1
        up: false -> true'
expect_in "public address" "$out" '  # public addresses
  + address 203.0.113.10/24 (on veth-pub)'
expect_in "service" "$out" '+ service tcp 203.0.113.10:2222 (scheduler fo)'
expect_in "summary" "$out" 'Plan: 6 to add, 2 to change, 0 to remove.'
expect_eq "plan changed nothing" "$bare" "$(state)"
portfwd plan -c /tmp/host.json --json > /tmp/host-plan.json
grep -q '"kind": "bridge_port"' /tmp/host-plan.json || fail "JSON: $(cat /tmp/host-plan.json)"
# Receives too small for any reply (a test hook): every links, addresses, sock_diag and IPVS
# reply is truncated, seen, and asked again on a socket offering the whole buffer (the
# table is empty here; ipvs-bulk-pipeline truncates a dump of 1,500 services).
expect_eq "plan with truncated receives" "$(cat /tmp/host-plan.json)" \
    "$(PORTFWD_TEST_RECV_LEN=64 portfwd plan -c /tmp/host.json --json)"

expect_rc "apply from bare" 0 portfwd apply -c /tmp/host.json --auto-approve
expect_in "apply" "$out" 'Apply complete: 6 added, 2 changed, 0 removed'
[ -e /sys/module/ip_vs_fo ] || fail "ip_vs_fo was not loaded"
banner="$(connect internet 203.0.113.10 2222)"
expect_eq "banner received from the internet" "SSH-2.0-domU-banner" "$banner"

expect_rc "second apply" 0 portfwd apply -c /tmp/host.json --auto-approve
expect_in "second apply" "$out" 'No changes.'

# The hypervisor adds a guest's port, the admin an address: both are reported and kept.
$IP link add vif2.0 type veth peer name vif2.0-peer
$IP link set vif2.0 master br1
$IP addr add 10.0.0.254/24 dev br1
expect_rc "plan with hand-made additions" 0 portfwd plan -c /tmp/host.json --detailed-exitcode
expect_in "extra address noted" "$out" 'note: bridge br1 also has 10.0.0.254/24 (not in the config; left as it is)'
expect_in "extra port noted" "$out" 'note: bridge br1 also has the port vif2.0 (not in the config'
expect_rc "apply with hand-made additions" 0 portfwd apply -c /tmp/host.json --auto-approve
$IP -o link show vif2.0 | grep -q 'master br1' || fail "vif2.0 left br1"
$IP -o addr show dev br1 | grep -q '10.0.0.254/24' || fail "10.0.0.254 was removed"
expect_eq "banner still received" "SSH-2.0-domU-banner" "$(connect internet 203.0.113.10 2222)"

# A public address the host lacks, without an interface to put it on, is a plan error.
printf '{"public":[{"address":"198.51.100.1"}],"forwards":[{"name":"x","listen":"198.51.100.1:80","backends":["10.0.0.2"]}]}\n' > /tmp/missing.json
expect_rc "missing public address" 1 portfwd plan -c /tmp/missing.json
expect_in "names it" "$out" 'error: 198.51.100.1 is not an address of this host'

# Lockout: a port that carries the host's address or its default route is not enslaved.
$IP link add uplink type veth peer name uplink-peer
$IP link set uplink up
$IP link set uplink-peer up
$IP addr add 192.0.2.5/24 dev uplink
$IP route add default via 192.0.2.1 dev uplink
cat > /tmp/lockout.json <<'JSON'
{"public": [{"address": "203.0.113.10", "interface": "veth-pub", "prefix_len": 24}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0", "uplink"]}],
 "forwards": [{"name": "domu-ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22"], "scheduler": "fo"}]}
JSON
before="$(state)"
expect_rc "plan enslaving the uplink" 1 portfwd plan -c /tmp/lockout.json
expect_in "names address and route" "$out" 'port uplink of bridge br1 carries the address 192.0.2.5/24 and the default route'
expect_rc "apply enslaving the uplink" 1 portfwd apply -c /tmp/lockout.json --auto-approve
expect_eq "nothing changed" "$before" "$(state)"
$IP -o link show uplink | grep -q master && fail "uplink was enslaved"
# Without the address, the route alone still holds it back.
$IP addr flush dev uplink
$IP route add default dev uplink
expect_rc "route only" 1 portfwd plan -c /tmp/lockout.json
expect_in "names the route" "$out" 'port uplink of bridge br1 carries the default route'
# A public interface that is a bridge port is refused before the host is read.
sed 's/"vif1.0", "uplink"/"vif1.0", "veth-pub"/' /tmp/lockout.json > /tmp/lockout-public.json
expect_rc "public interface as a port" 1 portfwd validate -c /tmp/lockout-public.json
expect_in "validate names it" "$out" '"veth-pub" carries the public address 203.0.113.10'
$IP route del default dev uplink
$IP link del uplink
