#!/bin/sh
# apply refuses without a terminal or --auto-approve, on shadowing a local listener, on removing too much, on emptying a forward
. /etc/portfwd-test.sh
public_host
pf_config /tmp/ssh.json '{"name":"ssh","listen":"203.0.113.10:22","backends":["10.0.0.2"]}'

expect_rc "no terminal, no --auto-approve" 1 portfwd apply -c /tmp/ssh.json < /dev/null
expect_in "says why" "$out" 'standard input is not a terminal'
expect_eq "nothing applied" "" "$(ipvsadm -S -n)"

# The host's own sshd, on every address (busybox nc listens on [::], which takes IPv4 too).
nc -ll -p 22 -e /bin/echo host-sshd &
wait_for_listener pf-host 22
expect_rc "plan warns" 0 portfwd plan -c /tmp/ssh.json
expect_in "shadowing warning" "$out" 'warning: forward "ssh" would capture tcp 203.0.113.10:22, where the host itself listens (tcp [::]:22)'
expect_rc "apply refuses" 1 portfwd apply -c /tmp/ssh.json --auto-approve
expect_in "shadowing refusal" "$out" 'run with --allow-shadowing'
expect_eq "nothing applied" "" "$(ipvsadm -S -n)"
expect_rc "apply allowed" 0 portfwd apply -c /tmp/ssh.json --auto-approve --allow-shadowing
kill %1 2>/dev/null || true

# Safety threshold: 12 managed services (the ssh one goes first), removing 4 (33%) is more than 30%.
pf_config /tmp/twelve.json '{"name":"range","listen":"203.0.113.10:7000-7011","backends":["10.0.0.2"]}'
pf_config /tmp/eight.json '{"name":"range","listen":"203.0.113.10:7000-7007","backends":["10.0.0.2"]}'
portfwd apply -c /tmp/twelve.json --auto-approve > /dev/null
before="$(ipvsadm -S -n)"
expect_rc "too many removals" 1 portfwd apply -c /tmp/eight.json --auto-approve
expect_in "figures" "$out" 'the plan removes 4 of the 12 managed services (33%), more than the 30% allowed (safety.max_remove_percent)'
expect_in "override" "$out" 'run with --force'
expect_eq "nothing removed" "$before" "$(ipvsadm -S -n)"
# The threshold comes from the config.
printf '{"public":[{"address":"203.0.113.10"}],"safety":{"max_remove_percent":40},"forwards":[{"name":"range","listen":"203.0.113.10:7000-7007","backends":["10.0.0.2"]}]}\n' > /tmp/eight-40.json
expect_rc "within a configured threshold" 0 portfwd apply -c /tmp/eight-40.json --auto-approve
expect_eq "eight left" 8 "$(ipvsadm -S -n | grep -c '^-A')"

# A forward left with no backends needs --force.
pf_config /tmp/empty.json '{"name":"range","listen":"203.0.113.10:7000-7007","backends":[]}'
before="$(ipvsadm -S -n)"
expect_rc "emptying a forward" 1 portfwd apply -c /tmp/empty.json --auto-approve
expect_in "zero backends" "$out" 'forward "range" would be left with no backends (tcp 203.0.113.10:7000 and 7 more services lose every destination)'
expect_eq "nothing emptied" "$before" "$(ipvsadm -S -n)"
expect_rc "forced" 0 portfwd apply -c /tmp/empty.json --auto-approve --force
expect_eq "no destinations left" 0 "$(ipvsadm -S -n | grep -c '^-a' || true)"
