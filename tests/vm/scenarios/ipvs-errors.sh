#!/bin/sh
# kernel errors a user can act on: not root; and an empty table shows as empty
. /etc/portfwd-test.sh
expect_eq "empty table" "" "$(portfwd show --format ipvsadm)"
chmod 755 /usr/local/bin/portfwd
if out="$(su -s /bin/sh tester -c 'portfwd show' 2>&1)"; then
    fail "an unprivileged user could read the table: $out"
fi
echo "$out"
# Said before any request: the kernel would answer EPERM (its hint says the same).
case "$out" in
    *"portfwd show needs root (CAP_NET_ADMIN)"*) ;;
    *) fail "expected an error that says to run as root, got: $out" ;;
esac
