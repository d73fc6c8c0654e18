#!/bin/sh
# portfwd doctor finds strict rp_filter, bridge-nf-call-iptables, a backend with no route back, a bridge without its gateway address; plan warns too
. /etc/portfwd-test.sh
classic_topology
cat > /tmp/doctor.json <<'JSON'
{"public": [{"address": "203.0.113.10"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0"]}],
 "forwards": [{"name": "domu-ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22"]}]}
JSON
echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter
echo 0 > /proc/sys/net/ipv4/conf/br1/rp_filter
expect_rc "doctor on a healthy host" 0 portfwd doctor -c /tmp/doctor.json
expect_in "gateway ok" "$out" "ok    br1 has the guests' gateway address 10.0.0.1/24"
expect_in "connection table" "$out" "info  the IPVS connection table has 4096 hash buckets"
expect_in "verdict" "$out" "No problems found."

echo 1 > /proc/sys/net/ipv4/conf/br1/rp_filter
modprobe br_netfilter
trap 'modprobe -r br_netfilter' EXIT
echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
$IP addr del 10.0.0.1/24 dev br1
cat > /tmp/doctor2.json <<'JSON'
{"public": [{"address": "203.0.113.10"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0"]}],
 "forwards": [{"name": "domu-ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22", "192.168.77.7:22"]}]}
JSON
expect_rc "doctor on a host with pitfalls" 1 portfwd doctor -c /tmp/doctor2.json
expect_in "rp_filter" "$out" "warn  strict reverse-path filtering (rp_filter=1) on br1"
expect_in "br_netfilter" "$out" "warn  br_netfilter is loaded and net.bridge.bridge-nf-call-iptables is 1"
expect_in "route back" "$out" 'warn  masq backend 192.168.77.7 of forward "domu-ssh" is on no subnet of this host'
expect_in "gateway" "$out" "warn  br1 lacks the guests' gateway address 10.0.0.1/24"
expect_in "verdict" "$out" "4 problems found."

expect_rc "plan warns about what apply does not fix" 0 portfwd plan -c /tmp/doctor2.json
expect_in "plan: rp_filter" "$out" "warning: strict reverse-path filtering (rp_filter=1) on br1"
expect_in "plan: the missing address is a change" "$out" "+ address 10.0.0.1/24 (on br1)"
case "$out" in *"lacks the guests' gateway"*) fail "plan repeats what it fixes: $out" ;; esac

# A bridge apply will create is named as such, not judged.
$IP addr add 10.0.0.1/24 dev br1
echo 0 > /proc/sys/net/ipv4/conf/br1/rp_filter
echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables
sed 's/"br1"/"br9"/; s/"ports": \["vif1.0"\]/"ports": []/' /tmp/doctor.json > /tmp/doctor3.json
expect_rc "doctor with a bridge to create" 0 portfwd doctor -c /tmp/doctor3.json
expect_in "bridge to create" "$out" "info  br9 does not exist (apply creates it with 10.0.0.1/24)"

# Debian's ipvsadm init script restoring its rules and portfwd.service, both enabled.
mkdir -p /etc/rc2.d /etc/default /etc/systemd/system/multi-user.target.wants
touch /etc/rc2.d/S01ipvsadm /etc/systemd/system/multi-user.target.wants/portfwd.service
printf 'AUTO="true"\nDAEMON="none"\n' > /etc/default/ipvsadm
expect_rc "doctor with two boot paths" 1 portfwd doctor -c /tmp/doctor.json
expect_in "boot paths" "$out" "warn  Debian's ipvsadm init script (AUTO=\"true\" in /etc/default/ipvsadm) and portfwd.service are both enabled"
expect_rc "plan warns too" 0 portfwd plan -c /tmp/doctor.json
expect_in "plan: boot paths" "$out" "warning: Debian's ipvsadm init script"
printf 'AUTO="false"\n' > /etc/default/ipvsadm
expect_rc "one boot path" 0 portfwd doctor -c /tmp/doctor.json
rm -f /etc/rc2.d/S01ipvsadm /etc/systemd/system/multi-user.target.wants/portfwd.service /etc/default/ipvsadm
