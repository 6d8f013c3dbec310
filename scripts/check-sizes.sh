#!/usr/bin/env bash
# Fails when any of our C++ sources (.cc, .h, .cu, .cuh) is longer than the
# limit (800 lines; STYLE.md asks for ~500), and prints the largest files so
# the one to split next is obvious.
#
#   scripts/check-sizes.sh            # limit 800, show the 10 largest
#   FORNAX_MAX_LINES=600 scripts/check-sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

max_lines=${FORNAX_MAX_LINES:-800}
show=${FORNAX_SHOW_LARGEST:-10}

# Tracked and untracked-but-not-ignored files, so build dirs and .venv never count.
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  '*.cc' '*.h' '*.cu' '*.cuh' | sort -u)
if [ ${#files[@]} -eq 0 ]; then
  echo "check-sizes: no C++ files found" >&2
  exit 1
fi

counts=$(for f in "${files[@]}"; do
  [ -f "$f" ] && printf '%d %s\n' "$(wc -l <"$f")" "$f"
done | sort -rn)

echo "check-sizes: ${#files[@]} files, limit $max_lines lines; largest:"
head -n "$show" <<<"$counts" | sed 's/^/  /'

too_long=$(awk -v max="$max_lines" '$1 > max' <<<"$counts")
if [ -n "$too_long" ]; then
  echo "check-sizes: FAILED, files over $max_lines lines (split them):" >&2
  sed 's/^/  /' <<<"$too_long" >&2
  exit 1
fi
echo "check-sizes: ok"
