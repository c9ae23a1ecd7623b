#!/usr/bin/env bash
# The system tools the suite drives as real parts: redis-server (isolated Redis per test file),
# nginx (the cluster end-to-end test), Debian's python3-socketio and chromium (stock clients in
# other languages), docker-compose (static check of the compose file), an emoji font (the demo's screenshots). Installs what is missing
# when it can (root with apt-get); otherwise says what to install. Run by `npm test` (pretest) and .ci/run.
set -uo pipefail

declare -A need_for=(
  [redis-server]=redis-server
  [nginx]=nginx
  [chromium]=chromium
  [docker-compose]=docker-compose
)
missing=()
for cmd in "${!need_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need_for[$cmd]}")
done
/usr/bin/python3 -c 'import socketio, requests, websocket' >/dev/null 2>&1 || missing+=(python3-socketio python3-requests python3-websocket)
# The demo page's reactions are emoji: without a colour emoji font its screenshots show empty boxes.
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test tools: ${missing[*]}"
  apt-get update -qq >/dev/null
  # nginx's package starts no daemon here (no init system); policy-rc.d makes sure of it elsewhere.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "could not install: ${missing[*]}" >&2; exit 1; }
else
  echo "missing test tools (install them, e.g. apt-get install ${missing[*]}): tests that need them will fail" >&2
fi
exit 0
