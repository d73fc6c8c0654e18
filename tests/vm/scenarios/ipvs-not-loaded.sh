#!/bin/sh
# without IPVS in the kernel (ip_vs unloaded, module loading off) portfwd says to modprobe ip_vs
. /etc/portfwd-test.sh
trap 'echo /sbin/modprobe > /proc/sys/kernel/modprobe' EXIT
echo /bin/false > /proc/sys/kernel/modprobe
# Namespaces of earlier scenarios are cleaned up asynchronously (their services, their sync
# daemons): wait for the last user of each module.
for m in $(lsmod | awk '$1 ~ /^ip_vs_/ {print $1}'); do
    for _ in $(seq 50); do rmmod "$m" 2>/dev/null && break; sleep 0.2; done
done
if lsmod | grep -q '^ip_vs '; then
    for _ in $(seq 50); do rmmod ip_vs 2>/dev/null && break; sleep 0.2; done
fi
if lsmod | grep -q '^ip_vs_'; then fail "could not unload: $(lsmod | grep ip_vs_)"; fi
if lsmod | grep -q '^ip_vs '; then fail "could not unload ip_vs: $(lsmod | grep ip_vs)"; fi
if out="$(portfwd show 2>&1)"; then fail "show worked without IPVS: $out"; fi
echo "$out"
case "$out" in *"looking up the IPVS family"*"modprobe ip_vs"*) ;; *) fail "no modprobe ip_vs hint: $out" ;; esac
