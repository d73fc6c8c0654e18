#!/bin/sh
# portfwd import from the kernel, ipvsadm rules (a mixed-method service among them), an LVS script, a snapshot and keepalived.conf: plans of the imports say "no changes"; keepalived programs what portfwd applies
. /etc/portfwd-test.sh

public_host
$IP addr add 203.0.113.11/24 dev dummy0
$IP link add br1 type bridge
$IP addr add 10.0.0.1/24 dev br1
$IP link set br1 up
$IP link add vif9.0 type dummy
$IP link set vif9.0 master br1

echo "== a table made by hand with ipvsadm"
ipvsadm -A -t 203.0.113.10:22 -s rr
ipvsadm -a -t 203.0.113.10:22 -r 10.0.0.2:22 -m
ipvsadm -A -t 203.0.113.10:443 -s sh -b sh-port -p 600 -M 255.255.255.0
ipvsadm -a -t 203.0.113.10:443 -r 10.0.0.3:443 -m -w 3 -x 100 -y 10
ipvsadm -a -t 203.0.113.10:443 -r 10.0.0.4:443 -m -w 0
ipvsadm -A -t 203.0.113.11:443 -s wlc
ipvsadm -a -t 203.0.113.11:443 -r 10.0.0.5:443 -m
ipvsadm -A -u 203.0.113.10:53 -s wrr
ipvsadm -a -u 203.0.113.10:53 -r 10.0.0.6:53 -g
ipvsadm -A -f 7 -s rr
# IPVS sets the method per destination: one service mixing masq and direct routing.
ipvsadm -A -t 203.0.113.10:8000 -s rr
ipvsadm -a -t 203.0.113.10:8000 -r 10.0.0.2:8000 -m
ipvsadm -a -t 203.0.113.10:8000 -r 10.0.0.9:8000 -g -w 2
before="$(ipvsadm -S -n)"

echo "== --from-kernel"
expect_rc "import from the kernel" 0 portfwd import --from-kernel -o /tmp/imp-kernel.json
expect_in "the fwmark service is reported" "$out" "fwmark 7"
cat /tmp/imp-kernel.json
expect_in "the bridge comes along" "$(cat /tmp/imp-kernel.json)" '"name": "br1"'
case "$(cat /tmp/imp-kernel.json)" in *vif9.0*) fail "a hypervisor port was pinned in the config" ;; esac
expect_in "the public address has its interface" "$(cat /tmp/imp-kernel.json)" '"interface": "dummy0"'
expect_in "the mixed service's route backend has its own method" "$(tr -d ' \n' < /tmp/imp-kernel.json)" '{"address":"10.0.0.9:8000","weight":2,"method":"route"}'
expect_rc "plan of the kernel import" 0 portfwd plan --detailed-exitcode -c /tmp/imp-kernel.json
expect_in "no changes" "$out" "No changes."
expect_rc "an existing file is not replaced" 1 portfwd import --from-kernel -o /tmp/imp-kernel.json
expect_in "says how" "$out" "--force"
expect_rc "--force replaces it" 0 portfwd import --from-kernel -o /tmp/imp-kernel.json --force
ipvsadm -D -t 203.0.113.10:8000
expect_rc "apply of the import brings the mixed service back" 0 portfwd apply --auto-approve -c /tmp/imp-kernel.json
expect_eq "as it was, each destination with its own method" "$before" "$(ipvsadm -S -n)"

echo "== --ipvsadm (saved rules and a script) and --from (a snapshot)"
ipvsadm -S -n > /tmp/rules
expect_rc "import of saved rules" 0 portfwd import --ipvsadm /tmp/rules -o /tmp/imp-rules.json
# ipvsadm -S leaves thresholds out: the rules, not the kernel, are this import's source.
expect_rc "plan of the rules import against the rules" 0 portfwd plan --detailed-exitcode -c /tmp/imp-rules.json --from /tmp/rules
{
    echo '#!/bin/sh'
    echo 'ipvsadm -C'
    ipvsadm -S -n | sed 's/^/\/sbin\/ipvsadm /; s/ -A / --add-service /; s/ -a / --add-server /'
} > /tmp/script.sh
cat /tmp/script.sh
expect_rc "import of a script" 0 portfwd import --ipvsadm /tmp/script.sh -o /tmp/imp-script.json
expect_rc "plan of the script import against the rules" 0 portfwd plan --detailed-exitcode -c /tmp/imp-script.json --from /tmp/rules
echo "== an LVS script as people write them, run by the shell, then imported"
cat > /tmp/lvs.sh <<'LVS'
#!/bin/sh
IPVSADM=/sbin/ipvsadm
[ -x $IPVSADM ] || IPVSADM=ipvsadm
VIP=203.0.113.11; PORT=8080
RIP1="10.0.0.7"
RIP2=10.0.0.8
$IPVSADM -A -t $VIP:$PORT -s rr && $IPVSADM -a -t $VIP:$PORT -r $RIP1 -m
$IPVSADM -a -t ${VIP}:${PORT} -r $RIP2:9090 -m -w 2
$IPVSADM -A -t $VIP:8443 -s wlc
$IPVSADM -a -t $VIP:8443 -r $RIP1 -m
$IPVSADM -e -t $VIP:$PORT -r $RIP1:$PORT -m -w 4
$IPVSADM -D -t $VIP:8443
echo "LVS up"
LVS
sh /tmp/lvs.sh
ipvsadm -S -n | grep -q -- "-a -t 203.0.113.11:8080 -r 10.0.0.7:8080 -m -w 4" || fail "the script did not run as expected: $(ipvsadm -S -n)"
expect_rc "import of the LVS script" 0 portfwd import --ipvsadm /tmp/lvs.sh -o /tmp/imp-lvs.json
expect_in "what it cannot read is named by file and line" "$out" "/tmp/lvs.sh:3: "
expect_in "the echo too" "$out" "/tmp/lvs.sh:13: not an ipvsadm command"
cat /tmp/imp-lvs.json
# The script's services, as the kernel has them now, and nothing else.
ipvsadm -S -n | grep -e "203.0.113.11:8080" > /tmp/lvs-rules
expect_rc "plan of the script import against what the script built" 0 portfwd plan --detailed-exitcode -c /tmp/imp-lvs.json --from /tmp/lvs-rules
printf 'echo hello\n' > /tmp/none.sh
expect_rc "a script that builds no service is an error" 1 portfwd import --ipvsadm /tmp/none.sh
expect_in "saying so" "$out" "no IPVS service found"
ipvsadm -D -t 203.0.113.11:8080

portfwd show --json > /tmp/snap.json
expect_rc "import of a snapshot" 0 portfwd import --from /tmp/snap.json -o /tmp/imp-snap.json
expect_rc "plan of the snapshot import" 0 portfwd plan --detailed-exitcode -c /tmp/imp-snap.json
expect_eq "nothing of this changed the table" "$before" "$(ipvsadm -S -n)"

echo "== keepalived: the table keepalived programs equals what portfwd applies from the import"
# Real servers on this host's own addresses, listening, so keepalived's checkers see them up.
$IP addr add 10.0.0.21/24 dev br1
$IP addr add 10.0.0.22/24 dev br1
for p in 8080 8081; do nc -ll -p "$p" -e /bin/echo ok >/dev/null 2>&1 & done
wait_for_listener pf-host 8081 2>/dev/null || sleep 1
cat > /tmp/ka.conf <<'EOF'
! a web farm as keepalived users write it
virtual_server 203.0.113.10 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 120
    protocol TCP
    real_server 10.0.0.21 8080 {
        weight 2
        inhibit_on_failure
        TCP_CHECK { connect_timeout 1 }
    }
    real_server 10.0.0.22 8081 {
        weight 1
        TCP_CHECK { connect_timeout 1 }
    }
}
virtual_server_group DNS { 203.0.113.11 53 }
virtual_server group DNS {
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 10.0.0.6 53 { weight 1 }
}
EOF
expect_rc "import of keepalived.conf" 0 portfwd import --keepalived /tmp/ka.conf -o /tmp/imp-ka.json
cat /tmp/imp-ka.json
ipvsadm -C
keepalived -C -n -l -f /tmp/ka.conf -p /tmp/ka-main.pid -c /tmp/ka-check.pid > /tmp/ka.log 2>&1 &
ka=$!
has_both() { ipvsadm -S -n | grep -q -- "-r 10.0.0.22:8081"; }
wait_until 20 "keepalived programs its real servers" has_both
sleep 2
keepalived_table="$(ipvsadm -S -n)"
kill -TERM "$ka"; wait "$ka" || true
printf '%s\n' "$keepalived_table"
ipvsadm -C
expect_rc "apply of the import" 0 portfwd apply --auto-approve -c /tmp/imp-ka.json
expect_eq "the same table as keepalived's" "$keepalived_table" "$(ipvsadm -S -n)"
ipvsadm -C

echo "== a plan reviewed from a snapshot is applied from standard input (what the GitOps example's hosts run)"
ipvsadm -C
portfwd show --json > /tmp/empty-snap.json
portfwd plan -c /tmp/imp-kernel.json --from /tmp/empty-snap.json --out /tmp/reviewed.plan >/dev/null
expect_rc "apply - < plan" 0 sh -c 'portfwd apply - < /tmp/reviewed.plan'
expect_rc "the host matches the config" 0 portfwd plan --detailed-exitcode -c /tmp/imp-kernel.json
ipvsadm -A -t 203.0.113.10:9 -s rr
expect_rc "a stale plan is refused" 1 sh -c 'portfwd apply - < /tmp/reviewed.plan'
expect_in "as stale" "$out" "stale"
