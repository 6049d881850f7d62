# Shared by ./floorgate and ./run-tests: the virtual environment and the system packages FloorGate needs.
# Sourced, not run. Every step prints what it does, and is skipped when already done.

FG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FLOORGATE_VENV:-$FG_ROOT/.venv}"

say() { printf '[floorgate] %s\n' "$*" >&2; }

# _installed STAMP: FloorGate was installed with that stamp's extras since pyproject.toml last changed.
_installed() { [ -f "$1" ] && [ ! "$FG_ROOT/pyproject.toml" -nt "$1" ]; }

# ensure_venv EXTRAS: create .venv with Python >= 3.11 and install the project with EXTRAS: "dev" for
# the tests, "demo" for the demo's embedded broker, "hid" for USB HID scanners, "" for `floorgate run`.
ensure_venv() {
    local extras="$1" stamp spec py
    py="${PYTHON:-}"
    if [ -z "$py" ]; then
        for candidate in python3.13 python3.12 python3.11 python3; do
            if command -v "$candidate" >/dev/null 2>&1 &&
               "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
                py="$candidate"; break
            fi
        done
    fi
    if [ -z "$py" ]; then
        say "FloorGate needs Python 3.11 or newer; none was found on PATH (set PYTHON=/path/to/python3.11)."
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtual environment in $VENV with $("$py" --version)"
        "$py" -m venv "$VENV"
    fi
    spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    stamp="$VENV/.floorgate-installed-${extras:-base}"
    # [dev] holds every other extra ([hid], [demo]): a venv made by ./run-tests serves ./floorgate as is.
    if _installed "$VENV/.floorgate-installed-dev"; then return 0; fi
    # Any install holds what `floorgate run` needs ("" asks for nothing more).
    if [ -z "$extras" ] && _installed "$VENV/.floorgate-installed-demo"; then return 0; fi
    if ! _installed "$stamp"; then
        say "installing FloorGate${extras:+ with [$extras]} into $VENV (first run takes a minute)"
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$FG_ROOT/$spec" >&2
        touch "$stamp"
    fi
}

# as_root CMD...: run as root, through sudo when we are not root.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else say "need root to run: $* (install sudo or run as root)"; return 1
    fi
}

APT_UPDATED=""
# ensure_apt BINARY PACKAGE...: install Debian packages when BINARY is missing.
ensure_apt() {
    local binary="$1"; shift
    if command -v "$binary" >/dev/null 2>&1 || [ -x "$binary" ]; then return 0; fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "$binary is missing and this machine has no apt-get: install $* with your package manager"
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        as_root apt-get update -qq >&2
        APT_UPDATED=1
    fi
    say "installing $* (for $binary)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
