#!/bin/sh
# keepalived's own sample configs: each imports, validates, applies, plans empty, and portfwd programs the services keepalived programs from it
# timeout: 300 (every sample is imported, applied and planned, and keepalived runs each: about 100 s alone)
. /etc/portfwd-test.sh
ipvs_modules

# The virtual services (-A lines) of the table in this namespace, fwmark ones aside.
services() { $IP netns exec "$1" ipvsadm -S -n | grep -- '^-A' | grep -v -- '-f ' || true; }

for f in /keepalived-samples/keepalived.conf.*; do
    name="$(basename "$f")"
    portfwd import --keepalived "$f" -o "/tmp/$name.json" 2>"/tmp/$name.notes" || fail "$name: import failed: $(cat "/tmp/$name.notes")"
    portfwd validate -c "/tmp/$name.json" >/dev/null || fail "$name: the import does not validate"

    # keepalived's checker, on the original, in a namespace of its own (a sample without
    # virtual servers programs nothing).
    keepalived_services=""
    if grep -q '^[[:space:]]*virtual_server[[:space:]]' "$f"; then
        $IP netns add ka
        $IP -n ka link set lo up
        $IP netns exec ka keepalived -C -n -f "$f" -p /tmp/ka.pid -c /tmp/ka-check.pid >/dev/null 2>&1 &
        ka=$!
        programmed() { $IP netns exec ka ipvsadm -S -n | grep -q -- '^-A'; }
        wait_until 15 "$name: keepalived programs its virtual servers" programmed
        sleep 0.5
        keepalived_services="$(services ka)"
        kill -TERM "$ka" 2>/dev/null || true
        wait "$ka" 2>/dev/null || true
        $IP netns delete ka
    fi

    # portfwd, on the import, in another; the public addresses on a dummy (bare addresses:
    # backends carry a port).
    $IP netns add pf
    $IP -n pf link set lo up
    $IP -n pf link add dummy0 type dummy
    $IP -n pf link set dummy0 up
    for a in $(grep -o '"address": "[^"]*"' "/tmp/$name.json" | cut -d'"' -f4 | grep -v -e '\[' -e '^[0-9.]*:'); do
        $IP -n pf addr add "$a" dev dummy0 nodad 2>/dev/null || $IP -n pf addr add "$a" dev dummy0
    done
    $IP netns exec pf portfwd apply --auto-approve --force -c "/tmp/$name.json" >/dev/null 2>&1 \
        || { $IP netns exec pf portfwd plan -c "/tmp/$name.json" || true; fail "$name: apply of the import failed"; }
    $IP netns exec pf portfwd plan --detailed-exitcode -c "/tmp/$name.json" >/dev/null \
        || fail "$name: the plan after applying the import is not empty"
    expect_eq "$name: the services keepalived programs" "$keepalived_services" "$(services pf)"
    $IP netns delete pf
    echo "ok $name: $(echo "$keepalived_services" | grep -c -- -A) services, $(wc -l < "/tmp/$name.notes") notes"
done
