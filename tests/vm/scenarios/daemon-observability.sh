#!/bin/sh
# portfwd run --metrics and portfwd status: scrapes (parsed by a real Prometheus parser) match the kernel and the checks, a killed backend shows up 0 and weight 0, connection counts equal ipvsadm's, drift repairs and kernel operations are counted, a refused reload shows portfwd_config_valid 0; status and status --json exit 0 (all up), 3 (one down), 1 (no daemon); the control socket is 0600; anything but GET /metrics is 404
. /etc/portfwd-test.sh
two_web_guests
cat > /tmp/o.json <<'JSON'
{"public": [{"address": "203.0.113.10"}],
 "bridges": [{"name": "br1", "address": "10.0.0.1/24"}],
 "forwards": [{"name": "web", "listen": "203.0.113.10:80", "scheduler": "rr",
               "backends": ["10.0.0.2:80", "10.0.0.3:80"],
               "health": {"check": "tcp", "interval": 0.5, "timeout": 0.3, "rise": 2, "fall": 2}},
              {"name": "plain", "listen": "203.0.113.10:8080", "backends": ["10.0.0.2:80"]}]}
JSON

expect_rc "status without a daemon" 1 portfwd status
expect_in "says why" "$out" "portfwd run is not running"

portfwd run -c /tmp/o.json --resync 2 --metrics 127.0.0.1:9432 > /tmp/run.log 2>&1 &
daemon=$!
wait_until 10 "both backends up" weight_is 10.0.0.3:80 1
wait_until 5 "metrics served" wget -qO /dev/null http://127.0.0.1:9432/metrics
metric() { wget -qO- http://127.0.0.1:9432/metrics | promq "$@"; }
expect_eq "web 10.0.0.3 up" 1 "$(metric portfwd_backend_up forward=web backend=10.0.0.3:80)"
expect_eq "web 10.0.0.3 weight" 1 "$(metric portfwd_backend_weight forward=web backend=10.0.0.3:80)"
expect_eq "unchecked backend up" 1 "$(metric portfwd_backend_up forward=plain backend=10.0.0.2:80)"
expect_eq "forwards" 2 "$(metric portfwd_forwards)"
expect_eq "backends" 3 "$(metric portfwd_backends)"
expect_eq "config valid" 1 "$(metric portfwd_config_valid)"
expect_eq "build info" 1 "$(metric portfwd_build_info)"
[ "$(metric portfwd_health_checks_total check=tcp result=ok)" -ge 2 ] || fail "no successful checks counted"
[ "$(metric portfwd_health_check_duration_seconds check=tcp)" -ge 2 ] || fail "no check durations observed"
[ "$(metric portfwd_last_sync_timestamp_seconds | cut -d. -f1)" -ge "$(($(date +%s) - 10))" ] || fail "last sync is old"
wget -qO /dev/null http://127.0.0.1:9432/ && fail "GET / answered"
wget -qO /dev/null http://127.0.0.1:9432/metricsx && fail "GET /metricsx answered"

# Connection counts are the kernel's.
for i in 1 2 3 4; do connect internet 203.0.113.10 80 > /dev/null; done
kernel_inactive="$(ipvsadm -L -n -t 203.0.113.10:80 | awk '$2 == "10.0.0.2:80" {print $6}')"
expect_eq "inactive connections of 10.0.0.2" "$kernel_inactive" "$(metric portfwd_backend_connections_inactive forward=web backend=10.0.0.2:80)"
[ "$kernel_inactive" -ge 1 ] || fail "the kernel counts no inactive connection: $(ipvsadm -L -n)"

# The control socket and status, all up.
case "$(ls -l /run/portfwd/control.sock)" in srw-------*) ;; *) fail "socket mode: $(ls -l /run/portfwd/control.sock)";; esac
expect_rc "status, all up" 0 portfwd status
expect_in "forward web" "$out" "forward web (tcp check)"
expect_in "3 of 3 up" "$out" "3/3 backends up"
expect_in "weight shown" "$out" "weight 1"
expect_rc "status --json, all up" 0 portfwd status --json
expect_in "json format" "$out" '"format_version": "1"'
expect_in "json pid" "$out" "\"pid\": $daemon"

# A backend killed: up 0 and weight 0 in the scrape, status exits 3 and says why.
kill "$s2"
wait_until 3 "dead backend at weight 0" weight_is 10.0.0.3:80 0
expect_eq "web 10.0.0.3 down" 0 "$(metric portfwd_backend_up forward=web backend=10.0.0.3:80)"
expect_eq "weight 0 scraped" 0 "$(metric portfwd_backend_weight forward=web backend=10.0.0.3:80)"
expect_eq "one transition down" 1 "$(metric portfwd_backend_transitions_total forward=web backend=10.0.0.3:80 to=down)"
[ "$(metric portfwd_health_checks_total check=tcp result=failed)" -ge 2 ] || fail "no failed checks counted"
expect_eq "weight edit counted" 1 "$(metric portfwd_kernel_operations_total op=edit_destination)"
expect_rc "status, one down" 3 portfwd status
expect_in "down with the reason" "$out" "last check: connect: connection refused"
expect_in "2 of 3 up" "$out" "2/3 backends up"
expect_rc "status --json, one down" 3 portfwd status --json
expect_in "json down" "$out" '"up": false'

# Drift repaired by a resync is counted.
ipvsadm -C
wait_until 5 "table restored" weight_is 10.0.0.2:80 1
[ "$(metric portfwd_drift_repairs_total kind=missing_in_kernel)" -ge 3 ] || fail "drift repairs: $(wget -qO- http://127.0.0.1:9432/metrics | grep drift)"

# A refused reload: config_valid 0, the old config keeps running.
echo '{"forwards": [' > /tmp/o.json
kill -HUP "$daemon"
wait_until 5 "reload refused" grep -q 'reload refused' /tmp/run.log
expect_eq "config invalid" 0 "$(metric portfwd_config_valid)"
expect_eq "refused reloads" 1 "$(metric portfwd_config_reloads_total result=refused)"
expect_eq "still 2 forwards" 2 "$(metric portfwd_forwards)"
expect_rc "status after a refused reload" 3 portfwd status
expect_in "reload failure shown" "$out" "last reload:"
expect_in "reload failed" "$out" "failed:"

kill -TERM "$daemon"
wait "$daemon" || fail "SIGTERM: exit $?"
expect_rc "status after stop" 1 portfwd status
kill "$s1" 2>/dev/null || true
