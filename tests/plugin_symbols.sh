#!/usr/bin/env bash
# Checks built plugin files: each exports exactly the entry point (hidden
# visibility; a bundle, *.bundle, its bundle entry point) and needs no symbol
# from nsrig's core (it links only the SDK).
set -euo pipefail
fail=0
for f in "$@"; do
  want=nsrig_plugin_entry
  case "$f" in *.bundle) want=nsrig_plugin_bundle ;; esac
  exported=$(nm -D --defined-only "$f" | awk '$2 ~ /[TtDdBbWw]/ {print $3}' | grep -v '^_' || true)
  if [ "$exported" != "$want" ]; then
    echo "FAIL $f exports: $(echo "$exported" | tr '\n' ' ') (want only $want)"; fail=1
  fi
  needs=$(nm -D --undefined-only "$f" | awk '{print $2}' | c++filt | grep -E '^nsrig|nsrig::' || true)
  if [ -n "$needs" ]; then
    echo "FAIL $f needs core symbols: $needs"; fail=1
  fi
  echo "ok   $f"
done
exit $fail
