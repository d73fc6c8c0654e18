#!/bin/sh
# write errors name the request and say what to do: missing scheduler module, duplicates, missing service
. /etc/portfwd-test.sh
# This kernel has no ip_vs_twos module.
if out="$(printf -- '-A -t 203.0.113.10:80 -s twos\n' | portfwd debug-restore 2>&1)"; then fail "twos accepted: $out"; fi
echo "$out"
case "$out" in *"adding service tcp 203.0.113.10:80 (scheduler twos)"*"modprobe ip_vs_twos"*) ;; *) fail "no modprobe hint: $out" ;; esac
expect_eq "nothing left behind" "" "$(ipvsadm -S -n)"

# A destination of a service that does not exist: ESRCH, naming both.
if out="$(printf -- '-A -t 203.0.113.10:80 -s twos\n-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m\n' | portfwd debug-restore 2>&1)"; then fail "accepted: $out"; fi
echo "$out"
case "$out" in *"adding destination 10.0.0.2:80 to service tcp 203.0.113.10:80: No such process (ESRCH); the service does not exist"*) ;; *) fail "no ESRCH: $out" ;; esac

ipvsadm -A -t 203.0.113.10:80 -s rr
if out="$(printf -- '-A -t 203.0.113.10:80 -s rr\n' | portfwd debug-restore 2>&1)"; then fail "duplicate accepted: $out"; fi
echo "$out"
case "$out" in *"adding service tcp 203.0.113.10:80 (scheduler rr): File exists (EEXIST)"*) ;; *) fail "no EEXIST: $out" ;; esac

# In one batch: the first op fails, the second still runs (the kernel has no transactions),
# and each result is tied to its own request.
printf -- '-A -t 203.0.113.10:80 -s rr\n-A -t 203.0.113.10:81 -s rr\n' > /tmp/two
if out="$(portfwd debug-restore /tmp/two 2>&1)"; then fail "duplicate accepted: $out"; fi
echo "$out"
case "$out" in *"1 of 2 operations done"*) ;; *) fail "expected 1 of 2 done: $out" ;; esac
ipvsadm -S -n | grep -q -- '-A -t 203.0.113.10:81 -s rr' || fail "second request did not run"
