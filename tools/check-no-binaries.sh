#!/usr/bin/env bash
# Fails when a file tracked by git is a compiled binary (ELF, Mach-O, PE or
# WebAssembly): build output belongs in .gitignore, never in the history.
# `make lint` runs it.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bad=()
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
	case $magic in
	7f454c46*) bad+=("$f (ELF)") ;;
	feedface | feedfacf | cefaedfe | cffaedfe | cafebabe) bad+=("$f (Mach-O)") ;;
	4d5a*) bad+=("$f (PE/Windows)") ;;
	0061736d) bad+=("$f (WebAssembly)") ;;
	esac
done < <(git ls-files -z)
if [ ${#bad[@]} -gt 0 ]; then
	echo "compiled binaries are tracked by git (remove them with git rm --cached and ignore them):" >&2
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
