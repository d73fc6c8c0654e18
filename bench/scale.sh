# (bench/run prepends SIZES=..., ROUNDS=..., a description line and bench/table.sh's generate)
. /etc/portfwd-test.sh
public_host
# IPVS's rate estimator walks every service and destination in a kernel thread every 2 s;
# on one emulated CPU it would steal time from whatever is being measured.
quiet_ipvs() { echo 0 > /proc/sys/net/ipv4/vs/run_estimation; }
quiet_ipvs
# QEMU's TCG finds the code it has translated by virtual address: with address space layout
# randomization every run of a program is translated afresh, a cost per exec that a real CPU
# does not have (here `portfwd --version` took 78 ms with it, 24 ms without; the raw tool 54
# and 18 ms). Off by default, for every tool alike; bench/run's BENCH_ASLR=2 turns it on.
echo "${ASLR:-0}" > /proc/sys/kernel/randomize_va_space

# Each apply from empty runs in a network namespace of its own: an empty IPVS table with an
# empty trash. (After `ipvsadm -C` the kernel keeps the removed destinations in a trash
# list for two minutes and searches it on every destination it adds: the next run's cost
# then depends on the run before.) The namespace is emptied before it is deleted, and the
# kernel given a moment, so that its cleanup does not overlap the next measurement.
fresh_ns() {
    if $IP netns list | grep -q '^bench'; then
        $IP netns exec bench ipvsadm -C
        $IP netns del bench
        sleep 2
    fi
    $IP netns add bench
    $IP -n bench link set lo up
    $IP -n bench link add dummy0 type dummy
    $IP -n bench addr add 203.0.113.10/24 dev dummy0
    $IP -n bench link set dummy0 up
    $IP netns exec bench sh -c 'echo 0 > /proc/sys/net/ipv4/vs/run_estimation; echo 1 > /proc/sys/net/ipv4/ip_forward'
}

# settle: waits (at most 10 s) until the CPU has been at least 90 % idle for 0.5 s (the
# `sleep` that measures it costs a few percent here), so that the kernel's deferred work (a
# deleted namespace's cleanup, RCU callbacks, freeing a large table) does not run during the
# next measurement. Never fails: a busy guest only delays the measurement. Rounds still
# differ by up to 2x (the raw writer at 1,000 services: 327 to 733 ms) from the shared host
# outside the VM; hence medians, with the minimums shown too.
settle() {
    for _ in $(seq 20); do
        a="$(head -n 1 /proc/stat)"
        sleep 0.5
        b="$(head -n 1 /proc/stat)"
        if echo "$a
$b" | awk '{ idle[NR] = $5 + $6; total[NR] = 0; for (i = 2; i <= NF; i++) total[NR] += $i }
            END { exit !(total[2] > total[1] && (idle[2] - idle[1]) * 100 >= 90 * (total[2] - total[1])) }'; then
            return 0
        fi
    done
    return 0
}

# measure SIZE OP TOOL CMD...: runs CMD under raw-ipvs's timer, prints a BENCH line. The
# three writers all run under `sh -c` (ipvsadm needs it for its input); the readers and the
# one change run directly, as plan does (a shell costs ~20 ms here).
# With IN_NS=1 the timer itself runs in the namespace `bench` (entering it is not timed).
measure() {
    size="$1" op="$2" tool="$3"; shift 3
    settle
    if [ "${IN_NS:-0}" = 1 ]; then set -- $IP netns exec bench raw-ipvs time "$@"; else set -- raw-ipvs time "$@"; fi
    if ! "$@" > /tmp/bench.out 2> /tmp/bench.err; then
        cat /tmp/bench.out /tmp/bench.err | tail -5
        fail "$tool $op at $size failed"
    fi
    stats="$(tail -n 1 /tmp/bench.err)"
    # Microseconds, shown as milliseconds with three decimals (whole milliseconds hide
    # the differences at 100 services, above all under BENCH_ICOUNT).
    us="${stats#*us=}"; us="${us%% *}"
    ms="$(awk -v us="$us" 'BEGIN { printf "%.3f", us / 1000 }')"
    rss="${stats##*rss_kb=}"
    echo "BENCH $size $op $tool $ms $rss"
}

# One unmeasured run of every command first: without randomization TCG reuses what it has
# translated, but the first run of a program in a boot still pays for translating it (the
# quick CI run measured portfwd's first apply at 352 ms, later ones near 120 ms).
warm_up() {
    generate 10
    fresh_ns
    $IP netns exec bench sh -c "portfwd apply -c /tmp/b10.json --auto-approve > /dev/null"
    portfwd apply -c /tmp/b10.json --auto-approve > /dev/null
    portfwd plan -c /tmp/b10.json --detailed-exitcode > /dev/null || true
    sed 's/"backends":\["10.2.0.1"/"backends":[{"address":"10.2.0.1","weight":2}/' /tmp/b10.json > /tmp/b10-changed.json
    portfwd apply -c /tmp/b10-changed.json --auto-approve > /dev/null
    ipvsadm -C
    ipvsadm -R < /tmp/b10.rules
    ipvsadm -L -n > /dev/null
    raw-ipvs read > /dev/null
    raw-ipvs read 3776 > /dev/null
    ipvsadm -C
    $IP netns exec bench ipvsadm -C
    $IP netns exec bench sh -c "raw-ipvs write /tmp/b10.rules > /dev/null"
    portfwd --version > /dev/null
    raw-ipvs start
    rm -f /tmp/b10.json /tmp/b10.rules /tmp/b10-changed.json
}
warm_up

for size in $SIZES; do
    generate "$size"
    tools="portfwd ipvsadm raw"
    for round in $(seq "$ROUNDS"); do
        for tool in $tools; do
            fresh_ns
            case "$tool" in
                portfwd) IN_NS=1 measure "$size" apply portfwd sh -c "portfwd apply -c /tmp/b$size.json --auto-approve > /dev/null" ;;
                ipvsadm) IN_NS=1 measure "$size" apply ipvsadm sh -c "ipvsadm -R < /tmp/b$size.rules" ;;
                raw) IN_NS=1 measure "$size" apply raw sh -c "raw-ipvs write /tmp/b$size.rules > /dev/null" ;;
            esac
            expect_eq "services after $tool" "$size" "$($IP netns exec bench ipvsadm -S -n | grep -c '^-A')"
        done
        # Rotate, so that each tool follows each other one.
        tools="${tools#* } ${tools%% *}"
    done

    # Read with nothing to change (the table as portfwd made it), and one backend's weight
    # changed (one write, then back), measured in turn so that both see the same machine.
    ipvsadm -C
    portfwd apply -c "/tmp/b$size.json" --auto-approve > /dev/null
    sed 's/"name":"f0","listen":"203.0.113.10:10000","backends":\["10.2.0.1"/"name":"f0","listen":"203.0.113.10:10000","backends":[{"address":"10.2.0.1","weight":2}/' \
        "/tmp/b$size.json" > "/tmp/b$size-changed.json"
    for round in $(seq "$ROUNDS"); do
        measure "$size" read portfwd-plan portfwd plan -c "/tmp/b$size.json" --detailed-exitcode
        measure "$size" one-change portfwd portfwd apply -c "/tmp/b$size-changed.json" --auto-approve
        grep -q 'Apply complete: 0 added, 1 changed, 0 removed (1 kernel operations' /tmp/bench.out || fail "not one write: $(tail -3 /tmp/bench.out)"
        portfwd apply -c "/tmp/b$size.json" --auto-approve > /dev/null
        measure "$size" read ipvsadm ipvsadm -L -n
        measure "$size" read raw raw-ipvs read
        measure "$size" read raw-page raw-ipvs read 3776
        measure "$size" read proc cat /proc/net/ip_vs
        measure "$size" start portfwd portfwd --version
        measure "$size" start raw raw-ipvs start
    done
    rm -f "/tmp/b$size.json" "/tmp/b$size.rules" "/tmp/b$size-changed.json"
done
$IP netns exec bench ipvsadm -C 2>/dev/null || true
$IP netns del bench 2>/dev/null || true
