#!/usr/bin/env bash
# Builds the Python package into a fresh venv and runs its pytest suite (called by .ci/run).
# DPC_PYTHON_PROFILE picks the cargo profile of the build (default dev: it reuses what `cargo test` built).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
venv="$work/venv"
# maturin runs as a program from the venv (the build is not isolated, so it reuses this venv's maturin).
export PATH="$venv/bin:$PATH"

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check maturin pytest dynamic-prefetching-cache==0.1.2
# The side-by-side tests skip without the original; here they must run.
"$venv/bin/python" -c "import dynamic_prefetching_cache"
MATURIN_PEP517_ARGS="--profile ${DPC_PYTHON_PROFILE:-dev}" \
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation "$here"

cd "$here"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    # pytest's "no tests collected" is a failure here, never a pass.
    echo "ci.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
