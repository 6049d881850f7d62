#!/usr/bin/env bash
# Refreshes web/static/vendor/: the Swagger UI and ReDoc files that /docs and /redoc load from the edge itself.
#
# An edge box's network reaches no CDN, so the files are committed and travel in the wheel. They come from the
# npm registry's own tarballs through `npm pack`, pinned here by version and by the integrity the registry
# published for that version: a tarball that differs stops the script. Only the files the pages load are kept,
# with each package's licence files beside them. Run it from anywhere: bash scripts/vendor-api-docs.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/web/static/vendor"

# name  version  integrity (from `npm view NAME@VERSION dist.integrity`)  files kept (paths in the tarball)
PACKAGES=(
    "swagger-ui-dist 5.35.0 sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ== swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE"
    "redoc 2.5.2 sha512-sTJfItvRkcDTojB6wdLN4M+Ua6mlZwElV21Tf8Mn7IbQF/1Os6GvgQpZyLWPGZZHbhy7GC1Or1hTMHfz1vKh5A== bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE"
)

command -v npm >/dev/null || { echo "npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for entry in "${PACKAGES[@]}"; do
    read -r name version integrity files <<<"$entry"
    mkdir -p "$work/$name"
    npm pack "$name@$version" --pack-destination "$work/$name" --json --silent >"$work/$name.json"
    got="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' "$work/$name.json")"
    if [ "$got" != "$integrity" ]; then
        echo "$name@$version: the registry's tarball has integrity $got, not the pinned $integrity" >&2
        exit 1
    fi
    tar -xzf "$work/$name"/*.tgz -C "$work/$name"
    target="$VENDOR/${name%-dist}"
    rm -rf "$target"
    mkdir -p "$target"
    for file in $files; do
        cp "$work/$name/package/$file" "$target/$(basename "$file")"
    done
    echo "$name@$version -> ${target#"$ROOT"/}"
done
