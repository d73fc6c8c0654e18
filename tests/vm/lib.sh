# Helpers for VM scenarios: sourced as `. /etc/portfwd-test.sh`. Each scenario runs with
# `sh -eu` as root inside its own network namespace, which plays the host (its own IPVS table).
IP=/usr/sbin/ip

fail() { echo "FAIL: $*"; exit 1; }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
    [ "$2" = "$3" ] || { printf 'FAIL: %s\n--- expected\n%s\n--- actual\n%s\n' "$1" "$2" "$3"; exit 1; }
}

# wait_for_listener NETNS PORT: waits until a TCP server listens on PORT in NETNS.
wait_for_listener() {
    for _ in $(seq 50); do
        $IP netns exec "$1" netstat -ltn 2>/dev/null | grep -q ":$2 " && return 0
        sleep 0.1
    done
    fail "nothing listens on port $2 in netns $1"
}

# The classic Xen dom0 -> domU layout, without any forward:
#   netns "internet" 203.0.113.99/24 --veth-- host 203.0.113.10/24 (veth-pub)
#   host br1 10.0.0.1/24 --vif1.0-- netns "domu" 10.0.0.2/24, default route via 10.0.0.1
#   a banner server on domU:22, net.ipv4.ip_forward=1.
classic_topology() {
    $IP netns add internet
    $IP link add veth-pub type veth peer name eth0 netns internet
    $IP addr add 203.0.113.10/24 dev veth-pub
    $IP link set veth-pub up
    $IP -n internet addr add 203.0.113.99/24 dev eth0
    $IP -n internet link set eth0 up
    $IP -n internet link set lo up

    $IP link add br1 type bridge
    $IP addr add 10.0.0.1/24 dev br1
    $IP link set br1 up
    $IP netns add domu
    $IP link add vif1.0 type veth peer name eth0 netns domu
    $IP link set vif1.0 master br1
    $IP link set vif1.0 up
    $IP -n domu addr add 10.0.0.2/24 dev eth0
    $IP -n domu link set eth0 up
    $IP -n domu link set lo up
    $IP -n domu route add default via 10.0.0.1

    echo 1 > /proc/sys/net/ipv4/ip_forward
    ipvs_modules
    $IP netns exec domu nc -ll -p 22 -e /bin/echo SSH-2.0-domU-banner &
    wait_for_listener domu 22
}

# connect NETNS ADDR PORT: prints what the server sends; exit status of nc.
connect() {
    $IP netns exec "$1" nc -w 3 "$2" "$3" < /dev/null
}

# pf_config FILE FORWARDS: writes a config with public 203.0.113.10 and the given forwards
# (a comma-separated list of JSON objects).
pf_config() {
    printf '{"public":[{"address":"203.0.113.10"}],"forwards":[%s]}\n' "$2" > "$1"
}

# ipvs_modules: loads ip_vs and every scheduler module this kernel has, as a host that has
# used IPVS before would have them (module state is shared by all scenarios of a boot, so
# plans would otherwise depend on the order scenarios run in).
ipvs_modules() {
    for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh \
             ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh; do
        modprobe "$m"
    done
}

# public_host: this namespace as a host whose public address 203.0.113.10/24 sits on a
# dummy interface, with forwarding on and the IPVS modules loaded: the host part of a plan
# is then empty and the scenario is about IPVS alone.
public_host() {
    ipvs_modules
    $IP link add dummy0 type dummy
    $IP addr add 203.0.113.10/24 dev dummy0
    $IP link set dummy0 up
    echo 1 > /proc/sys/net/ipv4/ip_forward
}

# echo_server NETNS PORT: a TCP server that echoes every line back, one per connection.
echo_server() {
    $IP netns exec "$1" nc -ll -p "$2" -e /bin/cat &
    wait_for_listener "$1" "$2"
}

# netlink_monitor: counts the netlink messages of this network namespace from now on;
# netlink_count prints the count so far. Reading sysfs makes no netlink traffic itself.
netlink_monitor() {
    modprobe nlmon
    $IP link add nlmon0 type nlmon
    $IP link set nlmon0 up
}
netlink_count() {
    cat /sys/class/net/nlmon0/statistics/rx_packets
}

# expect_rc WHAT EXPECTED COMMAND...: runs COMMAND, prints its output, checks its exit code.
expect_rc() {
    what="$1"; want="$2"; shift 2
    set +e
    out="$("$@" 2>&1)"
    rc=$?
    set -e
    printf '%s\n' "$out"
    [ "$rc" = "$want" ] || fail "$what: exit code $rc, expected $want"
}

# expect_in WHAT TEXT NEEDLE: fails unless NEEDLE occurs in TEXT.
expect_in() {
    case "$2" in
        *"$3"*) ;;
        *) printf 'FAIL: %s\n--- expected to find\n%s\n--- in\n%s\n' "$1" "$3" "$2"; exit 1 ;;
    esac
}

# wait_until SECONDS WHAT CMD...: runs CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
    limit=$(($1 * 10)); what="$2"; shift 2
    n=0
    until "$@" >/dev/null 2>&1; do
        n=$((n + 1))
        [ "$n" -lt "$limit" ] || fail "$what: not within the time"
        sleep 0.1
    done
}

# weight_is ADDR:PORT WEIGHT: the destination is in the table with that weight.
weight_is() {
    ipvsadm -S -n | grep -q -- "-r $1 -m -w $2\$"
}

# guest NAME ADDR: a network namespace on br1 with ADDR/24, routed via 10.0.0.1.
guest() {
    $IP netns add "$1"
    $IP link add "v-$1" type veth peer name eth0 netns "$1"
    $IP link set "v-$1" master br1
    $IP link set "v-$1" up
    $IP -n "$1" addr add "$2/24" dev eth0
    $IP -n "$1" link set eth0 up
    $IP -n "$1" link set lo up
    $IP -n "$1" route add default via 10.0.0.1
}

# banner_server NETNS PORT TEXT: a TCP server sending TEXT to every connection; prints its pid.
banner_server() {
    $IP netns exec "$1" nc -ll -p "$2" -e /bin/echo "$3" >/dev/null 2>&1 &
    echo $!
}

# two_web_guests: the classic topology with a second guest domu2 (10.0.0.3), no daemon state
# left from an earlier scenario, and banner servers on port 80 of both ("one", "two"), their
# pids in $s1 and $s2.
two_web_guests() {
    classic_topology
    rm -f /run/portfwd/health.json
    guest domu2 10.0.0.3
    s1="$(banner_server domu 80 one)"
    s2="$(banner_server domu2 80 two)"
    wait_for_listener domu 80
    wait_for_listener domu2 80
}

# echo_session PORT: a client in "internet" connected to 203.0.113.10:PORT (an echo server
# behind it) that stays open: write to fd 3, replies land in /tmp/from-server, its pid in
# $client. It has sent "one" and waited for the echo.
echo_session() {
    rm -f /tmp/to-server /tmp/from-server
    mkfifo /tmp/to-server
    $IP netns exec internet nc 203.0.113.10 "$1" < /tmp/to-server > /tmp/from-server &
    client=$!
    exec 3> /tmp/to-server
    echo one >&3
    for _ in $(seq 50); do grep -q one /tmp/from-server && break; sleep 0.1; done
}
