#!/bin/sh
# apply refuses without a terminal or --auto-approve, on shadowing a local listener (TCP, v6-only, UDP, over sock_diag and /proc), on removing too much, on emptying a forward
. /etc/portfwd-test.sh
public_host
pf_config /tmp/ssh.json '{"name":"ssh","listen":"203.0.113.10:22","backends":["10.0.0.2"]}'

expect_rc "no terminal, no --auto-approve" 1 portfwd apply -c /tmp/ssh.json < /dev/null
expect_in "says why" "$out" 'standard input is not a terminal'
expect_eq "nothing applied" "" "$(ipvsadm -S -n)"

# The host's own sshd, on every address (busybox nc listens on [::], which takes IPv4 too).
nc -ll -p 22 -e /bin/echo host-sshd &
wait_for_listener pf-host 22
expect_rc "plan warns" 0 portfwd plan -c /tmp/ssh.json
expect_in "shadowing warning" "$out" 'warning: forward "ssh" would capture tcp 203.0.113.10:22, where the host itself listens (tcp [::]:22)'
expect_rc "apply refuses" 1 portfwd apply -c /tmp/ssh.json --auto-approve
expect_in "shadowing refusal" "$out" 'run with --allow-shadowing'
expect_eq "nothing applied" "" "$(ipvsadm -S -n)"
expect_rc "apply allowed" 0 portfwd apply -c /tmp/ssh.json --auto-approve --allow-shadowing
kill %1 2>/dev/null || true

# The same server bound v6-only (the namespace's net.ipv6.bindv6only): IPv4 cannot reach
# it, and sock_diag says so.
echo 1 > /proc/sys/net/ipv6/bindv6only
nc -ll -p 2200 -e /bin/echo v6-only &
v6server=$!
wait_for_listener pf-host 2200
pf_config /tmp/v6only.json '{"name":"alt","listen":"203.0.113.10:2200","backends":["10.0.0.2"]}'
expect_rc "v6-only listener: plan" 0 portfwd plan -c /tmp/v6only.json
case "$out" in *"where the host itself listens"*) fail "a v6-only listener shadows nothing on IPv4: $out" ;; esac
grep -q '^tcp_diag ' /proc/modules || fail "the TCP listeners were not read over sock_diag"

# Without sock_diag (its modules unloaded and module loading failing, as on a host without
# them), /proc/net is read: it cannot tell v6-only, so the warning is the cautious one.
echo /bin/false > /proc/sys/kernel/modprobe
rmmod udp_diag tcp_diag inet_diag 2>/dev/null || true
grep -q '^inet_diag ' /proc/modules && fail "inet_diag still loaded"
expect_rc "/proc fallback: plan" 0 portfwd plan -c /tmp/v6only.json
expect_in "/proc fallback warns" "$out" 'where the host itself listens (tcp [::]:2200)'
echo /sbin/modprobe > /proc/sys/kernel/modprobe
kill "$v6server"
echo 0 > /proc/sys/net/ipv6/bindv6only

# A bound UDP socket (a DHCP server on 0.0.0.0:67) is a listener for a UDP forward.
printf 'interface dummy0\nstart 203.0.113.100\nend 203.0.113.110\nlease_file /tmp/udhcpd.leases\n' > /tmp/udhcpd.conf
touch /tmp/udhcpd.leases
udhcpd -f /tmp/udhcpd.conf > /dev/null 2>&1 &
dhcpd=$!
for _ in $(seq 50); do netstat -lun | grep -q ':67 ' && break; sleep 0.1; done
pf_config /tmp/dhcp.json '{"name":"dhcp","protocol":"udp","listen":"203.0.113.10:67","backends":["10.0.0.2"]}'
expect_rc "udp listener: plan" 0 portfwd plan -c /tmp/dhcp.json
expect_in "udp shadowing warning" "$out" 'would capture udp 203.0.113.10:67, where the host itself listens (udp 0.0.0.0:67)'
grep -q '^udp_diag ' /proc/modules || fail "the UDP listeners were not read over sock_diag"
kill "$dhcpd"

# Safety threshold: 12 managed services (the ssh one goes first), removing 4 (33%) is more than 30%.
pf_config /tmp/twelve.json '{"name":"range","listen":"203.0.113.10:7000-7011","backends":["10.0.0.2"]}'
pf_config /tmp/eight.json '{"name":"range","listen":"203.0.113.10:7000-7007","backends":["10.0.0.2"]}'
portfwd apply -c /tmp/twelve.json --auto-approve > /dev/null
before="$(ipvsadm -S -n)"
expect_rc "too many removals" 1 portfwd apply -c /tmp/eight.json --auto-approve
expect_in "figures" "$out" 'the plan removes 4 of the 12 managed services (33%), more than the 30% allowed (safety.max_remove_percent)'
expect_in "override" "$out" 'run with --force'
expect_eq "nothing removed" "$before" "$(ipvsadm -S -n)"
# The threshold comes from the config.
printf '{"public":[{"address":"203.0.113.10"}],"safety":{"max_remove_percent":40},"forwards":[{"name":"range","listen":"203.0.113.10:7000-7007","backends":["10.0.0.2"]}]}\n' > /tmp/eight-40.json
expect_rc "within a configured threshold" 0 portfwd apply -c /tmp/eight-40.json --auto-approve
expect_eq "eight left" 8 "$(ipvsadm -S -n | grep -c '^-A')"

# A forward left with no backends needs --force.
pf_config /tmp/empty.json '{"name":"range","listen":"203.0.113.10:7000-7007","backends":[]}'
before="$(ipvsadm -S -n)"
expect_rc "emptying a forward" 1 portfwd apply -c /tmp/empty.json --auto-approve
expect_in "zero backends" "$out" 'forward "range" would be left with no backends (tcp 203.0.113.10:7000 and 7 more services lose every destination)'
expect_eq "nothing emptied" "$before" "$(ipvsadm -S -n)"
expect_rc "forced" 0 portfwd apply -c /tmp/empty.json --auto-approve --force
expect_eq "no destinations left" 0 "$(ipvsadm -S -n | grep -c '^-a' || true)"
