# Health checks in the VM (sourced after BACKENDS, SECONDS_MEASURED): 125 services x 4
# backends, TCP checks every 2 s, fall 2, against keepalived's checker with the same virtual
# servers (TCP_CHECK, delay_loop 2, connect_timeout 1, retry 1, inhibit_on_failure), in the
# same boot. Prints BENCH-CHECKS lines: CPU ms (utime+stime of every process of the tool over
# the measured seconds), peak RSS, the time from a backend refusing connections to its
# weight 0, and coalescing: 200 backends refusing at once (two of the four of each of the
# first 100 services: a service whose every backend is down fails open in portfwd), the time
# until all 200 are at weight 0 and the kernel rounds that took (portfwd's reconcile rounds;
# for keepalived the destinations it edited, one netlink request each, from its log). CPU ticks are USER_HZ (100 on x86). With SCALE (a list of backend counts, each
# checked every 2 s), each tool runs again at each size and the pool counts the checks that
# arrive (SYNs, the one packet every kind of TCP check sends): a size is kept on schedule when
# at least 95 % of the asked checks a second arrive.
. /etc/portfwd-test.sh
public_host
$IP link add br1 type bridge
$IP addr add 10.0.0.1/24 dev br1
$IP link set br1 up
$IP netns add pool
$IP link add v-pool type veth peer name eth0 netns pool
$IP link set v-pool master br1
$IP link set v-pool up
for i in 2 3 4 5; do $IP -n pool addr add "10.0.0.$i/24" dev eth0; done
$IP -n pool link set eth0 up
$IP -n pool link set lo up
$IP -n pool route add default via 10.0.0.1
most=$((BACKENDS / 4))
for n in ${SCALE:-}; do [ $((n / 4)) -gt "$most" ] && most=$((n / 4)); done
ulimit -n 8192  # a descriptor per port; the shell's soft limit is 1,024
$IP netns exec pool listen-many 10001 "$most" &
$IP netns exec pool nft add table inet count
$IP netns exec pool nft add chain inet count input '{ type filter hook input priority -10; }'
$IP netns exec pool nft add rule inet count input 'tcp flags & (syn | ack) == syn counter'
syns() { $IP netns exec pool nft list chain inet count input | awk '/counter/ {print $(NF - 2)}'; }
wait_for_listener pool "$((10000 + most))"

configs() {  # configs SERVICES: portfwd's /tmp/checks.json and keepalived's keepalived.conf
    {
        printf '{"public":[{"address":"203.0.113.10"}],"forwards":['
        for s in $(seq "$1"); do
            [ "$s" = 1 ] || printf ','
            printf '{"name":"s%d","listen":"203.0.113.10:%d","backends":["10.0.0.2:%d","10.0.0.3:%d","10.0.0.4:%d","10.0.0.5:%d"],' \
                "$s" $((20000 + s)) $((10000 + s)) $((10000 + s)) $((10000 + s)) $((10000 + s))
            printf '"health":{"check":"tcp","interval":2,"timeout":1,"fall":2,"rise":2}}'
        done
        printf ']}\n'
    } > /tmp/checks.json
    mkdir -p /etc/keepalived
    {
        printf 'global_defs {\n  router_id bench\n}\n'
        for s in $(seq "$1"); do
            printf 'virtual_server 203.0.113.10 %d {\n  delay_loop 2\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n' $((20000 + s))
            for a in 2 3 4 5; do
                printf '  real_server 10.0.0.%d %d {\n    weight 1\n    inhibit_on_failure\n    TCP_CHECK {\n      connect_timeout 1\n      retry 1\n    }\n  }\n' "$a" $((10000 + s))
            done
            printf '}\n'
        done
    } > /etc/keepalived/keepalived.conf
}
services=$((BACKENDS / 4))
configs "$services"

ticks() {  # "user system": the summed utime and stime of every process named $1
    user=0; system=0
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] || continue
        set -- "$1" $(cut -d' ' -f14,15 "$d/stat" 2>/dev/null)
        user=$((user + ${2:-0})); system=$((system + ${3:-0}))
    done
    echo "$user $system"
}
hwm_kb() {
    max=0
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] || continue
        kb="$(awk '/^VmHWM/ {print $2}' "$d/status" 2>/dev/null)"
        [ "${kb:-0}" -gt "$max" ] && max="$kb"
    done
    echo "$max"
}
uptime_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# detect TOOL: 10.0.0.2 refuses connections to port 10001 (one of the service's four
# backends: with all four down portfwd fails open and keeps their weights), time until it is
# at weight 0, then lift the refusal and wait for it to come back.
detect() {
    $IP netns exec pool nft add table inet refuse
    $IP netns exec pool nft add chain inet refuse input '{ type filter hook input priority 0; }'
    start="$(uptime_ms)"
    $IP netns exec pool nft add rule inet refuse input ip daddr 10.0.0.2 tcp dport 10001 reject with tcp reset
    n=0
    until weight_is 10.0.0.2:10001 0; do
        n=$((n + 1)); [ "$n" -lt 400 ] || fail "$1 never set the refusing backend to 0"
        sleep 0.05
    done
    echo "BENCH-CHECKS $1 detect_ms $(( $(uptime_ms) - start ))"
    $IP netns exec pool nft delete table inet refuse
    wait_until 20 "$1: back up" weight_is 10.0.0.2:10001 1
}
# coalesce TOOL: 10.0.0.2 and 10.0.0.3 refuse on ports 10001-10100 (200 backends) at once;
# the time until all are at weight 0, and the rounds that took.
COALESCED=100
held_down() {
    ipvsadm -S -n | awk -v last=$((10000 + COALESCED)) '
        $1 == "-a" { split($5, a, ":"); if ((a[1] == "10.0.0.2" || a[1] == "10.0.0.3") && a[2] + 0 <= last && $NF == 0) n++ }
        END { print n + 0 }'
}
rounds() {
    case "$1" in
        portfwd) wget -qO- http://127.0.0.1:9435/metrics | awk '$1 == "portfwd_sync_duration_seconds_count" { print $2 + 0 }' ;;
        keepalived) grep -c 'Disabling service\|Removing service' /tmp/ka.log || true ;;
    esac
}
coalesce() {
    before="$(rounds "$1")"
    $IP netns exec pool nft add table inet refuse
    $IP netns exec pool nft add chain inet refuse input '{ type filter hook input priority 0; }'
    start="$(uptime_ms)"
    $IP netns exec pool nft add rule inet refuse input ip daddr '{ 10.0.0.2, 10.0.0.3 }' tcp dport 10001-$((10000 + COALESCED)) reject with tcp reset
    # Polled every 0.2 s: a listing of the table takes CPU from the tool measured.
    n=0
    until [ "$(held_down)" = $((COALESCED * 2)) ]; do
        n=$((n + 1)); [ "$n" -lt 150 ] || fail "$1 never held all $((COALESCED * 2)) refusing backends down"
        sleep 0.2
    done
    took=$(( $(uptime_ms) - start ))
    echo "BENCH-CHECKS $1 coalesce_ms $took rounds $(( $(rounds "$1") - before )) backends $((COALESCED * 2))"
    $IP netns exec pool nft delete table inet refuse
    wait_until 30 "$1: all back up" weight_is "10.0.0.3:$((10000 + COALESCED))" 1
}
measure() {  # measure TOOL
    sleep 6
    set -- "$1" $(ticks "$1")
    sleep "$SECONDS_MEASURED"
    set -- "$1" "$2" "$3" $(ticks "$1")
    user=$(( ($4 - $2) * 10 )); system=$(( ($5 - $3) * 10 ))
    echo "BENCH-CHECKS $1 cpu_ms $((user + system)) (user $user, system $system) over ${SECONDS_MEASURED}s, checks/s $((BACKENDS / 2))"
    detect "$1"
    [ "$services" -ge "$COALESCED" ] && coalesce "$1"
    echo "BENCH-CHECKS $1 rss_kb $(hwm_kb "$1")"
}

start() {  # start TOOL, and wait until it has programmed the last backend
    case "$1" in
        portfwd) portfwd run -c /tmp/checks.json --resync 30 --metrics 127.0.0.1:9435 > /tmp/run.log 2>&1 & ;;
        keepalived) keepalived -n -l -C -f /etc/keepalived/keepalived.conf -p /tmp/ka.pid \
            -c /tmp/kac.pid -r /tmp/kav.pid > /tmp/ka.log 2>&1 & ;;
    esac
    pid=$!
    wait_until 60 "$1 applied" weight_is "10.0.0.5:$((10000 + services))" 1
}
stop() {
    kill -TERM "$pid"
    wait "$pid" || true
    ipvsadm -C
}
# scale TOOL BACKENDS: the checks a second that arrive at the backends over 10 s.
scale() {
    services=$(($2 / 4))
    configs "$services"
    start "$1"
    sleep 6
    before="$(syns)"; t0="$(uptime_ms)"
    sleep 10
    after="$(syns)"; t1="$(uptime_ms)"
    stop
    asked=$(($2 / 2)); got=$(( (after - before) * 1000 / (t1 - t0) ))
    kept=no; [ $((got * 100)) -ge $((asked * 95)) ] && kept=yes
    echo "BENCH-CHECKS $1 scale asked $asked got $got on_schedule $kept"
}

for tool in portfwd keepalived; do
    start "$tool"
    measure "$tool"
    stop
done
for size in ${SCALE:-}; do  # not $n: the helpers count with it
    for tool in portfwd keepalived; do scale "$tool" "$size"; done
done
