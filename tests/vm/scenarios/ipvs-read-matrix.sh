#!/bin/sh
# a matrix built with ipvsadm (a service of 40 destinations among it) reads back through netlink: show --format ipvsadm == ipvsadm -S -n
. /etc/portfwd-test.sh
A=203.0.113.10
ipvsadm -A -t $A:80 -s wlc
ipvsadm -a -t $A:80 -r 10.0.0.2:80 -m -w 1
ipvsadm -a -t $A:80 -r 10.0.0.3:8080 -m -w 0 -x 100 -y 50
ipvsadm -A -t $A:443 -s sh -b sh-fallback,sh-port
ipvsadm -a -t $A:443 -r 10.0.0.4:443 -g -w 1
ipvsadm -a -t $A:443 -r 10.0.0.5:443 -i -w 1
ipvsadm -A -u $A:53 -s rr -p 300 -M 255.255.255.0
ipvsadm -a -u $A:53 -r 10.0.0.3:53 -m -w 1
ipvsadm -A --sctp-service $A:3868 -s lc
ipvsadm -A -u $A:5060 -s rr -o
ipvsadm -a -u $A:5060 -r 10.0.0.8:5060 -m -w 1
ipvsadm -a --sctp-service $A:3868 -r 10.0.0.7:3868 -m -w 65535
ipvsadm -A -t [2001:db8::10]:443 -s rr -p 600 -M 64
ipvsadm -a -t [2001:db8::10]:443 -r [fd00::4]:443 -m -w 1
ipvsadm -a -t [2001:db8::10]:443 -r [fd00::5]:443 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A -t [2001:db8::10]:80 -s mh -b mh-port
ipvsadm -a -t [2001:db8::10]:80 -r 10.0.0.9:80 -i -w 1 --tun-type gre
ipvsadm -A -f 7 -s wrr -p 360
ipvsadm -a -f 7 -r 10.0.0.6:0 -m -w 5
ipvsadm -A -f 9 -6 -s dh
# Addresses 2^31 or more apart: ipvsadm's wrapping comparison lists 203.x before 10.x.
ipvsadm -A -t 10.1.1.1:80 -s rr
ipvsadm -a -t 10.1.1.1:80 -r 192.168.1.2:80 -m -w 1
ipvsadm -a -t 10.1.1.1:80 -r 10.0.0.2:80 -m -w 1
ipvsadm -a -f 9 -6 -r [fd00::9]:0 -g -w 3
# 40 destinations do not fit one page-sized datagram: their dump comes in several, and the
# records received in place first are copied out when more follow.
ipvsadm -A -t $A:8000 -s rr
i=1
while [ $i -le 40 ]; do ipvsadm -a -t $A:8000 -r 10.0.1.$i:8000 -m -w $i; i=$((i + 1)); done

expected="$(ipvsadm -S -n)"
echo "$expected"
expect_eq "portfwd show --format ipvsadm vs ipvsadm -S -n" "$expected" "$(portfwd show --format ipvsadm)"

# The snapshot carries what ipvsadm -S does not: thresholds and counts.
json="$(portfwd show --json)"
echo "$json" | grep -q '"upper_threshold": 100' || fail "threshold 100 missing from show --json"
echo "$json" | grep -q '"lower_threshold": 50' || fail "threshold 50 missing from show --json"
echo "$json" | grep -q '"fwmark": 9' || fail "fwmark 9 missing from show --json"

human="$(portfwd show)"
echo "$human"
echo "$human" | grep -q '^TCP  203.0.113.10:443 sh (sh-fallback,sh-port)$' || fail "human view lacks the sh service"
echo "$human" | grep -q '^UDP  203.0.113.10:53 rr persistent 300 mask 255.255.255.0$' || fail "human view lacks the persistent udp service"

# GET_CONFIG: the timeouts ipvsadm sets are in the snapshot.
ipvsadm --set 100 20 30
portfwd show --json | tr -d ' \n' | grep -q '"timeouts":{"tcp":100,"tcp_fin":20,"udp":30}' || fail "timeouts not in show --json: $(portfwd show --json | head -8)"
