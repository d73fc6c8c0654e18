#!/bin/sh
# every example and every config field round-trips: after apply the plan is empty and ipvsadm shows what was asked
. /etc/portfwd-test.sh
modprobe sctp 2>/dev/null || true
ipvs_modules
# The examples' interfaces: eth0 (public) and eth1 (the bridge's port).
$IP link add eth0 type dummy
$IP link add eth1 type dummy
$IP link set eth0 up
for example in /examples/*.json; do
    case "$example" in *.snapshot.json) continue ;; esac
    expect_rc "apply $example" 0 portfwd apply -c "$example" --auto-approve
    expect_rc "plan after applying $example" 0 portfwd plan -c "$example" --detailed-exitcode
    expect_in "no changes for $example" "$out" "No changes."
done
# What the examples made of the host: bridges with their ports and addresses, forwarding on.
$IP -o addr show dev br1 | grep -q 'inet 10.0.0.1/24' || fail "br1: $($IP addr show dev br1)"
$IP -o link show dev eth1 | grep -q 'master br1' || fail "eth1: $($IP link show dev eth1)"
$IP -o addr show dev br6 | grep -q 'inet6 fd00::1/64' || fail "br6: $($IP addr show dev br6)"
$IP -o addr show dev eth0 | grep -q 'inet 203.0.113.10/32' || fail "eth0: $($IP addr show dev eth0)"
expect_eq "IPv4 forwarding" 1 "$(cat /proc/sys/net/ipv4/ip_forward)"
expect_eq "IPv6 forwarding" 1 "$(cat /proc/sys/net/ipv6/conf/all/forwarding)"

cat > /tmp/all.json <<'JSON'
{"public":[{"address":"203.0.113.10","interface":"eth0"},{"address":"2001:db8::10","interface":"eth0"}],
 "forwards":[
  {"name":"sh","listen":"203.0.113.10:443","scheduler":"sh","scheduler_flags":["sh-fallback","sh-port"],
   "persistence":300,"persistence_netmask":"255.255.255.0","backends":[{"address":"10.0.0.2","weight":3,"upper_threshold":100,"lower_threshold":50}]},
  {"name":"mh","protocol":"udp","listen":"203.0.113.10:53","scheduler":"mh","scheduler_flags":["mh-port"],"backends":["10.0.0.3","10.0.0.4:5353"]},
  {"name":"dr","listen":"203.0.113.10:80","method":"route","backends":["10.0.0.5","10.0.0.6"]},
  {"name":"tun","listen":"203.0.113.10:81","method":"tunnel","scheduler":"lc","backends":["10.0.0.7"]},
  {"name":"sctp","protocol":"sctp","listen":"203.0.113.10:3868","backends":["10.0.0.8"]},
  {"name":"v6","listen":"[2001:db8::10]:443","persistence":60,"persistence_netmask":48,"scheduler":"wrr","backends":["[fd00::5]:8443",{"address":"fd00::6","weight":0}]},
  {"name":"range","listen":"203.0.113.10:6000-6002","backends":["10.0.0.9:7000-7002"],"scheduler":"sed"}
 ]}
JSON
expect_rc "apply every field" 0 portfwd apply -c /tmp/all.json --auto-approve
expect_eq "ipvsadm -S -n" "-A -t 203.0.113.10:80 -s wlc
-a -t 203.0.113.10:80 -r 10.0.0.5:80 -g -w 1
-a -t 203.0.113.10:80 -r 10.0.0.6:80 -g -w 1
-A -t 203.0.113.10:81 -s lc
-a -t 203.0.113.10:81 -r 10.0.0.7:81 -i -w 1 --tun-type ipip
-A -t 203.0.113.10:443 -s sh -p 300 -M 255.255.255.0 -b sh-fallback,sh-port
-a -t 203.0.113.10:443 -r 10.0.0.2:443 -m -w 3
-A -t 203.0.113.10:6000 -s sed
-a -t 203.0.113.10:6000 -r 10.0.0.9:7000 -m -w 1
-A -t 203.0.113.10:6001 -s sed
-a -t 203.0.113.10:6001 -r 10.0.0.9:7001 -m -w 1
-A -t 203.0.113.10:6002 -s sed
-a -t 203.0.113.10:6002 -r 10.0.0.9:7002 -m -w 1
-A -u 203.0.113.10:53 -s mh -b mh-port
-a -u 203.0.113.10:53 -r 10.0.0.3:53 -m -w 1
-a -u 203.0.113.10:53 -r 10.0.0.4:5353 -m -w 1
-A --sctp-service 203.0.113.10:3868 -s wlc
-a --sctp-service 203.0.113.10:3868 -r 10.0.0.8:3868 -m -w 1
-A -t [2001:db8::10]:443 -s wrr -p 60 -M 48
-a -t [2001:db8::10]:443 -r [fd00::5]:8443 -m -w 1
-a -t [2001:db8::10]:443 -r [fd00::6]:443 -m -w 0" "$(ipvsadm -S -n)"
# ipvsadm -S leaves thresholds out; its threshold listing has them.
ipvsadm -L -n --thresholds | grep -q -- '-> 10.0.0.2:443 *100 *50' || fail "thresholds: $(ipvsadm -L -n --thresholds)"
expect_eq "portfwd show --format ipvsadm agrees with ipvsadm" "$(ipvsadm -S -n)" "$(portfwd show --format ipvsadm)"
expect_rc "plan after apply" 0 portfwd plan -c /tmp/all.json --detailed-exitcode

# And every field changes in place: flip them all, then back.
sed -e 's/"sh-fallback","sh-port"/"sh-port"/' -e 's/"persistence":300/"persistence":900/' \
    -e 's/"method":"route"/"method":"masq"/' -e 's/"weight":0/"weight":4/' \
    -e 's/"upper_threshold":100/"upper_threshold":200/' -e 's/"scheduler":"sed"/"scheduler":"rr"/' /tmp/all.json > /tmp/flipped.json
expect_rc "apply the flipped config" 0 portfwd apply -c /tmp/flipped.json --auto-approve
expect_in "changes only" "$out" "Plan: 0 to add, 8 to change, 0 to remove."
expect_rc "plan after the flip" 0 portfwd plan -c /tmp/flipped.json --detailed-exitcode
expect_rc "flip back" 0 portfwd apply -c /tmp/all.json --auto-approve
expect_in "changes only" "$out" "Plan: 0 to add, 8 to change, 0 to remove."
expect_rc "plan after flipping back" 0 portfwd plan -c /tmp/all.json --detailed-exitcode
