#!/bin/sh
# HA pair: two directors with portfwd and keepalived (gen keepalived); an echo session survives the failover through sync; portfwd status and metrics on lb2 follow its role
. /etc/portfwd-test.sh

# This namespace is the switch: bridge "pubsw" is the public segment, "guestsw" the guests'.
# lb1 and lb2 each have eth0 on pubsw and eth1 on guestsw; the client sits on pubsw and the
# guest g1 (10.0.0.10, gateway the floating 10.0.0.1) on guestsw.
ipvs_modules
for sw in pubsw guestsw; do
    $IP link add "$sw" type bridge
    $IP link set "$sw" up
done
plug() {  # plug NETNS IFNAME SWITCH
    $IP link add "$1-$2" type veth peer name "$2" netns "$1"
    $IP link set "$1-$2" master "$3"
    $IP link set "$1-$2" up
    $IP -n "$1" link set "$2" up
}
for h in lb1 lb2 client g1; do
    $IP netns add "$h"
    $IP -n "$h" link set lo up
done
plug lb1 eth0 pubsw; plug lb1 eth1 guestsw
plug lb2 eth0 pubsw; plug lb2 eth1 guestsw
plug client eth0 pubsw
$IP -n client addr add 203.0.113.100/24 dev eth0
plug g1 eth0 guestsw
$IP -n g1 addr add 10.0.0.10/24 dev eth0
$IP -n g1 route add default via 10.0.0.1
echo_server g1 22

config() {  # config OWN_ADDRESS PRIORITY [SYNC]: one director's config
    sync=',"sync": {"interface": "br1", "sync_id": 51}'
    [ "${3:-sync}" = sync ] || sync=""
    cat <<EOF
{"public": [{"address": "203.0.113.10", "interface": "eth0", "prefix_len": 24, "floating": true}],
 "bridges": [{"name": "br1", "address": "$1/24", "floating_address": "10.0.0.1/24", "ports": ["eth1"]}],
 "vrrp": {"interface": "br1", "router_id": 51, "priority": $2, "advert_interval": 1}$sync,
 "forwards": [{"name": "echo", "listen": "203.0.113.10:2222", "backends": ["10.0.0.10:22"]}]}
EOF
}
config 10.0.0.2 150 > /tmp/lb1.json
config 10.0.0.3 100 > /tmp/lb2.json
config 10.0.0.2 150 nosync > /tmp/lb1-nosync.json

echo "== without vrrp, floating addresses are refused"
grep -v '"vrrp"' /tmp/lb1.json > /tmp/novrrp.json
expect_rc "floating without vrrp" 1 portfwd validate -c /tmp/novrrp.json
expect_in "the rule is named" "$out" 'is floating, but the config has no "vrrp"'

echo "== each director applies its config: the services on both, the sync daemons, no floating address"
for h in lb1 lb2; do
    $IP netns exec "$h" sh -c "echo 1 > /proc/sys/net/ipv4/ip_forward"
    expect_rc "$h apply" 0 $IP netns exec "$h" portfwd apply --auto-approve -c "/tmp/$h.json"
    expect_in "$h starts a master" "$out" "sync daemon master"
    $IP -n "$h" addr show | grep -q 203.0.113.10 && fail "$h: portfwd added the floating address"
    $IP -n "$h" addr show | grep -q 10.0.0.1/ && fail "$h: portfwd added the floating bridge address"
    expect_rc "$h plan" 0 $IP netns exec "$h" portfwd plan --detailed-exitcode -c "/tmp/$h.json"
done

echo "== show lists the daemons as ipvsadm does"
daemons="$($IP netns exec lb1 ipvsadm -L --daemon)"
printf '%s\n' "$daemons"
expect_in "ipvsadm sees the master" "$daemons" "master sync daemon (mcast=br1, syncid=51"
expect_in "ipvsadm sees the backup" "$daemons" "backup sync daemon (mcast=br1, syncid=51"
show="$($IP netns exec lb1 portfwd show)"
expect_in "show lists what ipvsadm lists" "$show" "$daemons"
json="$($IP netns exec lb1 portfwd show --json)"
expect_in "the snapshot has the master" "$json" '"role": "master"'
expect_in "the snapshot has the interface" "$json" '"interface": "br1"'

echo "== keepalived from portfwd gen keepalived, lb1 first"
start_keepalived() {  # start_keepalived HOST
    portfwd gen keepalived -c "/tmp/$1.json" -o "/tmp/$1-gen" >/dev/null
    cat "/tmp/$1-gen/etc/keepalived/keepalived.conf"
    $IP netns exec "$1" keepalived -P -n -l -f "/tmp/$1-gen/etc/keepalived/keepalived.conf" \
        -p "/tmp/$1-ka.pid" -r "/tmp/$1-vrrp.pid" > "/tmp/$1-ka.log" 2>&1 &
}
holds() {  # holds HOST: HOST has both floating addresses
    $IP -n "$1" addr show dev eth0 | grep -q "203.0.113.10/24" &&
        $IP -n "$1" addr show dev br1 | grep -q "10.0.0.1/24"
}
start_keepalived lb1
wait_until 15 "lb1 becomes master" holds lb1
start_keepalived lb2
sleep 3
holds lb2 && fail "lb2 took the addresses from the higher priority"

echo "== portfwd run on lb2: status and metrics say standby"
PORTFWD_CONTROL_SOCKET=/tmp/lb2.sock PORTFWD_HEALTH_FILE=/tmp/lb2-health.json \
    $IP netns exec lb2 portfwd run -c /tmp/lb2.json --metrics 127.0.0.1:9102 > /tmp/lb2-run.log 2>&1 &
lb2_daemon=$!
lb2_status() { PORTFWD_CONTROL_SOCKET=/tmp/lb2.sock portfwd status --color never; }
lb2_metric() { $IP netns exec lb2 wget -qO- http://127.0.0.1:9102/metrics | promq "$@"; }
wait_until 10 "lb2's daemon answers" lb2_status
status="$(lb2_status)"
printf '%s\n' "$status"
expect_in "status: lb2 is standby" "$status" "pair: standby, holds none of 203.0.113.10 (eth0), 10.0.0.1 (br1)"
expect_in "status: lb2's sync daemons" "$status" "sync daemons: master on br1, syncid 51"
expect_eq "metric: lb2 does not hold the address" 0 "$(lb2_metric portfwd_floating_address_held address=203.0.113.10)"
expect_eq "metric: lb2's backup sync daemon runs" 1 "$(lb2_metric portfwd_sync_daemon_running role=backup)"
expect_eq "the client reaches the guest through lb1" "hello" \
    "$(echo hello | $IP netns exec client nc -w 3 203.0.113.10 2222)"

echo "== an established echo session"
mkfifo /tmp/to
$IP netns exec client nc 203.0.113.10 2222 < /tmp/to > /tmp/from &
exec 3> /tmp/to
for i in 1 2 3 4 5 6; do echo "line $i" >&3; sleep 0.2; done
has() { grep -q "$1" /tmp/from; }
wait_until 5 "the session echoes through lb1" has "line 6"
synced() { $IP netns exec lb2 ipvsadm -L -n -c | grep -q "203.0.113.10:2222"; }
wait_until 10 "lb2 has the session's connection from lb1's sync daemon" synced
$IP netns exec lb2 ipvsadm -L -n -c

echo "== lb1 fails: its links go down"
$IP -n lb1 link set eth0 down
$IP -n lb1 link set eth1 down
wait_until 10 "lb2 takes the addresses" holds lb2
echo "after failover" >&3
wait_until 10 "the same session echoes through lb2" has "after failover"
expect_eq "new connections go through lb2" "fresh" \
    "$(echo fresh | $IP netns exec client nc -w 3 203.0.113.10 2222)"

doctor="$($IP netns exec lb2 portfwd doctor -c /tmp/lb2.json || true)"
printf '%s\n' "$doctor"
expect_in "doctor: lb2 is active" "$doctor" "holds the floating addresses now (active): 203.0.113.10, 10.0.0.1"
status="$(lb2_status)"
expect_in "status: lb2 is active" "$status" "pair: active, holds 203.0.113.10 (eth0), 10.0.0.1 (br1)"
expect_eq "metric: lb2 holds the address" 1 "$(lb2_metric portfwd_floating_address_held address=10.0.0.1)"
kill -TERM "$lb2_daemon"
wait "$lb2_daemon" || fail "lb2's daemon: exit $?"
expect_in "doctor: lb2's daemons" "$doctor" "the sync daemon master on br1, syncid 51"
doctor="$($IP netns exec lb1 portfwd doctor -c /tmp/lb1.json || true)"
printf '%s\n' "$doctor"
expect_in "doctor: lb1's bridge lost its link" "$doctor" "br1, used by VRRP, is up but has no carrier"

echo "== lb1 comes back: it does not take the addresses (nopreempt)"
$IP -n lb1 link set eth0 up
$IP -n lb1 link set eth1 up
sleep 5
holds lb2 || fail "lb2 lost the addresses when lb1 came back"
holds lb1 && fail "lb1 took the addresses back"
doctor="$($IP netns exec lb1 portfwd doctor -c /tmp/lb1.json || true)"
expect_in "doctor: lb1 is standby" "$doctor" "holds none of the floating addresses now (standby)"
expect_in "doctor: lb1 hears lb2's priority" "$doctor" "the active host 10.0.0.3 advertises priority 100 (this host: 150)"
echo "still here" >&3
wait_until 10 "the session still echoes" has "still here"
for h in lb1 lb2; do
    expect_rc "$h still matches its config" 0 \
        $IP netns exec "$h" portfwd plan --detailed-exitcode -c "/tmp/$h.json"
    case "$out" in *10.0.0.1/*) fail "$h: the floating address is noted as extra" ;; esac
done
exec 3>&-

echo "== sync removed from the config: the daemons portfwd started are stopped"
expect_rc "plan without sync" 2 $IP netns exec lb1 portfwd plan --detailed-exitcode -c /tmp/lb1-nosync.json
expect_in "the master goes" "$out" "- sync daemon master"
expect_in "the backup goes" "$out" "- sync daemon backup"
expect_rc "apply without sync" 0 $IP netns exec lb1 portfwd apply --auto-approve -c /tmp/lb1-nosync.json
expect_eq "no daemon runs on lb1" "" "$($IP netns exec lb1 ipvsadm -L --daemon)"

echo "== daemons someone else started are left alone without sync"
$IP netns exec lb1 ipvsadm --start-daemon master --mcast-interface br1 --syncid 9
expect_rc "plan leaves them" 0 $IP netns exec lb1 portfwd plan --detailed-exitcode -c /tmp/lb1-nosync.json
expect_rc "apply leaves them" 0 $IP netns exec lb1 portfwd apply --auto-approve -c /tmp/lb1-nosync.json
expect_in "the master still runs" "$($IP netns exec lb1 ipvsadm -L --daemon)" "syncid=9"

echo "== portfwd run keeps the daemons: a stopped one comes back at the next resync"
$IP netns exec lb1 portfwd run -c /tmp/lb1.json --resync 1 > /tmp/lb1-run.log 2>&1 &
runner=$!
both() {
    d="$($IP netns exec lb1 ipvsadm -L --daemon)"
    case "$d" in *"master sync daemon (mcast=br1, syncid=51"*"backup sync daemon (mcast=br1, syncid=51"*) return 0 ;; esac
    return 1
}
wait_until 20 "the daemon replaces the hand-started master and starts the backup" both
$IP netns exec lb1 ipvsadm --stop-daemon backup
wait_until 10 "the stopped backup is started again" both
kill -TERM "$runner"
wait "$runner" || true
cat /tmp/lb1-run.log
expect_in "the daemon logs the drift it repaired" "$(cat /tmp/lb1-run.log)" "sync daemon backup"

# Leave no daemon behind for later scenarios (the namespaces go, asynchronously).
for h in lb1 lb2; do
    $IP netns exec "$h" ipvsadm --stop-daemon master 2>/dev/null || true
    $IP netns exec "$h" ipvsadm --stop-daemon backup 2>/dev/null || true
    $IP netns exec "$h" ipvsadm -C
done
