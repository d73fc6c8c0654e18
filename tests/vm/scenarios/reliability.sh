#!/bin/sh
# SIGTERM/SIGINT mid-apply roll back and release the lock; SIGKILL leaves no stale lock; files others could change are refused
. /etc/portfwd-test.sh
public_host
awk 'BEGIN {
    printf "{\"public\":[{\"address\":\"203.0.113.10\"}],\"forwards\":["
    for (i = 0; i < 4000; i++) printf "%s{\"name\":\"f%d\",\"listen\":\"203.0.113.10:%d\",\"backends\":[\"10.2.0.1\"]}", (i ? "," : ""), i, 10000 + i
    printf "]}\n"
}' > /tmp/rel-big.json
chmod 644 /tmp/rel-big.json

# services_appeared: waits (up to ~10 s) until the kernel lists a service; /proc is read
# rather than `ipvsadm -S`, which takes longer than the apply on a large table.
services_appeared() {
    for _ in $(seq 200); do
        [ "$(grep -c '^TCP' /proc/net/ip_vs || true)" -gt 0 ] && return 0
        sleep 0.05
    done
}

# interrupt SIGNAL: starts the big apply (4,000 services: ~60 batches), sends SIGNAL once
# services appear, checks the rollback.
interrupt() {
    ipvsadm -C
    portfwd apply -c /tmp/rel-big.json --auto-approve > /tmp/rel.out 2>&1 &
    pid=$!
    services_appeared
    kill "-$1" "$pid" 2>/dev/null || true
    set +e; wait "$pid"; rc=$?; set -e
    tail -n 3 /tmp/rel.out
    if [ "$rc" = 0 ]; then
        fail "$1 arrived after the last batch: the apply was not interrupted, nothing was tested"
    else
        expect_eq "exit code after $1" 1 "$rc"
        expect_in "$1 noticed" "$(cat /tmp/rel.out)" 'stopped by a signal'
        expect_in "$1 rolled back" "$(cat /tmp/rel.out)" 'was rolled back'
        expect_eq "table after $1" "" "$(ipvsadm -S -n)"
    fi
}
interrupt TERM
interrupt INT
expect_rc "the lock was released" 0 portfwd apply -c /tmp/rel-big.json --auto-approve --lock-timeout 1

# SIGKILL cannot be handled: whatever it left, the next apply takes the lock at once and converges.
ipvsadm -C
portfwd apply -c /tmp/rel-big.json --auto-approve > /dev/null 2>&1 &
pid=$!
services_appeared
kill -KILL "$pid" 2>/dev/null || true
set +e; wait "$pid"; set -e
expect_rc "apply after a SIGKILL" 0 portfwd apply -c /tmp/rel-big.json --auto-approve --lock-timeout 1
expect_rc "converged" 0 portfwd plan -c /tmp/rel-big.json --detailed-exitcode

# Files someone else could have changed.
pf_config /tmp/rel-small.json '{"name":"x","listen":"203.0.113.10:80","backends":["10.0.0.2"]}'
chmod 666 /tmp/rel-small.json
expect_rc "world-writable config" 1 portfwd apply -c /tmp/rel-small.json --auto-approve
expect_in "refused" "$out" 'refusing to apply: /tmp/rel-small.json is writable by every user (mode 666)'
expect_rc "plan only warns" 2 portfwd plan -c /tmp/rel-small.json --detailed-exitcode
expect_in "warning" "$out" 'warning: /tmp/rel-small.json is writable by every user'
chmod 644 /tmp/rel-small.json
chown 1000 /tmp/rel-small.json
expect_rc "config owned by another user" 1 portfwd apply -c /tmp/rel-small.json --auto-approve
expect_in "refused" "$out" 'is owned by another user (uid 1000)'
chown 0 /tmp/rel-small.json
portfwd plan -c /tmp/rel-small.json --out /tmp/rel.plan > /dev/null
sed -i 's/10.0.0.2/10.0.0.9/' /tmp/rel.plan
expect_rc "a plan file edited by hand" 1 portfwd apply /tmp/rel.plan
expect_in "checksum" "$out" 'was changed after `portfwd plan --out` wrote it'
expect_eq "nothing changed by the refusals" 4000 "$(ipvsadm -S -n | grep -c '^-A')"

# An address the kernel refuses (IPv6 is off on the interface): refused midway, undone.
$IP link add dummy6 type dummy
$IP link set dummy6 up
echo 1 > /proc/sys/net/ipv6/conf/dummy6/disable_ipv6
ipvsadm -C
before="$(ipvsadm -S -n)"
cat > /tmp/rel-v6.json <<'JSON'
{"public":[{"address":"203.0.113.10"},{"address":"2001:db8::99","interface":"dummy6"}],
 "bridges":[{"name":"br7","address":"10.7.0.1/24"}],
 "forwards":[{"name":"v6","listen":"[2001:db8::99]:443","backends":["[fd00::5]"]}]}
JSON
expect_rc "an address the kernel refuses" 1 portfwd apply -c /tmp/rel-v6.json --auto-approve
expect_in "names the address" "$out" 'adding address 2001:db8::99/128 to dummy6'
expect_in "rolled back" "$out" 'was rolled back'
if $IP link show br7 2>/dev/null; then fail "br7 was left behind"; fi
expect_eq "IPVS unchanged" "$before" "$(ipvsadm -S -n)"
