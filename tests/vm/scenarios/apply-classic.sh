#!/bin/sh
# dom0 -> domU driven by `portfwd apply`: traffic flows; plan's exit codes; a second apply is a no-op
. /etc/portfwd-test.sh
classic_topology
netlink_monitor
# xen-dom0.json as it reads on this topology (public on veth-pub, domU's vif1.0 on br1).
cat > /tmp/classic.json <<'JSON'
{"public": [{"address": "203.0.113.10", "interface": "veth-pub"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24", "ports": ["vif1.0"]}],
 "forwards": [{"name": "domu-ssh", "listen": "203.0.113.10:2222", "backends": ["10.0.0.2:22"], "scheduler": "rr"}]}
JSON

# Before: changes present -> 2; a broken config -> 1.
expect_rc "plan before apply" 2 portfwd plan -c /tmp/classic.json --detailed-exitcode
expect_in "plan shows the new service" "$out" '+ service tcp 203.0.113.10:2222 (scheduler rr)'
expect_in "plan shows the new destination" "$out" '+ destination 10.0.0.2:22 (masq, weight 1)'
expect_in "plan summary" "$out" 'Plan: 2 to add, 0 to change, 0 to remove.'
echo '{"forwards": [' > /tmp/broken.json
expect_rc "plan of a broken config" 1 portfwd plan -c /tmp/broken.json --detailed-exitcode
expect_eq "nothing applied yet" "" "$(ipvsadm -S -n)"

expect_rc "apply" 0 portfwd apply -c /tmp/classic.json --auto-approve
expect_in "apply reports" "$out" 'Apply complete: 2 added, 0 changed, 0 removed'
expect_eq "ipvsadm -S -n after apply" "-A -t 203.0.113.10:2222 -s rr
-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1" "$(ipvsadm -S -n)"

banner="$(connect internet 203.0.113.10 2222)"
expect_eq "banner received from the internet" "SSH-2.0-domU-banner" "$banner"

# The connection shows in the statistics `show --json` reads (only it decodes them), as
# ipvsadm counts it; plan's table has none. (The kernel sums its per-CPU counters every 2 s.)
for _ in $(seq 20); do
    ipvsadm_conns="$(ipvsadm -L -n --stats | awk '$1 == "TCP" { print $3 }')"
    [ "$ipvsadm_conns" = 0 ] || break
    sleep 0.5
done
expect_eq "ipvsadm counts one connection" "1" "$ipvsadm_conns"
snap="$(portfwd show --json | tr -d ' \n')"
echo "$snap" | grep -q '"stats":{"connections":1,"in_packets":[1-9]' || fail "no service statistics in show --json: $snap"
echo "$snap" | grep -q '"persistent_connections":0,"stats":{"connections":1,' || fail "no destination statistics in show --json: $snap"
portfwd plan -c /tmp/classic.json --json | grep -q '"connections"' && fail "plan --json carries statistics"

# After: no changes -> 0, and the JSON says so.
expect_rc "plan after apply" 0 portfwd plan -c /tmp/classic.json --detailed-exitcode
expect_in "plan after apply" "$out" 'No changes. The kernel matches /tmp/classic.json.'
portfwd plan -c /tmp/classic.json --json > /tmp/plan.json
grep -q '"changes_present": false' /tmp/plan.json || fail "JSON plan: $(cat /tmp/plan.json)"

# A second apply sends exactly the netlink messages a plan sends (plan never writes).
before="$(netlink_count)"
portfwd plan -c /tmp/classic.json > /dev/null
plan_msgs=$(( $(netlink_count) - before ))
before="$(netlink_count)"
expect_rc "second apply" 0 portfwd apply -c /tmp/classic.json --auto-approve
apply_msgs=$(( $(netlink_count) - before ))
expect_in "second apply" "$out" 'No changes.'
echo "netlink messages: plan $plan_msgs, second apply $apply_msgs"
[ "$plan_msgs" -gt 0 ] || fail "the netlink monitor saw nothing"
expect_eq "netlink messages of a no-op apply vs a plan" "$plan_msgs" "$apply_msgs"
