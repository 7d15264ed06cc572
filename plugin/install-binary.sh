#!/usr/bin/env sh
# Puts the ocisrc binary into $HELM_PLUGIN_DIR/bin when Helm installs the
# plugin (its install and update hook).
#
#   - a release archive already carries bin/ocisrc: nothing to do (unless --force);
#   - SKIP_BIN_INSTALL=1: nothing to do (a local install after `make plugin`);
#   - otherwise the release archive for this OS and architecture is downloaded
#     from $OCISRC_RELEASE_URL (default: the GitHub releases of ocisrc), its
#     sha256 is checked against the release's checksums.txt, and the binary is
#     extracted.
set -eu

dir=${HELM_PLUGIN_DIR:?HELM_PLUGIN_DIR is not set: run this through helm plugin install}
force=${1:-}

if [ "${SKIP_BIN_INSTALL:-}" = "1" ]; then
	echo "ocisrc: SKIP_BIN_INSTALL=1, not installing the binary"
	exit 0
fi
if [ -x "$dir/bin/ocisrc" ] && [ "$force" != "--force" ]; then
	exit 0
fi

version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$dir/plugin.yaml" | head -n 1)
[ -n "$version" ] || { echo "ocisrc: no version in $dir/plugin.yaml" >&2; exit 1; }

case "$(uname -s)" in
Linux) os=linux ;;
Darwin) os=darwin ;;
*) echo "ocisrc: unsupported OS $(uname -s): install the binary yourself into $dir/bin" >&2; exit 1 ;;
esac
case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) echo "ocisrc: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

base=${OCISRC_RELEASE_URL:-https://github.com/ocisrc/ocisrc/releases/download}/v$version
archive="ocisrc_${version}_${os}_${arch}.tar.gz"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL -o "$2" "$1"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -O "$2" "$1"
	else
		echo "ocisrc: neither curl nor wget is installed" >&2
		return 1
	fi
}
fetch "$base/$archive" "$tmp/$archive" || { echo "ocisrc: downloading $base/$archive failed" >&2; exit 1; }
fetch "$base/checksums.txt" "$tmp/checksums.txt" || { echo "ocisrc: downloading $base/checksums.txt failed" >&2; exit 1; }

want=$(awk -v f="$archive" '$2 == f { print $1 }' "$tmp/checksums.txt")
if command -v sha256sum >/dev/null 2>&1; then
	got=$(sha256sum "$tmp/$archive" | awk '{print $1}')
else
	got=$(shasum -a 256 "$tmp/$archive" | awk '{print $1}')
fi
if [ -z "$want" ] || [ "$want" != "$got" ]; then
	echo "ocisrc: checksum mismatch for $archive (expected ${want:-none}, got $got): not installing" >&2
	exit 1
fi

mkdir -p "$tmp/x" "$dir/bin"
tar -xzf "$tmp/$archive" -C "$tmp/x" ocisrc
mv "$tmp/x/ocisrc" "$dir/bin/ocisrc.new"
chmod 0755 "$dir/bin/ocisrc.new"
mv "$dir/bin/ocisrc.new" "$dir/bin/ocisrc"
echo "ocisrc: installed $version ($os/$arch) into $dir/bin"
