#!/usr/bin/env sh
# The browser test needs Debian's Chromium, and fonts that cover Persian, Hebrew and Kazakh
# (charts and screenshots) and emoji (the bot's 👍 ✅ 👥 in the screenshot). Installs them
# with apt-get when missing; does nothing otherwise.
set -eu
missing=""
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing="$missing chromium"
[ -d /usr/share/fonts/truetype/noto ] || missing="$missing fonts-noto-core"
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$missing fonts-noto-color-emoji"
[ -z "$missing" ] && exit 0
echo "installing system packages:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
