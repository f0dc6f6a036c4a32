#!/usr/bin/env bash
# The main job: two web servers, nginx and Apache httpd, on one host, each in
# its own instance (user, pid, mnt, net, uts and ipc namespaces), each seeing
# only itself. Shows the host and both instances side by side, fetches each
# server's page from the host and from the other instance, then stops both
# and shows that nothing is left behind. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it installs packages and creates namespaces)" >&2
  exit 1
fi
scripts/install-deps.sh
echo "demo: building nsrig (the first build takes a few minutes on 2 cores)..."
cmake --preset ci >/dev/null
# Only what the demo runs: the tests and benchmarks are test.sh's to build.
cmake --build --preset ci --target nsrig nsrig_plugins >/dev/null
nsrig=$PWD/build/ci/bin/nsrig
names=(nginx httpd)

cleanup() { for n in "${names[@]}"; do "$nsrig" rm -f "$n" >/dev/null 2>&1 || true; done; }
cleanup              # a demo interrupted earlier leaves nothing in the way
trap cleanup EXIT

w=52
side_by_side() {     # side_by_side TITLE HOST-CMD INSTANCE-CMD: three columns
  local dir; dir=$(mktemp -d)
  { echo "[host]"; bash -c "$2" 2>&1; } > "$dir/0"
  local i=1
  for n in "${names[@]}"; do
    { echo "[$n]"; "$nsrig" exec "$n" -- sh -c "$3" 2>&1; } > "$dir/$i"
    i=$((i + 1))
  done
  echo "== $1"
  for f in 0 1 2; do expand "$dir/$f" > "$dir/$f.x"; done
  paste -d'\t' "$dir/0.x" "$dir/1.x" "$dir/2.x" |
    awk -F'\t' -v w=$w '{ printf "%-*.*s %-*.*s %-*.*s\n", w-1, w-1, $1, w-1, w-1, $2, w-1, w-1, $3 }' | sed 's/ *$//'
  echo
  rm -rf "$dir"
}

echo "== starting both instances"
"$nsrig" run -d --name nginx -p examples/profiles/nginx.toml
"$nsrig" run -d --name httpd -p examples/profiles/httpd.toml
declare -A addr
for n in "${names[@]}"; do
  addr[$n]=$("$nsrig" inspect "$n" | sed -n 's/.*"address": "\([0-9.]*\)\/.*/\1/p')
done
"$nsrig" ps
echo

side_by_side "processes (ps -eo pid,user,comm)" \
  "ps -eo pid,user,comm | grep -E ' (nginx|apache2)$' | head -8" "ps -eo pid,user,comm"
side_by_side "network (ip -brief -4 addr)" "ip -brief -4 addr" "ip -brief -4 addr"
side_by_side "hostname" "hostname" "hostname"
side_by_side "mounts (findmnt -no TARGET,FSTYPE for / and /proc)" \
  "findmnt -no TARGET,FSTYPE /; findmnt -no TARGET,FSTYPE /proc; echo \"nsrig mounts here: \$(grep -c nsrig /proc/self/mountinfo)\"" \
  "findmnt -no TARGET,FSTYPE /; findmnt -no TARGET,FSTYPE /proc; echo \"mount count: \$(wc -l < /proc/self/mountinfo)\""

for n in "${names[@]}"; do
  echo "== nsrig ns $n"
  "$nsrig" ns "$n"
  echo
done

title() { grep -o '<title>[^<]*</title>' | sed 's/<[^>]*>//g'; }
fetch() {  # fetch URL: retried while the server starts (bounded)
  for _ in $(seq 50); do
    if out=$(curl -s --max-time 2 "$1"); then printf '%s' "$out"; return 0; fi
    sleep 0.1
  done
  return 1
}
echo "== HTTP GET from the host"
for n in "${names[@]}"; do
  echo "http://${addr[$n]}/ ($n): $(fetch "http://${addr[$n]}/" | title)"
done
echo "== HTTP GET between the instances"
echo "nginx -> http://${addr[httpd]}/: $("$nsrig" exec nginx -- curl -s --max-time 5 "http://${addr[httpd]}/" | title)"
echo "httpd -> http://${addr[nginx]}/: $("$nsrig" exec httpd -- curl -s --max-time 5 "http://${addr[nginx]}/" | title)"
echo

echo "== stopping and removing both"
for n in "${names[@]}"; do "$nsrig" stop "$n" >/dev/null; "$nsrig" rm "$n"; done
trap - EXIT
echo "== what is left on the host"
echo "server processes: $(pgrep -x 'nginx|apache2' | wc -l)"
echo "nsr* links:       $(ip -o link show | grep -c ': nsr' || true)"
echo "nsrig mounts:     $(grep -c nsrig /proc/self/mountinfo || true)"
echo "state and leases: $(find "${NSRIG_STATE_DIR:-/run/nsrig}" /run/nsrig -mindepth 1 2>/dev/null | wc -l)"
echo "instances:        $("$nsrig" ps | tail -n +2 | wc -l)"
