#!/bin/sh
# 1,500 services x 2 destinations written in pipelined batches, read back complete by ipvsadm and portfwd
. /etc/portfwd-test.sh
i=0
while [ $i -lt 1500 ]; do
    port=$((10000 + i))
    echo "-A -t 203.0.113.10:$port -s rr"
    echo "-a -t 203.0.113.10:$port -r 10.0.0.2:$port -m -w 1"
    echo "-a -t 203.0.113.10:$port -r 10.0.0.3:$port -m -w 2"
    i=$((i + 1))
done > /tmp/bulk
portfwd debug-restore /tmp/bulk
expect_eq "lines listed by ipvsadm" "4500" "$(ipvsadm -S -n | wc -l | tr -d ' ')"
expect_eq "portfwd show --format ipvsadm" "$(ipvsadm -S -n)" "$(portfwd show --format ipvsadm)"
# Receives too small for a reply (a test hook): the truncation of the services dump and of
# each destinations dump is seen and the read is redone on a socket that offers the whole
# buffer, with the same result.
expect_eq "show with truncated receives" "$(ipvsadm -S -n)" "$(PORTFWD_TEST_RECV_LEN=64 portfwd show --format ipvsadm)"
