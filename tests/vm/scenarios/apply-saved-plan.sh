#!/bin/sh
# plan --out / apply PLANFILE applies exactly the plan; a stale plan is refused; plan --from a snapshot
. /etc/portfwd-test.sh
public_host
pf_config /tmp/a.json '{"name":"web","listen":"203.0.113.10:80","backends":["10.0.0.2"]}'
pf_config /tmp/b.json '{"name":"web","listen":"203.0.113.10:80","scheduler":"rr","backends":["10.0.0.2","10.0.0.3"]}'

# Offline plan (as CI would, from a captured snapshot), applied on the host.
portfwd show --json > /tmp/empty.snapshot.json
cp /tmp/a.json /tmp/ci-config.json
chmod 644 /tmp/empty.snapshot.json /tmp/ci-config.json
chmod 755 /usr/local/bin/portfwd
su -s /bin/sh tester -c 'portfwd plan -c /tmp/ci-config.json --from /tmp/empty.snapshot.json --out /tmp/ci.plan' > /tmp/ci.out 2>&1 || fail "unprivileged offline plan: $(cat /tmp/ci.out)"
cat /tmp/ci.out
rm /tmp/ci-config.json
# root acts only on files nobody else can change: a plan file owned by tester is refused.
expect_rc "a plan file owned by another user" 1 portfwd apply /tmp/ci.plan
expect_in "refused" "$out" 'is owned by another user (uid 1000)'
cp /tmp/ci.plan /tmp/ci-root.plan
expect_rc "apply the CI plan" 0 portfwd apply /tmp/ci-root.plan
expect_eq "after the CI plan" "-A -t 203.0.113.10:80 -s wlc
-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1" "$(ipvsadm -S -n)"

# A saved plan goes stale when the table changes behind its back.
portfwd plan -c /tmp/b.json --out /tmp/b.plan > /dev/null
ipvsadm -e -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 7
before="$(ipvsadm -S -n)"
expect_rc "stale plan" 1 portfwd apply /tmp/b.plan
expect_in "stale plan is refused" "$out" 'the saved plan is stale'
expect_eq "nothing changed by a stale plan" "$before" "$(ipvsadm -S -n)"

# A fresh plan applies, exactly.
portfwd plan -c /tmp/b.json --out /tmp/b.plan > /dev/null
expect_rc "fresh plan" 0 portfwd apply /tmp/b.plan
expect_eq "after the fresh plan" "-A -t 203.0.113.10:80 -s rr
-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1
-a -t 203.0.113.10:80 -r 10.0.0.3:80 -m -w 1" "$(ipvsadm -S -n)"
expect_rc "applying it again" 1 portfwd apply /tmp/b.plan
expect_in "an applied plan is stale" "$out" 'stale'

# `-` reads the plan from standard input.
portfwd plan -c /tmp/a.json --out /tmp/a.plan > /dev/null
portfwd apply - < /tmp/a.plan > /tmp/stdin.out 2>&1 || fail "apply - : $(cat /tmp/stdin.out)"
expect_eq "after the plan from stdin" "-A -t 203.0.113.10:80 -s wlc
-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1" "$(ipvsadm -S -n)"
[ ! -e ./- ] || fail "a file named - was made"
