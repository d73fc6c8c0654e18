# (bench/run prepends SIZES=..., ROUNDS=... and a description line)
. /etc/portfwd-test.sh
public_host

# measure SIZE OP TOOL CMD...: runs CMD under raw-ipvs's timer, prints a BENCH line. The
# three writers all run under `sh -c` (ipvsadm needs it for its input); the readers and the
# one change run directly, as plan does (a shell costs ~20 ms here).
measure() {
    size="$1" op="$2" tool="$3"; shift 3
    if ! raw-ipvs time "$@" > /tmp/bench.out 2> /tmp/bench.err; then
        cat /tmp/bench.out /tmp/bench.err | tail -5
        fail "$tool $op at $size failed"
    fi
    stats="$(tail -n 1 /tmp/bench.err)"
    ms="${stats#ms=}"; ms="${ms%% *}"
    rss="${stats##*rss_kb=}"
    echo "BENCH $size $op $tool $ms $rss"
}

# The same table three ways: a config with SIZE forwards of 4 backends, and ipvsadm rules.
generate() {
    awk -v n="$1" -v cfg="/tmp/b$1.json" -v rules="/tmp/b$1.rules" 'BEGIN {
        printf "{\"public\":[{\"address\":\"203.0.113.10\"}],\"forwards\":[" > cfg
        for (i = 0; i < n; i++) {
            port = 10000 + i
            printf "%s{\"name\":\"f%d\",\"listen\":\"203.0.113.10:%d\",\"backends\":[\"10.2.0.1\",\"10.2.0.2\",\"10.2.0.3\",\"10.2.0.4\"]}", (i ? "," : ""), i, port > cfg
            printf "-A -t 203.0.113.10:%d -s wlc\n", port > rules
            for (b = 1; b <= 4; b++) printf "-a -t 203.0.113.10:%d -r 10.2.0.%d:%d -m -w 1\n", port, b, port > rules
        }
        printf "]}\n" > cfg
    }'
}

apply_portfwd() { portfwd apply -c "$1" --auto-approve > /dev/null; }
apply_ipvsadm() { ipvsadm -R < "$1"; }

for size in $SIZES; do
    generate "$size"
    tools="portfwd ipvsadm raw"
    for round in $(seq "$ROUNDS"); do
        for tool in $tools; do
            ipvsadm -C
            case "$tool" in
                portfwd) measure "$size" apply portfwd sh -c "portfwd apply -c /tmp/b$size.json --auto-approve > /dev/null" ;;
                ipvsadm) measure "$size" apply ipvsadm sh -c "ipvsadm -R < /tmp/b$size.rules" ;;
                raw) measure "$size" apply raw sh -c "raw-ipvs write /tmp/b$size.rules > /dev/null" ;;
            esac
            expect_eq "services after $tool" "$size" "$(ipvsadm -S -n | grep -c '^-A')"
        done
        # Rotate, so that each tool follows each other one (the kernel's trash list).
        tools="${tools#* } ${tools%% *}"
    done

    # Read with nothing to change: the table as portfwd made it.
    ipvsadm -C
    portfwd apply -c "/tmp/b$size.json" --auto-approve > /dev/null
    for round in $(seq "$ROUNDS"); do
        measure "$size" read portfwd-plan portfwd plan -c "/tmp/b$size.json" --detailed-exitcode
        measure "$size" read ipvsadm ipvsadm -L -n
        measure "$size" read raw raw-ipvs read
        measure "$size" read raw-page env RAW_IPVS_RECV=3776 raw-ipvs read
        measure "$size" read proc cat /proc/net/ip_vs
    done

    # One backend's weight changes: one write, then back.
    sed 's/"name":"f0","listen":"203.0.113.10:10000","backends":\["10.2.0.1"/"name":"f0","listen":"203.0.113.10:10000","backends":[{"address":"10.2.0.1","weight":2}/' \
        "/tmp/b$size.json" > "/tmp/b$size-changed.json"
    for round in $(seq "$ROUNDS"); do
        measure "$size" one-change portfwd portfwd apply -c "/tmp/b$size-changed.json" --auto-approve
        grep -q 'Apply complete: 0 added, 1 changed, 0 removed (1 kernel operations' /tmp/bench.out || fail "not one write: $(tail -3 /tmp/bench.out)"
        portfwd apply -c "/tmp/b$size.json" --auto-approve > /dev/null
    done
    rm -f "/tmp/b$size.json" "/tmp/b$size.rules" "/tmp/b$size-changed.json"
done
