# Health change to kernel in the VM (sourced after SIZES, ROUNDS): at each size a table of
# SIZE services x 4 backends where one forward is checked (TCP every 0.2 s, fall 1, rise 1);
# its backend 10.0.0.2:8080 is killed and restarted ROUNDS times, and portfwd run's
# portfwd_health_change_duration_seconds (from the check's decision to the kernel holding
# it) gives the mean. Beside it: `portfwd plan` of the same table (a full read and plan, what
# every health change cost before the worker planned only its services) and the raw floor,
# one SET_DEST and its ACK (raw-ipvs edit). Prints BENCH-HEALTH lines; asserts nothing
# about time.
. /etc/portfwd-test.sh
public_host
# IPVS's rate estimator walks every service and destination in a kernel thread: off, as in
# bench/scale.sh, or the larger table's windows would carry its work.
echo 0 > /proc/sys/net/ipv4/vs/run_estimation
$IP link add br1 type bridge
$IP addr add 10.0.0.1/24 dev br1
$IP link set br1 up
$IP netns add pool
$IP link add v-pool type veth peer name eth0 netns pool
$IP link set v-pool master br1
$IP link set v-pool up
$IP -n pool addr add 10.0.0.2/24 dev eth0
$IP -n pool link set eth0 up
$IP -n pool route add default via 10.0.0.1
listener() { $IP netns exec pool nc -ll -p "$1" -e /bin/true > /dev/null 2>&1 & echo $!; }
other="$(listener 8081)"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ms_of_us() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
sample() { echo "$scrape" | awk -v m="$1" '$1 == m { print $2 }'; }

# config SIZE: the checked forward, then SIZE - 1 unchecked ones of 4 backends.
config() {
    awk -v n="$1" 'BEGIN {
        printf "{\"public\":[{\"address\":\"203.0.113.10\"}],\"bridges\":[{\"name\":\"br1\",\"address\":\"10.0.0.1/24\"}],\"forwards\":["
        printf "{\"name\":\"checked\",\"listen\":\"203.0.113.10:9000\",\"backends\":[\"10.0.0.2:8080\",\"10.0.0.2:8081\"],"
        printf "\"health\":{\"check\":\"tcp\",\"interval\":0.2,\"timeout\":0.1,\"rise\":1,\"fall\":1}}"
        for (i = 1; i < n; i++)
            printf ",{\"name\":\"f%d\",\"listen\":\"203.0.113.10:%d\",\"backends\":[\"10.2.0.1\",\"10.2.0.2\",\"10.2.0.3\",\"10.2.0.4\"]}", i, 10000 + i
        printf "]}\n"
    }'
}

# The checked backend's weight, from a listing of its one service: polling the whole table
# (ipvsadm -S) would compete with the daemon for the one CPU, more the larger the table.
checked_weight() {
    ipvsadm -L -n -t 203.0.113.10:9000 | awk '$2 == "10.0.0.2:8080" { print $4 }'
}
weight_now() { [ "$(checked_weight)" = "$1" ]; }

for size in $SIZES; do
    ipvsadm -C
    rm -f /run/portfwd/health.json
    config "$size" > /tmp/h.json
    first="$(listener 8080)"
    portfwd run -c /tmp/h.json --resync 3600 --metrics 127.0.0.1:9434 > /tmp/h.log 2>&1 &
    daemon=$!
    wait_until 120 "the table is up" weight_now 1
    sleep 1
    for r in $(seq "$ROUNDS"); do
        kill "$first"
        sleep 0.5
        wait_until 10 "held down" weight_now 0
        first="$(listener 8080)"
        sleep 0.5
        wait_until 10 "back up" weight_now 1
    done
    scrape="$(wget -qO- http://127.0.0.1:9434/metrics)"
    sum="$(sample portfwd_health_change_duration_seconds_sum)"
    count="$(sample portfwd_health_change_duration_seconds_count)"
    echo "BENCH-HEALTH $size change_ms $(awk -v s="$sum" -v c="$count" 'BEGIN { printf "%.3f", s / c * 1000 }') count $count"
    kill "$daemon"
    wait "$daemon" || true
    kill "$first" 2>/dev/null || true
    plan_us="$(for r in $(seq 3); do raw-ipvs time portfwd plan -c /tmp/h.json 2>&1 >/dev/null | sed -n 's/^us=\([0-9]*\).*/\1/p'; done | median)"
    echo "BENCH-HEALTH $size plan_ms $(ms_of_us "$plan_us")"
    edit_us="$(ROUNDS=21 raw-ipvs edit 203.0.113.10:9000 10.0.0.2:8080 1 | sed 's/us=//' | median)"
    echo "BENCH-HEALTH $size raw_edit_ms $(ms_of_us "$edit_us")"
done
kill "$other" 2>/dev/null || true
ipvsadm -C
