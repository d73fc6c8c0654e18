#!/bin/sh
ipvsadm -C
sudo /sbin/ipvsadm -A -t 203.0.113.10:80 -s wrr -p
ipvsadm --add-server --tcp-service 203.0.113.10:80 \
    --real-server 10.0.0.2:80 --masquerading --weight 3 -x 100 -y 10
-A -u [2001:db8::10]:53 -s sh -b sh-port,sh-fallback
-a -u [2001:db8::10]:53 -r [2001:db8::2]:53 -g -w 1
