#!/bin/sh
# dom0 -> domU with ipvsadm: the internet reaches domU:22 through 203.0.113.10:2222 (masq)
. /etc/portfwd-test.sh
classic_topology

ipvsadm -A -t 203.0.113.10:2222 -s rr
ipvsadm -a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m
expect_eq "ipvsadm -S -n" "-A -t 203.0.113.10:2222 -s rr
-a -t 203.0.113.10:2222 -r 10.0.0.2:22 -m -w 1" "$(ipvsadm -S -n)"

banner="$(connect internet 203.0.113.10 2222)"
expect_eq "banner received from the internet" "SSH-2.0-domU-banner" "$banner"
echo "internet received: $banner"

# show -c labels the service with the forward that declares it.
portfwd show -c /examples/xen-dom0.json | grep -q '^TCP  203.0.113.10:2222 rr  # domu-ssh$' || fail "no forward name: $(portfwd show -c /examples/xen-dom0.json)"
