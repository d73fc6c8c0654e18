#!/bin/sh
# the same layout without a forward: the connection to 203.0.113.10:2222 is refused
. /etc/portfwd-test.sh
classic_topology

expect_eq "empty IPVS table" "" "$(ipvsadm -S -n)"
if out="$(connect internet 203.0.113.10 2222 2>&1)"; then
    fail "connected without a forward: $out"
fi
case "$out" in
    *"Connection refused"*) echo "refused as expected: $out" ;;
    *) fail "expected 'Connection refused', got: $out" ;;
esac
# The guest itself is reachable from the host, so the refusal is the missing forward's.
expect_eq "banner from the host side" "SSH-2.0-domU-banner" "$(nc -w 3 10.0.0.2 22 < /dev/null)"
