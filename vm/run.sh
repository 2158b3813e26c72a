#!/usr/bin/env bash
# vm/run.sh — boot the lvsd test VM (qemu TCG) with one test script.
#
# usage: vm/run.sh [--bin PATH]... [--timeout SECS] [--mem MB] [--smp N]
#                  [--keep] TEST_SCRIPT [ARGS...]
#        vm/run.sh --shell [--bin PATH]... [TEST_SCRIPT [ARGS...]]
#
#   --bin PATH     copy PATH (stripped if it is an ELF executable) into
#                  /usr/local/bin of the VM, plus the shared libraries it
#                  needs (repeatable)
#   --timeout S    kill the VM after S seconds (default: "# vm-timeout: S" in
#                  the script, else $LVSD_VM_TIMEOUT, else 300)
#   --mem MB       guest memory (default: "# vm-mem: MB" in the script, else
#                  $LVSD_VM_MEM, else 1024)
#   --smp N        guest CPUs (default: "# vm-smp: N", else $LVSD_VM_SMP, else 1)
#   --keep         keep the per-run directory (initramfs, console log)
#   --shell        interactive: run the script (if any), then a shell on the
#                  console (needs a terminal; exit the shell to power off;
#                  Ctrl-A x quits qemu)
#
# Inside the VM the script runs as /vm/tests/NAME with busybox sh, cwd /vm,
# next to /vm/lib.sh.  The console is streamed to stdout; the exit code is
# the script's (parsed from the "LVSD-VM-RESULT rc=N" marker printed by
# /init).  Without a marker the exit code is 124 (timeout) or 125 (kernel
# panic, crash, qemu error), with a message on stderr.
#
# Requires vm/setup.sh to have run.  Environment: LVSD_VM_CACHE (cache dir,
# default <repo>/target/vm), LVSD_VM_ACCEL (default tcg), LVSD_VM_APPEND
# (extra kernel command line), LVSD_VM_QEMU_ARGS (extra qemu arguments).
set -euo pipefail

die() { echo "vm/run.sh: error: $*" >&2; exit 125; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/.." && pwd)
CACHE=${LVSD_VM_CACHE:-$REPO/target/vm}

bins=()
timeout_s=
mem=
smp=
keep=0
shell=0
while [ $# -gt 0 ]; do
    case $1 in
        --bin) [ $# -ge 2 ] || usage; bins+=("$2"); shift 2 ;;
        --bin=*) bins+=("${1#--bin=}"); shift ;;
        --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
        --timeout=*) timeout_s=${1#--timeout=}; shift ;;
        --mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
        --mem=*) mem=${1#--mem=}; shift ;;
        --smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
        --smp=*) smp=${1#--smp=}; shift ;;
        --keep) keep=1; shift ;;
        --shell) shell=1; shift ;;
        -h | --help) usage ;;
        --) shift; break ;;
        -*) echo "vm/run.sh: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
script=
if [ $# -ge 1 ]; then
    script=$1
    shift
    [ -f "$script" ] || die "test script $script not found"
elif [ "$shell" = 0 ]; then
    usage
fi

# "# vm-timeout: 600" style directives in the script
directive() {
    [ -n "$script" ] || return 0
    sed -n "s/^#[[:space:]]*vm-$1:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$script" | head -n1
}
[ -n "$timeout_s" ] || timeout_s=$(directive timeout)
[ -n "$timeout_s" ] || timeout_s=${LVSD_VM_TIMEOUT:-300}
[ -n "$mem" ] || mem=$(directive mem)
[ -n "$mem" ] || mem=${LVSD_VM_MEM:-1024}
[ -n "$smp" ] || smp=$(directive smp)
[ -n "$smp" ] || smp=${LVSD_VM_SMP:-1}
for v in "$timeout_s" "$mem" "$smp"; do
    case $v in '' | *[!0-9]*) die "--timeout/--mem/--smp need a number, got '$v'" ;; esac
done

img=$CACHE/current
if [ ! -f "$img/.done" ] || [ ! -f "$img/base.cpio" ] || [ ! -f "$img/vmlinuz" ]; then
    die "no VM image in $CACHE (run vm/setup.sh first)"
fi
# Resolve once so a concurrent setup.sh switching images cannot mix files.
img=$(cd "$img" && pwd -P)
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (run vm/setup.sh)"
command -v cpio >/dev/null || die "cpio not found (run vm/setup.sh)"

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/lvsd-vm.XXXXXX")
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        # $qemu_pid is timeout(1), which passes the signal on to qemu
        kill -TERM "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [ "$keep" = 1 ]; then
        echo "vm/run.sh: kept $run_dir" >&2
    else
        rm -rf "$run_dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- per-run archive ----------------------------------------------------------
ov=$run_dir/overlay
mkdir -p "$ov/vm/tests" "$ov/usr/local/bin"
install -m 0644 "$VM_DIR/lib.sh" "$ov/vm/lib.sh"
runid=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$runid" >"$ov/vm/runid"

# sh single-quoting
shq() { local s=$1; printf "'%s'" "${s//\'/\'\\\'\'}"; }
name=shell
{
    echo 'cd /vm || exit 1'
    if [ -n "$script" ]; then
        name=$(basename "$script")
        install -m 0755 "$script" "$ov/vm/tests/$name"
        printf '/bin/sh %s' "$(shq "/vm/tests/$name")"
        for a in "$@"; do printf ' %s' "$(shq "$a")"; done
        printf '\n'
        [ "$shell" = 1 ] && echo 'echo "LVSD-VM: test exit status $?"'
    fi
    if [ "$shell" = 1 ]; then
        echo 'echo "LVSD-VM: interactive shell (vm/lib.sh sourced); exit to power off"'
        echo "PS1='lvsd-vm:\$PWD# ' ENV=/vm/lib.sh setsid cttyhack /bin/sh -i"
    fi
} >"$ov/vm/run"

declare -A base_files=()
if [ -f "$img/base.files" ]; then
    while read -r f; do base_files[$f]=1; done <"$img/base.files"
fi
copy_libs() {
    local bin=$1 out lib
    if ! out=$(ldd "$bin" 2>&1); then
        grep -q 'not a dynamic executable\|statically linked' <<<"$out" && return 0
        die "ldd $bin failed: $out"
    fi
    if grep -q 'not found' <<<"$out"; then die "ldd $bin: missing libraries: $out"; fi
    while read -r lib; do
        [ -n "${base_files[$lib]:-}" ] && continue
        [ -e "$ov$lib" ] && continue
        mkdir -p "$(dirname "$ov$lib")"
        cp -L "$lib" "$ov$lib"
    done < <(awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' <<<"$out")
}
for b in "${bins[@]}"; do
    [ -f "$b" ] || die "--bin $b: no such file"
    dst=$ov/usr/local/bin/$(basename "$b")
    # strip executables and shared objects only (not .ko, scripts, data)
    if ! { LC_ALL=C readelf -h "$b" 2>/dev/null | grep -Eq 'Type:[[:space:]]+(EXEC|DYN)' \
        && strip -o "$dst" "$b" 2>/dev/null; }; then
        cp "$b" "$dst"
    fi
    chmod 0755 "$dst"
    copy_libs "$b"
done

initrd=$run_dir/initrd.cpio
cp "$img/base.cpio" "$initrd"
(cd "$ov" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >>"$initrd"
cp "$img/vmlinuz" "$run_dir/vmlinuz"

# --- boot ---------------------------------------------------------------------
log=$run_dir/console.log
# cryptomgr.notests: skip the crypto self-tests (~0.4 s under TCG)
append="console=ttyS0 quiet panic=-1 oops=panic mitigations=off tsc=reliable no_timer_check cryptomgr.notests ${LVSD_VM_APPEND:-}"
# shellcheck disable=SC2206 # word splitting of the extra args is intended
qemu=(qemu-system-x86_64
    -accel "${LVSD_VM_ACCEL:-tcg}"
    -m "$mem" -smp "$smp"
    -nodefaults -no-user-config -display none -no-reboot
    -kernel "$run_dir/vmlinuz" -initrd "$initrd"
    -append "$append"
    ${LVSD_VM_QEMU_ARGS:-})

kver=$(cat "$img/kernel-version")
if [ "$shell" = 1 ]; then
    [ -t 0 ] || die "--shell needs a terminal on stdin"
    echo "vm/run.sh: booting $kver, interactive (Ctrl-A x quits qemu)" >&2
    set +e
    "${qemu[@]}" -serial mon:stdio
    rc=$?
    exit "$rc"
fi

echo "vm/run.sh: booting $kver for $name (timeout ${timeout_s}s, ${mem} MiB, $smp cpu)" >&2
start=$(date +%s.%N)
# qemu writes the serial console to its stdout (a fifo); a reader strips the
# tty's CRs, streams it to our stdout and keeps a copy for the marker.
fifo=$run_dir/console.fifo
mkfifo "$fifo"
sed -u 's/\r$//' <"$fifo" | tee "$log" &
reader_pid=$!
timeout -k 5 "$timeout_s" "${qemu[@]}" -serial stdio -monitor none </dev/null >"$fifo" 2>&1 &
qemu_pid=$!
set +e
wait "$qemu_pid"
qemu_rc=$?
wait "$reader_pid"
set -e
qemu_pid=
end=$(date +%s.%N)
wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')

rc_line=$(grep -a "^LVSD-VM-RESULT rc=[0-9]* id=$runid\$" "$log" | tail -n1 || true)
booted=$(sed -n 's/^LVSD-VM-BOOTED uptime=\([0-9.]*\)s.*/\1/p' "$log" | tail -n1)
if [ -z "$rc_line" ]; then
    echo >&2
    if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
        echo "vm/run.sh: FAILED: $name timed out after ${timeout_s}s (qemu killed, no result marker; wall ${wall}s)" >&2
        exit 124
    fi
    if grep -aq 'Kernel panic' "$log"; then
        why="the kernel panicked"
    else
        why="kernel panic, init crash or qemu error"
    fi
    echo "vm/run.sh: FAILED: $name: the VM stopped without a result marker (qemu exit status $qemu_rc; $why; see the console output above)" >&2
    exit 125
fi
rc=${rc_line#LVSD-VM-RESULT rc=}
rc=${rc%% *}
if [ "$qemu_rc" != 0 ]; then
    echo "vm/run.sh: note: qemu exit status $qemu_rc after the result marker" >&2
fi
echo "vm/run.sh: $name exited with rc=$rc (wall ${wall}s, guest boot ${booted:-?}s)" >&2
exit "$rc"
