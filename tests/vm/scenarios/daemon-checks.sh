#!/bin/sh
# portfwd run's checks: http failing on 503 while the port accepts, exec, on_failure remove, a fallback while every backend is down, fail open without one; SIGHUP with a valid, an invalid and a guard-tripping config
. /etc/portfwd-test.sh
classic_topology
rm -f /run/portfwd/health.json /tmp/ok-*
guest domu2 10.0.0.3
mkdir -p /tmp/www && echo ok > /tmp/www/healthz
$IP netns exec domu httpd -f -p 8080 -h /tmp/www &
printf '#!/bin/sh\nread line\nprintf "HTTP/1.0 503 Service Unavailable\\r\\nContent-Length: 0\\r\\n\\r\\n"\n' > /tmp/h503.sh
chmod 755 /tmp/h503.sh
$IP netns exec domu2 nc -ll -p 8080 -e /tmp/h503.sh &
wait_for_listener domu 8080
wait_for_listener domu2 8080
touch /tmp/ok-10.0.0.2
fast='"interval": 0.5, "timeout": 0.3, "rise": 1, "fall": 1'
cat > /tmp/c.json <<JSON
{"public": [{"address": "203.0.113.10"}],
 "forwards": [
  {"name": "api", "listen": "203.0.113.10:8080", "backends": ["10.0.0.2:8080", "10.0.0.3:8080"],
   "health": {"check": "http", "path": "/healthz", $fast}},
  {"name": "db", "listen": "203.0.113.10:5432", "backends": ["10.0.0.2:5432", "10.0.0.3:5432"],
   "health": {"check": "exec", "command": ["/bin/sh", "-c", "test -e /tmp/ok-{address}"], "on_failure": "remove", $fast}},
  {"name": "sorry", "listen": "203.0.113.10:81", "backends": ["10.0.0.2:81", "10.0.0.3:81"],
   "fallback": "10.0.0.4:81", "health": {"check": "tcp", $fast}},
  {"name": "open", "listen": "203.0.113.10:82", "backends": ["10.0.0.2:82"], "health": {"check": "tcp", $fast}}
 ]}
JSON
portfwd run -c /tmp/c.json --resync 5 > /tmp/run.log 2>&1 &
daemon=$!
has_dest() { ipvsadm -S -n | grep -q -- "-t $1 -r $2 "; }
no_dest() { ! has_dest "$1" "$2"; }

# http: the port accepts, the status is 503.
wait_until 5 "http 503 at weight 0" weight_is 10.0.0.3:8080 0
weight_is 10.0.0.2:8080 1 || fail "http 200 backend: $(ipvsadm -S -n)"
grep -q 'backend 10.0.0.3:8080 (http check of "api") is down: HTTP 503' /tmp/run.log || fail "log: $(cat /tmp/run.log)"
# exec with on_failure remove: out of the table, back when its check passes.
wait_until 5 "exec failure removes" no_dest 203.0.113.10:5432 10.0.0.3:5432
grep -q 'is down: exit 1' /tmp/run.log || fail "exec reason: $(cat /tmp/run.log)"
touch /tmp/ok-10.0.0.3
wait_until 5 "exec success adds back" has_dest 203.0.113.10:5432 10.0.0.3:5432
# Every backend down: the fallback serves with weight 1.
wait_until 5 "fallback" weight_is 10.0.0.4:81 1
weight_is 10.0.0.2:81 0 || fail "sorry backends: $(ipvsadm -S -n)"
s81="$(banner_server domu 81 back)"
wait_until 5 "fallback leaves when a backend is up" no_dest 203.0.113.10:81 10.0.0.4:81
weight_is 10.0.0.2:81 1 || fail "10.0.0.2:81 up: $(ipvsadm -S -n)"
expect_eq "traffic reaches the backend" back "$(connect internet 203.0.113.10 81)"
# Every backend down, no fallback: fail open.
sleep 1
weight_is 10.0.0.2:82 1 || fail "fail open: $(ipvsadm -S -n)"
grep -q 'every backend of tcp 203.0.113.10:82 (forward "open") is down and there is no fallback: left as configured (fail open)' /tmp/run.log || fail "fail-open log: $(cat /tmp/run.log)"
expect_rc "status while failing open" 3 portfwd status --color never
expect_in "status says which forward fails open" "$out" 'forward open (tcp check)
  fail open: every backend is down and there is no fallback: left as configured'

# SIGHUP, invalid config: refused, the daemon goes on.
cp /tmp/c.json /tmp/c.good
echo '{"forwards": [' > /tmp/c.json
before="$(ipvsadm -S -n)"
kill -HUP "$daemon"
wait_until 5 "invalid reload refused" grep -q 'reload refused, keeping the running config' /tmp/run.log
expect_eq "table after the refused reload" "$before" "$(ipvsadm -S -n)"
# A plan that trips a guard (a forward left with no backends): refused too.
sed 's/"backends": \["10.0.0.2:8080", "10.0.0.3:8080"\]/"backends": []/' /tmp/c.good > /tmp/c.json
kill -HUP "$daemon"
wait_until 5 "guard-tripping reload refused" sh -c "grep -c 'reload refused' /tmp/run.log | grep -qx 2"
grep -q 'refused: .*--force' /tmp/run.log || fail "guard reason: $(cat /tmp/run.log)"
has_dest 203.0.113.10:8080 10.0.0.2:8080 || fail "guard-refused reload changed the table"
# Valid: a new backend is added; health kept for the others (10.0.0.3:8080 stays at 0).
sed 's/"backends": \["10.0.0.2:8080", "10.0.0.3:8080"\]/"backends": ["10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.5:8080"]/' /tmp/c.good > /tmp/c.json
kill -HUP "$daemon"
wait_until 5 "valid reload" grep -q '^.* reloaded$' /tmp/run.log
has_dest 203.0.113.10:8080 10.0.0.5:8080 || fail "new backend missing: $(ipvsadm -S -n)"
weight_is 10.0.0.3:8080 0 || fail "reload restored a held-down backend: $(ipvsadm -S -n)"
kill -TERM "$daemon"
wait "$daemon" || fail "SIGTERM: exit $?"
kill "$s81" 2>/dev/null || true
