#!/bin/sh
# --drain quiesces a removed backend until its connection ends; a second apply waits for the lock
. /etc/portfwd-test.sh
classic_topology
echo_server domu 7
echo_server domu 8
pf_config /tmp/a.json '{"name":"echo","listen":"203.0.113.10:7000","backends":["10.0.0.2:7"]}'
pf_config /tmp/b.json '{"name":"echo","listen":"203.0.113.10:7000","backends":["10.0.0.2:8"]}'
portfwd apply -c /tmp/a.json --auto-approve > /dev/null

echo_session 7000
expect_eq "echo" "one" "$(cat /tmp/from-server)"

portfwd apply -c /tmp/b.json --auto-approve --drain 60 > /tmp/drain.out 2>&1 &
drainer=$!
for _ in $(seq 100); do grep -q 'draining 1 destination' /tmp/drain.out && break; sleep 0.1; done
cat /tmp/drain.out
expect_in "plan says it drains" "$(cat /tmp/drain.out)" '- destination 10.0.0.2:7 (masq, weight 1); 1 active, 0 inactive connections; drained first: weight 0 for up to 60 s'
expect_eq "quiesced, not removed, new one added" "-A -t 203.0.113.10:7000 -s wlc
-a -t 203.0.113.10:7000 -r 10.0.0.2:7 -m -w 0
-a -t 203.0.113.10:7000 -r 10.0.0.2:8 -m -w 1" "$(ipvsadm -S -n)"
echo two >&3
for _ in $(seq 50); do grep -q two /tmp/from-server && break; sleep 0.1; done
expect_eq "the draining backend still serves its connection" "one
two" "$(cat /tmp/from-server)"

# plan never takes the lock: it answers while the apply holds it.
expect_rc "plan while an apply holds the lock" 2 timeout 20 portfwd plan -c /tmp/b.json --detailed-exitcode

# Meanwhile another apply cannot get in.
expect_rc "second apply while the first holds the lock" 1 portfwd apply -c /tmp/b.json --auto-approve --lock-timeout 1
expect_in "lock message" "$out" "another portfwd apply holds /run/portfwd/lock (pid $drainer)"
portfwd apply -c /tmp/b.json --auto-approve > /tmp/waiter.out 2>&1 &
waiter=$!
for _ in $(seq 100); do grep -q 'waiting for another' /tmp/waiter.out && break; sleep 0.1; done

# The client hangs up: the draining backend has no active connection left.
kill "$client"
exec 3>&-
wait "$drainer" || fail "drain apply failed: $(cat /tmp/drain.out)"
cat /tmp/drain.out
expect_in "drained" "$(cat /tmp/drain.out)" 'removing destination 10.0.0.2:7 of tcp 203.0.113.10:7000 (drained)'
expect_in "complete" "$(cat /tmp/drain.out)" 'Apply complete: 1 added, 0 changed, 1 removed'
wait "$waiter" || fail "waiting apply failed: $(cat /tmp/waiter.out)"
cat /tmp/waiter.out
expect_in "waited" "$(cat /tmp/waiter.out)" 'waiting for another portfwd apply to finish'
expect_in "then found nothing to do" "$(cat /tmp/waiter.out)" 'No changes.'
expect_eq "final table" "-A -t 203.0.113.10:7000 -s wlc
-a -t 203.0.113.10:7000 -r 10.0.0.2:8 -m -w 1" "$(ipvsadm -S -n)"

# Two applies racing on a larger config: both succeed, never interleaving.
pf_config /tmp/big.json '{"name":"range","listen":"203.0.113.10:10000-10299","backends":["10.0.0.2","10.0.0.3"]}'
portfwd apply -c /tmp/big.json --auto-approve > /tmp/r1.out 2>&1 &
r1=$!
portfwd apply -c /tmp/big.json --auto-approve > /tmp/r2.out 2>&1 &
r2=$!
wait "$r1" || fail "racing apply 1: $(tail -5 /tmp/r1.out)"
wait "$r2" || fail "racing apply 2: $(tail -5 /tmp/r2.out)"
cat /tmp/r1.out /tmp/r2.out | grep -v '^ *[+-] '
expect_eq "one of them did the work" 1 "$(cat /tmp/r1.out /tmp/r2.out | grep -c 'Apply complete: 900 added, 0 changed, 2 removed')"
expect_eq "the other waited and found nothing to do" 1 "$(cat /tmp/r1.out /tmp/r2.out | grep -c 'No changes.')"
expect_eq "services" 300 "$(ipvsadm -S -n | grep -c '^-A')"
