#!/usr/bin/env bash
# Wheel-install check (run by .ci/run): build a wheel of this working tree, install it (NOT editable)
# into a fresh venv, and render one VIS/NIR pair from outside the source tree. Fails when the package
# cannot find its runtime data (the head model) without the repository next to it.
#
#   bash tools/check_wheel_install.sh            # PYTHON=python3.12 to pick the interpreter
#
# torch is installed first, pinned (torch==2.13.0, the CPU build the Makefile uses), and the wheel is
# installed with -c constraints.txt, so this never pulls CUDA wheels. Everything runs in a temporary
# directory that is removed at the end; the repository is only read.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/nirvis-wheel-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
unset PYTHONPATH NIRVIS_ASSETS

say() { echo "check_wheel_install: $*"; }
fail() { echo "check_wheel_install: FAILED: $*" >&2; exit 1; }

# 1. A copy of the tree as a clean clone would hold it (tracked + new unignored files), so stale
#    build/ or *.egg-info folders of the checkout cannot leak into the wheel.
#    Without git (an unpacked archive), everything but the usual build and venv folders.
mkdir "$WORK/src"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
     | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
     | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
else
  (cd "$REPO" && tar --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' \
     --exclude=./demo_out --exclude=.git -cf - .) | tar -xf - -C "$WORK/src"
fi

# 2. Fresh venv: pinned CPU torch first, then build and install the wheel.
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q torch==2.13.0
"$VPY" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src" || fail "building the wheel"
shopt -s nullglob
wheels=("$WORK"/dist/nirvis-*.whl)
[ "${#wheels[@]}" -eq 1 ] || fail "expected one nirvis wheel in $WORK/dist, found ${#wheels[@]}"
say "built $(basename "${wheels[0]}")"
"$VPY" -m pip install -q -c "$REPO/constraints.txt" "${wheels[0]}" || fail "installing the wheel"
rm -rf "$WORK/src"   # nothing of the source tree is left to fall back on

# 3. From a directory outside any source tree: the package data are installed, the head model loads
#    from site-packages, and the console script renders one pair.
mkdir "$WORK/outside"
cd "$WORK/outside"
"$VPY" - <<'EOF' || fail "package data check"
import importlib.resources, pathlib, sys, sysconfig
import nirvis
from nirvis.faces import load_head_model
from nirvis.faces.head_model import ASSET_DIR

site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
pkg = pathlib.Path(nirvis.__file__).resolve()
assert site in pkg.parents, f"nirvis imported from {pkg}, not from the venv's site-packages {site}"
assert (importlib.resources.files("nirvis") / "assets" / "LICENSES.md").is_file(), "LICENSES.md not installed"
model = load_head_model()
assert site in pathlib.Path(model.path).resolve().parents, f"head model read from {model.path}"
print(f"check_wheel_install: head model {model.path.name} from site-packages: "
      f"{len(model.template.vertices)} vertices, {len(model.target_names)} targets")
EOF
"$WORK/venv/bin/nirvis" render-preview --identities 1 --poses 1 --seed 0 --out pair.png || fail "render-preview"
"$VPY" - <<'EOF' || fail "rendered pair check"
import numpy as np
from PIL import Image
img = np.asarray(Image.open("pair.png").convert("L"), dtype=np.float32)
assert img.ndim == 2 and min(img.shape) >= 64, f"pair.png has shape {img.shape}"
assert img.std() > 5.0, f"pair.png looks blank (std {img.std():.2f})"
print(f"check_wheel_install: rendered pair.png {img.shape[1]}x{img.shape[0]} (grey std {img.std():.1f})")
EOF
say "OK (wheel installs and renders without the source tree)"
