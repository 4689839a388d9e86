# shellcheck shell=bash
# Sourced by scripts/test-aarch64.sh and scripts/build-pi.sh: the Debian
# toolchain that cross-builds for aarch64-unknown-linux-gnu on an x86-64 host.
#
# rustup cannot add targets on this machine kind, so Debian's rustc (which
# ships an aarch64 std as libstd-rust-web-dev:arm64) builds the target; the
# linker (gcc-aarch64-linux-gnu, also used as the C compiler for the C
# examples) and QEMU come from Debian too. The apt install runs only when
# something is missing (needs root or sudo). Linker, runner and static
# linking are set in .cargo/config.toml.
#
# After `aarch64_toolchain`: AARCH64_TARGET, RUSTC (exported: Debian's rustc)
# and AARCH64_CC are set, and everything is installed.

AARCH64_TARGET=aarch64-unknown-linux-gnu
AARCH64_DEB_RUSTC=/usr/bin/rustc
AARCH64_CC=aarch64-linux-gnu-gcc

aarch64_have_toolchain() {
    [ -x "$AARCH64_DEB_RUSTC" ] || return 1
    local sysroot
    sysroot=$("$AARCH64_DEB_RUSTC" --print sysroot) || return 1
    compgen -G "$sysroot/lib/rustlib/$AARCH64_TARGET/lib/libstd-*.rlib" >/dev/null || return 1
    command -v "$AARCH64_CC" >/dev/null || return 1
    [ -e /usr/aarch64-linux-gnu/lib/libc.a ] || return 1
    command -v qemu-aarch64-static >/dev/null || return 1
}

# Installs what is missing, exports RUSTC and prints the versions.
aarch64_toolchain() {
    if ! aarch64_have_toolchain; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo dpkg --add-architecture arm64
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu \
            libc6-dev-arm64-cross qemu-user-static
        aarch64_have_toolchain || {
            echo "aarch64 toolchain still incomplete after install" >&2
            return 1
        }
    fi
    export RUSTC=$AARCH64_DEB_RUSTC
    echo "rustc for $AARCH64_TARGET: $("$RUSTC" --version)"
    echo "cargo: $(cargo --version)"
    echo "cc for $AARCH64_TARGET: $("$AARCH64_CC" --version | head -n1)"
    echo "qemu: $(qemu-aarch64-static --version | head -n1)"
}
