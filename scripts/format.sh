#!/usr/bin/env bash
# clang-format over our C++ sources (.clang-format at the top: Google style,
# 100 columns).
#
#   scripts/format.sh           # check only: lists files that need formatting, exit 1 if any
#   scripts/format.sh --fix     # rewrite them in place
#   scripts/format.sh [--fix] FILE...   # only these files
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
if [ "${1:-}" = "--fix" ]; then
  fix=1
  shift
fi
if ! command -v clang-format >/dev/null 2>&1; then
  echo "format: clang-format not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
    '*.cc' '*.h' '*.cu' '*.cuh' | sort -u)
fi

unformatted=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if [ "$fix" = 1 ]; then
    clang-format -i --style=file "$f"
  elif ! clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
    unformatted+=("$f")
  fi
done

if [ "$fix" = 1 ]; then
  echo "format: formatted ${#files[@]} files"
elif [ ${#unformatted[@]} -gt 0 ]; then
  echo "format: ${#unformatted[@]} of ${#files[@]} files need clang-format (run scripts/format.sh --fix):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
else
  echo "format: ${#files[@]} files ok"
fi
