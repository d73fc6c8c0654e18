#!/bin/sh
# portfwd run: TCP checks are half-open (the guest never accepts one), the open-file limit is raised; a dead backend goes to weight 0 within fall x interval + 1 s and new connections avoid it, it comes back after rise successes; plan agrees with the daemon; ipvsadm -C is repaired at the next resync; a second daemon is refused; a restarted daemon keeps a dead backend at 0; SIGTERM leaves the table
. /etc/portfwd-test.sh
two_web_guests
cat > /tmp/d.json <<'JSON'
{"public": [{"address": "203.0.113.10"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24"}],
 "forwards": [{"name": "web", "listen": "203.0.113.10:80", "scheduler": "rr",
               "backends": ["10.0.0.2:80", "10.0.0.3:80"],
               "health": {"check": "tcp", "interval": 0.5, "timeout": 0.3, "rise": 2, "fall": 2}}]}
JSON
portfwd run -c /tmp/d.json --resync 2 > /tmp/run.log 2>&1 &
daemon=$!
wait_until 10 "both backends up" weight_is 10.0.0.3:80 1
weight_is 10.0.0.2:80 1 || fail "10.0.0.2 not at weight 1: $(ipvsadm -S -n)"
grep -q 'starting: /tmp/d.json (1 forwards, 2 health checks)' /tmp/run.log || fail "start line: $(cat /tmp/run.log)"

# A TCP check is SYN, SYN-ACK, reset: the guest's kernel drops the half-open request
# (EmbryonicRsts) and its server accepts nothing.
embryonic() {
    $IP netns exec "$1" awk '/^TcpExt:/ { if (!c) { for (i = 2; i <= NF; i++) if ($i == "EmbryonicRsts") c = i } else print $c }' /proc/net/netstat
}
before="$(embryonic domu)"
reset_twice() { [ "$(embryonic domu)" -ge $((before + 2)) ]; }
wait_until 5 "two half-open checks reset in domu" reset_twice
# The soft open-file limit is raised to the hard one: checks that time out hold sockets.
limits="$(grep '^Max open files' /proc/$daemon/limits)"
set -- $limits
expect_eq "open-file soft limit" "$5" "$4"

# A second daemon is refused, and says who runs.
expect_rc "second daemon" 1 portfwd run -c /tmp/d.json
expect_in "names the first" "$out" "another portfwd run is running (pid $daemon"

# Kill domu2's server: weight 0 within fall x interval + 1 s = 2 s.
kill "$s2"
wait_until 2 "dead backend at weight 0" weight_is 10.0.0.3:80 0
grep -q 'backend 10.0.0.3:80 (tcp check of "web") is down: connect: connection refused' /tmp/run.log || fail "log: $(cat /tmp/run.log)"
grep -q 'health: changing destination 10.0.0.3:80 of service tcp 203.0.113.10:80 (weight 1 -> 0)' /tmp/run.log || fail "weight change log: $(cat /tmp/run.log)"
for i in $(seq 20); do
    got="$(connect internet 203.0.113.10 80)"
    [ "$got" = one ] || fail "connection $i went to '$got'"
done
# plan and apply by hand agree with the daemon.
expect_rc "plan while held down" 0 portfwd plan -c /tmp/d.json --detailed-exitcode
expect_in "says why" "$out" "1 backend is held down by the health checks of portfwd run (pid $daemon)"
expect_rc "apply while held down" 0 portfwd apply -c /tmp/d.json --auto-approve
weight_is 10.0.0.3:80 0 || fail "apply restored the held-down weight"

# Back: weight 1 after rise successes.
s2="$(banner_server domu2 80 two)"
wait_until 4 "restored backend" weight_is 10.0.0.3:80 1
grep -q 'backend 10.0.0.3:80 (tcp check of "web") is up' /tmp/run.log || fail "log: $(cat /tmp/run.log)"

# Drift: ipvsadm -C by hand is repaired within one resync.
ipvsadm -C
wait_until 5 "table restored after ipvsadm -C" weight_is 10.0.0.3:80 1
grep -q 'resync: adding service tcp 203.0.113.10:80' /tmp/run.log || fail "resync log: $(cat /tmp/run.log)"

# A restart while a backend is down keeps it at 0 until its checks pass.
kill "$s2"
wait_until 2 "down again" weight_is 10.0.0.3:80 0
kill -TERM "$daemon"
wait "$daemon" || fail "SIGTERM: exit $?"
grep -q 'stopping: the IPVS table stays as it is' /tmp/run.log || fail "stop log"
weight_is 10.0.0.3:80 0 || fail "SIGTERM changed the table: $(ipvsadm -S -n)"
weight_is 10.0.0.2:80 1 || fail "SIGTERM changed the table: $(ipvsadm -S -n)"
portfwd run -c /tmp/d.json --resync 2 > /tmp/run2.log 2>&1 &
daemon=$!
sleep 1.5
weight_is 10.0.0.3:80 0 || fail "a restarted daemon restored an unchecked backend: $(ipvsadm -S -n); $(cat /tmp/run2.log)"
s2="$(banner_server domu2 80 two)"
wait_until 4 "restored after the restart" weight_is 10.0.0.3:80 1
kill -TERM "$daemon"
wait "$daemon" || fail "SIGTERM: exit $?"
kill "$s1" "$s2" 2>/dev/null || true
