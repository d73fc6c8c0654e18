#!/bin/sh
# without IPVS in the kernel (ip_vs unloaded, module loading off) portfwd says to modprobe ip_vs
. /etc/portfwd-test.sh
trap 'echo /sbin/modprobe > /proc/sys/kernel/modprobe' EXIT
echo /bin/false > /proc/sys/kernel/modprobe
for m in $(lsmod | awk '$1 ~ /^ip_vs_/ {print $1}'); do rmmod "$m"; done
if lsmod | grep -q '^ip_vs '; then
    # Namespaces of earlier scenarios are cleaned up asynchronously; wait for the last user.
    for _ in $(seq 50); do rmmod ip_vs 2>/dev/null && break; sleep 0.2; done
fi
if lsmod | grep -q '^ip_vs '; then fail "could not unload ip_vs: $(lsmod | grep ip_vs)"; fi
if out="$(portfwd show 2>&1)"; then fail "show worked without IPVS: $out"; fi
echo "$out"
case "$out" in *"looking up the IPVS family"*"modprobe ip_vs"*) ;; *) fail "no modprobe ip_vs hint: $out" ;; esac
