#!/usr/bin/env bash
# vm/setup.sh — prepare everything vm/run.sh needs to boot an IPVS-capable
# kernel under qemu (TCG).  Idempotent and safe to run concurrently (flock).
#
#  * installs missing Debian packages (apt-get, only when something is missing)
#  * downloads + unpacks the Debian cloud kernel (linux-image-cloud-amd64's
#    dependency) into the cache and runs depmod on it
#  * builds an *uncompressed* base initramfs (busybox, kmod, the IPVS/lab
#    modules, ipvsadm, iproute2's ip/ss, nft and their shared libraries,
#    and vm/init.sh as /init)
#
# Cache: ${LVSD_VM_CACHE:-<repo>/target/vm}.  The base image is rebuilt only
# when its inputs change (kernel version, this script, vm/init.sh, the
# versions of the host packages copied in).
#
# Environment:
#   LVSD_VM_CACHE        cache directory (default <repo>/target/vm)
#   LVSD_VM_KERNEL_PKG   kernel package to use instead of the one
#                        linux-image-cloud-amd64 depends on
#   LVSD_VM_REFRESH=1    ask apt for the current kernel package now (it is
#                        otherwise looked up at most once a day)
#   LVSD_VM_FORCE=1      rebuild the base image even if the stamp matches
#   LVSD_VM_KEEP_MODULE_SIGS=1  keep module signatures (slower boot)
set -euo pipefail

die() { echo "vm/setup.sh: error: $*" >&2; exit 1; }
log() { echo "vm/setup.sh: $*" >&2; }

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/.." && pwd)
CACHE=${LVSD_VM_CACHE:-$REPO/target/vm}

# Host packages.  Each entry: package name + a file it provides (to detect it
# without dpkg, e.g. on hosts where the tool comes from elsewhere).
REQUIRED_PKGS=(
    "qemu-system-x86:qemu-system-x86_64"
    "busybox-static:/bin/busybox"
    "ipvsadm:ipvsadm"
    "kmod:depmod"
    "cpio:cpio"
    "iproute2:ip"
    "nftables:nft"
    "binutils:strip"
    "xz-utils:xz"
    "zstd:zstd"
    "coreutils:timeout"
    "util-linux:flock"
    "keepalived:keepalived"
    "socat:socat"
)

# Modules put into the initramfs (with their dependencies).  Names missing
# from the kernel are skipped with a note, except for those in
# MANDATORY_MODULES.  All ip_vs_* modules of the kernel are added as well.
WANTED_MODULES=(
    ip_vs nf_conntrack nf_defrag_ipv4 nf_defrag_ipv6 libcrc32c
    veth bridge stp llc dummy ipip tunnel4 ip_tunnel
    nf_tables nft_chain_nat nft_nat nft_masq nf_nat nft_ct nft_fib_inet
    nf_nat_tftp xt_ipvs ip6_tunnel sit tun macvlan
)
MANDATORY_MODULES=(ip_vs veth bridge dummy ipip nf_tables nft_chain_nat nft_nat nft_masq nf_nat)
# Loaded by /init at boot (with their dependencies).  Everything else in the
# image (schedulers, ipip, nf_tables, ...) is autoloaded by the kernel on
# first use through kmod's /sbin/modprobe: each module load costs ~10-50 ms
# under TCG, so only what nearly every test needs is loaded up front.
BOOT_MODULES=(ip_vs veth bridge)

# Host binaries copied in at their real paths (plus their libraries).
HOST_BINS=(ipvsadm ip ss nft keepalived socat)

# ---------------------------------------------------------------------------

mkdir -p "$CACHE"
exec 9>"$CACHE/.setup.lock"
if ! flock -n 9; then
    log "another setup is running; waiting for its lock ($CACHE/.setup.lock)"
    flock 9
fi

# --- 1. packages ------------------------------------------------------------
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for entry in "${REQUIRED_PKGS[@]}"; do
    pkg=${entry%%:*}
    have_pkg "$pkg" || missing+=("$pkg")
done
apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || return 1
        apt_updated=1
    fi
}
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages ${missing[*]}: run vm/setup.sh as root to install them (apt-get)"
    log "installing missing packages: ${missing[*]}"
    apt_update || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
fi
for entry in "${REQUIRED_PKGS[@]}"; do
    f=${entry#*:}
    if [ "${f#/}" != "$f" ]; then
        [ -e "$f" ] || die "package ${entry%%:*} is installed but $f is missing"
    else
        PATH=$PATH:/usr/sbin:/sbin command -v "$f" >/dev/null || die "package ${entry%%:*} is installed but '$f' is not in PATH"
    fi
done
export PATH=$PATH:/usr/sbin:/sbin

# --- 2. kernel --------------------------------------------------------------
kernel_pkg=${LVSD_VM_KERNEL_PKG:-}
find_kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
# apt-cache takes ~1 s (no pkgcache here): reuse the answer for a day.
kpkg_file=$CACHE/kernel-package
if [ -z "$kernel_pkg" ] && [ -z "${LVSD_VM_REFRESH:-}" ] && [ -f "$kpkg_file" ] \
    && [ -n "$(find "$kpkg_file" -mmin -1440 2>/dev/null)" ]; then
    kernel_pkg=$(cat "$kpkg_file")
    [ -f "$CACHE/kernels/$kernel_pkg/.done" ] || kernel_pkg=
fi
if [ -z "$kernel_pkg" ]; then
    kernel_pkg=$(find_kernel_pkg || true)
    if [ -z "$kernel_pkg" ]; then
        if apt_update; then
            kernel_pkg=$(find_kernel_pkg || true)
        fi
    fi
fi
if [ -z "$kernel_pkg" ]; then
    # Offline fallback: newest kernel already in the cache.
    cached=$(find "$CACHE/kernels" -mindepth 1 -maxdepth 1 -name 'linux-image-*' -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
    [ -n "$cached" ] || die "cannot find the package linux-image-cloud-amd64 depends on (apt-cache depends linux-image-cloud-amd64); is the Debian archive reachable?"
    log "apt-cache gave no kernel package; using cached $cached"
    kernel_pkg=$cached
fi
case $kernel_pkg in
    linux-image-[0-9]*) ;;
    *) die "unexpected kernel package name '$kernel_pkg'" ;;
esac
KVER=${kernel_pkg#linux-image-}
KDIR=$CACHE/kernels/$kernel_pkg
KROOT=$KDIR/root

if [ ! -e "$KDIR/.done" ]; then
    log "downloading $kernel_pkg"
    rm -rf "$KDIR"
    mkdir -p "$KDIR/dl"
    # apt-get download writes to the current directory; let _apt read/write
    # it so apt does not complain about unsandboxed downloads.
    chmod 777 "$KDIR/dl"
    if ! (cd "$KDIR/dl" && apt-get download -q "$kernel_pkg" >&2); then
        apt_update || die "apt-get update failed (needed to download $kernel_pkg)"
        (cd "$KDIR/dl" && apt-get download -q "$kernel_pkg" >&2) || die "apt-get download $kernel_pkg failed"
    fi
    deb=$(find "$KDIR/dl" -maxdepth 1 -name '*.deb' | head -n1)
    [ -n "$deb" ] || die "apt-get download $kernel_pkg produced no .deb"
    log "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$KROOT"
    # Newer Debian releases ship modules under usr/lib/modules only.
    if [ ! -d "$KROOT/lib/modules/$KVER" ] && [ -d "$KROOT/usr/lib/modules/$KVER" ]; then
        [ -e "$KROOT/lib" ] || ln -s usr/lib "$KROOT/lib"
    fi
    [ -d "$KROOT/lib/modules/$KVER" ] || die "$kernel_pkg has no lib/modules/$KVER"
    [ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "$kernel_pkg has no boot/vmlinuz-$KVER"
    depmod -b "$KROOT" "$KVER" || die "depmod -b $KROOT $KVER failed"
    rm -rf "$KDIR/dl"
    touch "$KDIR/.done"
fi
MODDIR=$KROOT/lib/modules/$KVER
[ -n "${LVSD_VM_KERNEL_PKG:-}" ] || echo "$kernel_pkg" >"$kpkg_file"

# --- 3. base initramfs --------------------------------------------------------
pkg_versions=$(dpkg-query -W -f='${Package}=${Version}\n' busybox-static kmod ipvsadm iproute2 nftables keepalived socat libc6 2>/dev/null | sort)
stamp=$( {
    echo "format=1 keepsigs=${LVSD_VM_KEEP_MODULE_SIGS:-}"
    echo "kernel=$kernel_pkg"
    cat "$VM_DIR/setup.sh" "$VM_DIR/init.sh"
    echo "$pkg_versions"
} | sha256sum | cut -c1-16)
IMAGES=$CACHE/images
if [ -z "${LVSD_VM_FORCE:-}" ] && [ -f "$IMAGES/$stamp/.done" ] \
    && [ "$(readlink "$CACHE/current" 2>/dev/null || true)" = "images/$stamp" ]; then
    log "up to date: kernel $KVER, image $stamp"
    exit 0
fi

log "building base initramfs for $KVER (image $stamp)"
OUT=$IMAGES/$stamp
rm -rf "$OUT"
mkdir -p "$OUT"
STAGE=$(mktemp -d "$CACHE/stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,etc,proc,sys,dev,tmp,run,var,root,mnt,vm,lib/modules/"$KVER"}
ln -s ../run "$R/var/run"
chmod 1777 "$R/tmp"

# copy_file SRC: copy a host file (following symlinks) to the same path in $R.
copy_file() {
    local src=$1 dst=$R$1
    [ -e "$dst" ] && [ ! -L "$dst" ] && return 0
    mkdir -p "$(dirname "$dst")"
    rm -f "$dst"
    cp -L "$src" "$dst"
}
# copy_libs BIN: copy the shared libraries and loader BIN needs.
copy_libs() {
    local bin=$1 out lib
    out=$(ldd "$bin" 2>&1) || {
        # "not a dynamic executable" is fine (static binary).
        grep -q 'not a dynamic executable\|statically linked' <<<"$out" && return 0
        die "ldd $bin failed: $out"
    }
    if grep -q 'not found' <<<"$out"; then die "ldd $bin: missing libraries: $out"; fi
    while read -r lib; do
        copy_file "$lib"
    done < <(awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' <<<"$out")
}

# busybox + applet links (existing entries win; host binaries override later)
cp /bin/busybox "$R/bin/busybox"
while read -r applet; do
    [ -n "$applet" ] || continue
    [ "$applet" = bin/busybox ] && continue
    [ -e "$R/$applet" ] || [ -L "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done < <("$R/bin/busybox" --list-full)
[ -L "$R/bin/sh" ] || die "busybox has no sh applet"

# kmod (modprobe, insmod, lsmod, modinfo, depmod) — the kernel calls
# /sbin/modprobe for module autoloading (schedulers, rtnl link types, nft).
kmod_bin=$(command -v kmod) || die "kmod not found"
kmod_real=$(readlink -f "$kmod_bin")
copy_file "$kmod_real"
copy_libs "$kmod_real"
for t in modprobe insmod rmmod lsmod modinfo depmod; do
    rm -f "$R/sbin/$t" "$R/bin/$t" "$R/usr/sbin/$t" "$R/usr/bin/$t"
    ln -s "$kmod_real" "$R/sbin/$t"
done

# host binaries at their real paths
declare -A bin_path=()
for b in "${HOST_BINS[@]}"; do
    p=$(command -v "$b") || die "$b not found on the host"
    real=$(readlink -f "$p")
    # Keep the path the host uses (e.g. /usr/sbin/ip) but copy the real file.
    rm -f "${R:?}$p"
    mkdir -p "$(dirname "$R$p")"
    cp -L "$real" "$R$p"
    copy_libs "$real"
    bin_path[$b]=$p
done

# modules: resolve dependencies with the unpacked tree's modules.dep
declare -A mod_files=()
add_module() {
    local name=$1 mandatory=$2 out line f
    if ! out=$(modprobe -d "$KROOT" -S "$KVER" --show-depends "$name" 2>&1); then
        if [ "$mandatory" = 1 ]; then die "kernel $KVER has no module $name: $out"; fi
        log "note: kernel $KVER has no module $name (skipped)"
        return 0
    fi
    while read -r line; do
        case $line in
            insmod\ *)
                f=${line#insmod }
                f=${f%% *}
                mod_files[$f]=1
                ;;
        esac
    done <<<"$out"
}
is_mandatory() {
    local m
    for m in "${MANDATORY_MODULES[@]}"; do [ "$m" = "$1" ] && return 0; done
    return 1
}
for m in "${WANTED_MODULES[@]}"; do
    if is_mandatory "$m"; then add_module "$m" 1; else add_module "$m" 0; fi
done
schedulers=()
ipvs_mods=()
while read -r f; do
    base=$(basename "$f")
    name=${base%%.ko*}
    ipvs_mods+=("$name")
    add_module "$name" 1
    case $name in
        ip_vs_ftp | ip_vs_pe_*) ;;
        ip_vs_*) schedulers+=("${name#ip_vs_}") ;;
    esac
done < <(find "$MODDIR/kernel/net/netfilter/ipvs" -name 'ip_vs_*.ko*' | sort)
[ "${#schedulers[@]}" -gt 0 ] || die "kernel $KVER has no IPVS schedulers"

for f in "${!mod_files[@]}"; do
    # modprobe -d prints paths inside $KROOT (with or without the prefix).
    src=$f
    [ -e "$src" ] || src=$KROOT$f
    [ -e "$src" ] || die "module file $f not found"
    rel=${src#"$KROOT"}
    rel=${rel#/usr}
    dst=$R$rel
    mkdir -p "$(dirname "$dst")"
    case $src in
        *.ko.xz) xz -dc "$src" >"${dst%.xz}" ;;
        *.ko.zst) zstd -qdc "$src" >"${dst%.zst}" ;;
        *.ko.gz) gzip -dc "$src" >"${dst%.gz}" ;;
        *) cp "$src" "$dst" ;;
    esac
done
# Drop the appended module signatures: verifying one costs ~45 ms under TCG
# (the kernel does not enforce signatures without Secure Boot; it only taints
# itself with "E", which vm/lib.sh documents).  Format: module, then struct
# module_signature (12 bytes, big-endian sig_len in the last 4), then the
# 28-byte magic "~Module signature appended~\n".
strip_module_sig() {
    local f=$1 size sig_len
    tail -c 28 "$f" | cmp -s - <(printf '~Module signature appended~\n') || return 0
    size=$(stat -c %s "$f")
    sig_len=$(tail -c 32 "$f" | head -c 4 | od -An -tu1 | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
    truncate -s $((size - 40 - sig_len)) "$f"
}
if [ -z "${LVSD_VM_KEEP_MODULE_SIGS:-}" ]; then
    while read -r f; do strip_module_sig "$f"; done < <(find "$R/lib/modules" -name '*.ko')
fi
for f in modules.builtin modules.builtin.modinfo modules.order; do
    [ -f "$MODDIR/$f" ] && cp "$MODDIR/$f" "$R/lib/modules/$KVER/"
done
depmod -b "$R" "$KVER" || die "depmod on the initramfs tree failed"

# configuration read by /init and vm/lib.sh
mkdir -p "$R/etc/lvsd-vm"
echo "$KVER" >"$R/etc/lvsd-vm/kernel"
printf "%s\n" "${BOOT_MODULES[@]}" >"$R/etc/lvsd-vm/boot-modules"
echo "${schedulers[*]}" >"$R/etc/lvsd-vm/schedulers"
{
    echo "IP=${bin_path[ip]}"
    echo "SS=${bin_path[ss]}"
    echo "NFT=${bin_path[nft]}"
    echo "IPVSADM=${bin_path[ipvsadm]}"
    echo "KEEPALIVED=${bin_path[keepalived]}"
    echo "SOCAT=${bin_path[socat]}"
} >"$R/etc/lvsd-vm/paths"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
echo "127.0.0.1 localhost lvsd-vm" >"$R/etc/hosts"
echo "lvsd-vm" >"$R/etc/hostname"
printf 'tcp 6 TCP\nudp 17 UDP\nsctp 132 SCTP\n' | awk '{ print $1 "\t" $2 "\t" $3 }' >"$R/etc/protocols"
printf 'http\t80/tcp\nhttps\t443/tcp\nftp\t21/tcp\n' >"$R/etc/services"
install -m 0755 "$VM_DIR/init.sh" "$R/init"

(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$OUT/base.cpio.tmp"
mv "$OUT/base.cpio.tmp" "$OUT/base.cpio"
(cd "$R" && find . -mindepth 1 ! -type d | sed 's/^\.//' | LC_ALL=C sort) >"$OUT/base.files"
cp "$KROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
echo "$KVER" >"$OUT/kernel-version"
echo "${schedulers[*]}" >"$OUT/schedulers"
touch "$OUT/.done"
ln -sfn "images/$stamp" "$CACHE/current.tmp"
mv -T "$CACHE/current.tmp" "$CACHE/current"

# prune older images and kernels (keep the current ones)
find "$IMAGES" -mindepth 1 -maxdepth 1 -type d ! -name "$stamp" -exec rm -rf {} +
find "$CACHE/kernels" -mindepth 1 -maxdepth 1 -type d ! -name "$kernel_pkg" -exec rm -rf {} +

log "ready: kernel $KVER, image $stamp ($(du -h "$OUT/base.cpio" | cut -f1) base initramfs), IPVS schedulers: ${schedulers[*]}"
log "IPVS modules: ${ipvs_mods[*]}"
