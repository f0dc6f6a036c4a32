#!/usr/bin/env bash
# The main job, as far as it goes today: builds nsrig and shows one instance
# of examples/profiles/minimal.toml (all six namespace plugins) next to the
# host: hostname, processes, network links, user map, mounts. Then shows that
# nothing was left behind. The two-web-server demo (nginx and Apache httpd
# side by side) replaces this once networking, root filesystems and detached
# instances have landed (issues 3-6).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it installs packages and creates namespaces)" >&2
  exit 1
fi
scripts/install-deps.sh
echo "demo: building nsrig (the first build takes a few minutes on 2 cores)..."
cmake --preset ci >/dev/null
cmake --build --preset ci >/dev/null
nsrig=build/ci/bin/nsrig
profile=examples/profiles/minimal.toml

show() {
  echo "hostname:  $(hostname)"
  echo "uid_map:   $(tr -s ' ' < /proc/self/uid_map | sed 's/^ //')"
  echo "processes: $(ls /proc | grep -c '^[0-9]') (PID 1 is $(cat /proc/1/comm))"
  echo "links:     $(ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')"
  echo "mounts:    $(wc -l < /proc/self/mountinfo) (/tmp is $(findmnt -no FSTYPE /tmp || echo 'not a mount point'))"
}
export -f show

echo "== the plan for $profile"
$nsrig explain "$profile" | sed -n '/# step plan/,$p'
echo
echo "== the host"
show
echo
echo "== inside an instance of $profile"
$nsrig run -p "$profile" -- bash -c show
echo
echo "== after the instance exited"
show
leftover=$(pgrep -c nsrig-init || true)
echo "nsrig-init processes left: ${leftover:-0}"
