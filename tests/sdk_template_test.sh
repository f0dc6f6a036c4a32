#!/usr/bin/env bash
# The SDK as a third party gets it: install nsrig into a scratch prefix, build
# sdk/template against that prefix only (find_package(nsrig 1)), run the
# template's own tests (plugin-check and a real run), install the plugin and
# see the installed nsrig find it. Usage: sdk_template_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: needs root (the template's tests create namespaces; CI runs as root)"
  exit 77
fi
tmp=$(mktemp -d /tmp/nsrig-sdk-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/lib/cmake/nsrig/nsrigConfig.cmake"
test -f "$prefix/include/nsrig/plugin.hpp"

# A copy, as a plugin author starts: nothing of the source tree is reachable from it.
cp -r "$src/sdk/template" "$tmp/motd"
cmake -S "$tmp/motd" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" >/dev/null
ctest --test-dir "$tmp/build" --output-on-failure

# Installed next to nsrig's own plugins, it is found without --plugin-dir.
cmake --install "$tmp/build" >/dev/null  # no --prefix: the default is where that nsrig looks
"$prefix/bin/nsrig" plugins | tee "$tmp/plugins.txt"
grep -q '^motd ' "$tmp/plugins.txt"
# The in-tree plugins are installed as one bundle and a symlink per plugin.
test "$(readlink "$prefix/lib/nsrig/plugins/pid.so")" = builtin.bundle
test -f "$prefix/lib/nsrig/plugins/builtin.bundle"
for n in user pid mnt net uts ipc cgroup time hosts; do grep -q "^$n " "$tmp/plugins.txt"; done

# The package's version is the ABI major: asking for ABI 2 must fail.
mkdir "$tmp/v2"
printf 'cmake_minimum_required(VERSION 3.25)\nproject(v2 LANGUAGES CXX)\nfind_package(nsrig 2 REQUIRED)\n' \
  >"$tmp/v2/CMakeLists.txt"
if cmake -S "$tmp/v2" -B "$tmp/v2/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/v2.log" 2>&1; then
  echo "find_package(nsrig 2) succeeded against an ABI-1 SDK" >&2
  exit 1
fi
grep -q 'nsrigConfig.cmake, version: 1\.' "$tmp/v2.log"
echo "ok: template built, checked, run and installed against $prefix"
