#!/bin/sh
# portfwd run never blocks: while an apply holds the lock (draining for up to 45 s) status and /metrics answer, a backend that dies meanwhile is held down as soon as the lock is free, the daemon lives on; a SIGHUP that changes the check settings keeps a down backend at weight 0 until it passes again
. /etc/portfwd-test.sh
two_web_guests
echo_server domu 7
echo_server domu 8
forwards() {
    cat <<JSON
{"public": [{"address": "203.0.113.10"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24"}],
 "forwards": [{"name": "web", "listen": "203.0.113.10:80", "scheduler": "rr",
               "backends": ["10.0.0.2:80", "10.0.0.3:80"],
               "health": {"check": "tcp", "interval": $1, "timeout": 0.3, "rise": 2, "fall": 1}},
              {"name": "echo", "listen": "203.0.113.10:7000", "backends": ["10.0.0.2:$2"]}]}
JSON
}
forwards 0.5 7 > /tmp/r.json
forwards 0.5 8 > /tmp/r2.json
portfwd run -c /tmp/r.json --resync 3600 --metrics 127.0.0.1:9433 > /tmp/run.log 2>&1 &
daemon=$!
wait_until 10 "both backends up" weight_is 10.0.0.3:80 1
metric() { wget -qO- http://127.0.0.1:9433/metrics | promq "$@"; }
# Milliseconds since boot, from /proc/uptime (busybox's date has no %N).
now_ms() {
    read -r up _ < /proc/uptime
    cs="${up#*.}"
    echo $((${up%.*} * 1000 + ${cs#0} * 10))
}

# An apply that holds the lock: it drains a backend of "echo" while a client stays connected.
echo_session 7000
portfwd apply -c /tmp/r2.json --auto-approve --drain 45 > /tmp/drain.out 2>&1 &
applier=$!
for _ in $(seq 100); do grep -q 'draining 1 destination' /tmp/drain.out && break; sleep 0.1; done
grep -q 'draining 1 destination' /tmp/drain.out || fail "the apply does not drain: $(cat /tmp/drain.out)"

# A backend dies while the lock is held: checks go on, the kernel round waits.
kill "$s2"
slowest=0
for i in $(seq 12); do
    t0="$(now_ms)"
    portfwd status > /tmp/status.out 2>&1 || true
    t1="$(now_ms)"
    up="$(metric portfwd_backend_up forward=web backend=10.0.0.3:80)"
    t2="$(now_ms)"
    for took in $((t1 - t0)) $((t2 - t1)); do
        [ "$took" -gt "$slowest" ] && slowest="$took"
    done
    grep -q 'forward web' /tmp/status.out || fail "status did not answer: $(cat /tmp/status.out)"
    [ "$i" -lt 4 ] || expect_eq "the check saw it down (try $i)" 0 "$up"
    sleep 1
done
echo "slowest answer of status or /metrics while the lock was held: ${slowest} ms"
# Under TCG a process start alone takes a good part of this; the loop answered every time.
[ "$slowest" -lt 2000 ] || fail "an answer took ${slowest} ms"
weight_is 10.0.0.3:80 1 || fail "the kernel changed while apply held the lock: $(ipvsadm -S -n)"
grep -q 'health: waiting for portfwd apply (pid '"$applier"') to finish' /tmp/run.log || fail "no waiting line: $(cat /tmp/run.log)"
kill -0 "$daemon" || fail "the daemon died"

# The client hangs up: the drain ends, the apply lets go, the backend is held down at once.
kill "$client"
exec 3>&-
wait "$applier" || fail "apply failed: $(cat /tmp/drain.out)"
wait_until 5 "dead backend at weight 0 once the lock is free" weight_is 10.0.0.3:80 0
kill -0 "$daemon" || fail "the daemon died"

# A reload with new check settings keeps the dead backend down until it passes.
forwards 0.7 8 > /tmp/r.json
kill -HUP "$daemon"
wait_until 10 "reloaded" grep -q '^.* reloaded$' /tmp/run.log
for _ in $(seq 10); do
    weight_is 10.0.0.3:80 0 || fail "the reload restored an unchecked backend: $(ipvsadm -S -n)"
    sleep 0.3
done
s2="$(banner_server domu2 80 two)"
wait_until 10 "back at weight 1 after passing checks" weight_is 10.0.0.3:80 1

kill "$daemon"
wait "$daemon" || true
kill "$s1" "$s2" 2>/dev/null || true
ipvsadm -C
