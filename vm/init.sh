#!/bin/sh
# /init of the lvsd test VM (busybox sh).  Built into the base initramfs by
# vm/setup.sh; the per-run archive from vm/run.sh adds /vm/run (the payload
# command), /vm/lib.sh, the test script and /usr/local/bin/*.
#
# Prints "LVSD-VM-RESULT rc=N id=RUNID" on the console and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb

mount -t devtmpfs -o mode=0755 devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
[ -d /sys/fs/cgroup ] && mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname lvsd-vm

runid=$(cat /vm/runid 2>/dev/null || echo none)
result() {
    # The newline first: never glue the marker to unterminated test output.
    echo
    echo "LVSD-VM-RESULT rc=$1 id=$runid"
    # Let the UART drain before the power goes.
    sync
    sleep 0.1
    poweroff -f
    # not reached; if poweroff failed the kernel panics when init exits
    # (panic=-1 + qemu -no-reboot ends qemu)
    exit "$1"
}

# shellcheck disable=SC2046
if ! /sbin/modprobe -a $(cat /etc/lvsd-vm/boot-modules); then
    echo "LVSD-VM: loading boot modules failed"
    result 125
fi
/bin/busybox ip link set lo up

t=$(cut -d' ' -f1 /proc/uptime)
echo "LVSD-VM-BOOTED uptime=${t}s kernel=$(uname -r)"

if [ ! -f /vm/run ]; then
    echo "LVSD-VM: no payload (/vm/run missing)"
    result 126
fi

# Run the payload in its own process so an "exit" in it cannot skip the
# marker.  /vm/run is written by vm/run.sh: cd /vm && sh /vm/test.sh ARGS
/bin/sh /vm/run
rc=$?
t=$(cut -d' ' -f1 /proc/uptime)
echo "LVSD-VM-DONE uptime=${t}s"
result "$rc"
