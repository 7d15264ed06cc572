#!/usr/bin/env bash
# Prepares Wine for the Windows end-to-end test and prints a directory
# holding `wine64` (a link to Wine's loader) and `bcryptprimitives.dll`.
#
#   tools/wine.sh
#
# Debian 12's Wine (8.0) lacks bcryptprimitives.dll, whose ProcessPrng every
# Go >= 1.22 Windows binary needs at start-up; tools/wine/bcryptprimitives.c
# is a 10-line stand-in built with MinGW that calls RtlGenRandom instead. It
# is part of the test machine's Wine, never of what ocisrc ships.
#
# Wine and MinGW come from Debian's packages: when they are missing they are
# installed with apt-get (as root, or through sudo). The result is cached
# like the other test tools, keyed by this script and the stub's source.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OCISRC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocisrc/tools}
loader=/usr/lib/wine/wine64
packages=(wine64 gcc-mingw-w64-x86-64-win32)

if [ ! -x "$loader" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
	echo "tools/wine.sh: installing ${packages[*]} from Debian's packages (once)" >&2
	sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo)
	command -v apt-get >/dev/null 2>&1 || { echo "tools/wine.sh: no apt-get: install Wine (wine64) and MinGW (x86_64-w64-mingw32-gcc) yourself" >&2; exit 1; }
	if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}" >&2; then
		"${sudo[@]}" apt-get update >&2
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}" >&2
	fi
fi

version=$(dpkg-query -W -f '${Version}' wine64 2>/dev/null | tr -c 'A-Za-z0-9.\n' '_' || echo unknown)
key=$(cat "$here/wine.sh" "$here/wine/bcryptprimitives.c" "$here/wine/bcryptprimitives.def" | sha256sum | cut -c1-12)
out=$cache/wine-$version-$key
if [ -f "$out/.complete" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.wine-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
x86_64-w64-mingw32-gcc -shared -O2 -o "$tmp/bcryptprimitives.dll" \
	"$here/wine/bcryptprimitives.c" "$here/wine/bcryptprimitives.def" -ladvapi32
ln -s "$loader" "$tmp/wine64"
touch "$tmp/.complete"
if ! mv -T "$tmp" "$out" 2>/dev/null; then
	[ -f "$out/.complete" ] || { echo "tools/wine.sh: cannot place $out" >&2; exit 1; }
fi
trap - EXIT
echo "$out"
