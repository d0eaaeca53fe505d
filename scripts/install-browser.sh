#!/usr/bin/env bash
# Debian's Chromium, and fonts for Cyrillic, emoji and alchemical symbols, for the browser tests
# and the explorer benchmark (Playwright drives /usr/bin/chromium; its own browser download does
# not work offline). Installs only what is missing; does nothing when all is there.
set -euo pipefail

PACKAGES=(chromium fonts-dejavu-core fonts-noto-color-emoji fonts-symbola)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ] && [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]:-chromium}" >/dev/null
/usr/bin/chromium --version
