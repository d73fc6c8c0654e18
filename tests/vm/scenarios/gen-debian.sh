#!/bin/sh
# gen debian: ipvsadm -R of the generated rules and portfwd apply give byte-identical ipvsadm -S -n; plan then has no IPVS change; --check finds drift
. /etc/portfwd-test.sh
public_host
$IP addr add 2001:db8::10/64 dev dummy0 nodad
modprobe sctp 2>/dev/null || true
cat > /tmp/gen.json <<'JSON'
{"public":[{"address":"203.0.113.10"},{"address":"2001:db8::10"}],
 "sysctl":{"net.ipv4.vs.expire_nodest_conn":1},
 "forwards":[
  {"name":"sh","listen":"203.0.113.10:443","scheduler":"sh","scheduler_flags":["sh-fallback","sh-port"],
   "persistence":300,"persistence_netmask":"255.255.255.0","backends":[{"address":"10.0.0.2","weight":3,"upper_threshold":100,"lower_threshold":50}]},
  {"name":"mh","protocol":"udp","listen":"203.0.113.10:53","scheduler":"mh","scheduler_flags":["mh-port"],"backends":["10.0.0.3","10.0.0.4:5353"]},
  {"name":"dr","listen":"203.0.113.10:80","method":"route","backends":["10.0.0.5","10.0.0.6"]},
  {"name":"tun","listen":"203.0.113.10:81","method":"tunnel","scheduler":"lc","backends":["10.0.0.7"]},
  {"name":"sctp","protocol":"sctp","listen":"203.0.113.10:3868","backends":["10.0.0.8"]},
  {"name":"v6","listen":"[2001:db8::10]:443","persistence":60,"persistence_netmask":48,"scheduler":"wrr","backends":["[fd00::5]:8443",{"address":"fd00::6","weight":0}]},
  {"name":"range","listen":"203.0.113.10:6000-6009","backends":["10.0.0.9:7000-7009","10.0.0.10"],"scheduler":"sed"}
 ]}
JSON
expect_rc "gen debian" 0 portfwd gen debian -c /tmp/gen.json -o /tmp/gen
head -3 /tmp/gen/etc/ipvsadm.rules

# Loaded as Debian's init script loads /etc/ipvsadm.rules: comments filtered, then ipvsadm -R
# (plain ipvsadm -R refuses comment lines; Debian's files start with one).
restore() { grep -v '^#' /tmp/gen/etc/ipvsadm.rules | ipvsadm -R; }
ipvsadm -C
restore || fail "ipvsadm -R refused the generated rules"
restored="$(ipvsadm -S -n)"
thresholds_restored="$(ipvsadm -L -n --thresholds)"
ipvsadm -C
expect_rc "apply" 0 portfwd apply -c /tmp/gen.json --auto-approve
applied="$(ipvsadm -S -n)"
expect_eq "ipvsadm -S -n: ipvsadm -R of the generated rules vs portfwd apply" "$applied" "$restored"
expect_eq "thresholds too" "$(ipvsadm -L -n --thresholds)" "$thresholds_restored"
echo "$applied" | grep -c '^-A' | grep -qx 16 || fail "expected 16 services: $applied"

# After loading the generated rules, portfwd sees nothing to do in IPVS.
ipvsadm -C
restore
portfwd plan -c /tmp/gen.json --json > /tmp/gen-plan.json
if grep -q '"kind": "ipvs_' /tmp/gen-plan.json; then fail "IPVS changes after loading the rules: $(cat /tmp/gen-plan.json)"; fi

# The sysctl and modules files are what the plan would set.
grep -qx 'net.ipv4.ip_forward = 1' /tmp/gen/etc/sysctl.d/60-portfwd.conf || fail "sysctl.d: $(cat /tmp/gen/etc/sysctl.d/60-portfwd.conf)"
grep -qx 'net.ipv6.conf.all.forwarding = 1' /tmp/gen/etc/sysctl.d/60-portfwd.conf || fail "sysctl.d: $(cat /tmp/gen/etc/sysctl.d/60-portfwd.conf)"
grep -qx 'net.ipv4.vs.expire_nodest_conn = 1' /tmp/gen/etc/sysctl.d/60-portfwd.conf || fail "sysctl.d"
echo 0 > /proc/sys/net/ipv4/vs/expire_nodest_conn
sysctl -p /tmp/gen/etc/sysctl.d/60-portfwd.conf > /dev/null
expect_eq "sysctl -p applies the generated file" 1 "$(cat /proc/sys/net/ipv4/vs/expire_nodest_conn)"
for m in $(grep -v '^#' /tmp/gen/etc/modules-load.d/portfwd.conf); do modprobe "$m" || fail "modprobe $m"; done

# Drift detection.
expect_rc "check, no drift" 0 portfwd gen debian -c /tmp/gen.json -o /tmp/gen --check
echo '-A -t 203.0.113.10:9 -s rr' >> /tmp/gen/etc/ipvsadm.rules
expect_rc "check, drift" 2 portfwd gen debian -c /tmp/gen.json -o /tmp/gen --check
expect_in "unified diff" "$out" '--- a/etc/ipvsadm.rules
+++ b/etc/ipvsadm.rules'
expect_in "removed line" "$out" '--A -t 203.0.113.10:9 -s rr'
