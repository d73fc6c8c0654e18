#!/bin/sh
# portfwd's netlink client writes a matrix that ipvsadm reads back identically, thresholds too
. /etc/portfwd-test.sh
cat > /tmp/rules <<'R'
-A -t 203.0.113.10:80 -s wlc
-a -t 203.0.113.10:80 -r 10.0.0.2:80 -m -w 1
-a -t 203.0.113.10:80 -r 10.0.0.3:8080 -m -w 0
-A -t 203.0.113.10:443 -s sh -b sh-fallback,sh-port
-a -t 203.0.113.10:443 -r 10.0.0.4:443 -g -w 1
-a -t 203.0.113.10:443 -r 10.0.0.5:443 -i -w 1 --tun-type ipip
-A -u 203.0.113.10:53 -s rr -p 300 -M 255.255.255.0
-a -u 203.0.113.10:53 -r 10.0.0.3:53 -m -w 1
-A -u 203.0.113.10:5060 -s rr -o
-a -u 203.0.113.10:5060 -r 10.0.0.8:5060 -m -w 1
-A --sctp-service 203.0.113.10:3868 -s lc
-a --sctp-service 203.0.113.10:3868 -r 10.0.0.7:3868 -m -w 65535
-A -t [2001:db8::10]:80 -s mh -b mh-port
-a -t [2001:db8::10]:80 -r 10.0.0.9:80 -i -w 1 --tun-type gre --tun-nocsum
-A -t [2001:db8::10]:443 -s rr -p 600 -M 64
-a -t [2001:db8::10]:443 -r [fd00::4]:443 -m -w 1
-a -t [2001:db8::10]:443 -r [fd00::5]:443 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
-A -f 7 -s wrr -p 360
-a -f 7 -r 10.0.0.6:0 -m -w 5
-A -f 9 -6 -s dh
-a -f 9 -6 -r [fd00::9]:0 -g -w 3
R
portfwd debug-restore /tmp/rules
expect_eq "ipvsadm -S -n after portfwd wrote the rules" "$(cat /tmp/rules)" "$(ipvsadm -S -n)"

# Thresholds are not in ipvsadm's save format: write them and read them with ipvsadm -L.
ipvsadm -C
printf -- '-A -t 203.0.113.10:81 -s rr\n-a -t 203.0.113.10:81 -r 10.0.0.2:81 -m -w 1 -x 100 -y 50\n' | portfwd debug-restore
ipvsadm -L -n --thresholds | grep -E '10\.0\.0\.2:81 +100 +50' || fail "thresholds 100/50 not seen by ipvsadm: $(ipvsadm -L -n --thresholds)"
