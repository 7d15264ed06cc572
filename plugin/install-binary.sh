#!/usr/bin/env sh
# Puts the ocisrc binary into $HELM_PLUGIN_DIR/bin when Helm installs the
# plugin (its install hook) or updates it (update hook: --force).
#
#   - SKIP_BIN_INSTALL=1: nothing to do (a local install after `make plugin`);
#   - bin/ocisrc is already the plugin's version (a release archive carries
#     it; an earlier install from the same directory left it): nothing to
#     download, and the hook says so;
#   - otherwise the release archive for this OS and architecture is downloaded
#     from $OCISRC_RELEASE_URL (default: the GitHub releases of ocisrc), its
#     sha256 is checked against the release's checksums.txt, and the binary is
#     extracted.
#
# A failed install hook leaves nothing behind: Helm has already registered the
# plugin when it runs the hook, and would say "plugin already exists" on the
# next try, so the hook removes what this install added (the link to a
# directory, or the copy Helm made of an archive). A failed update keeps the
# binary that was there.
set -eu

dir=${HELM_PLUGIN_DIR:?HELM_PLUGIN_DIR is not set: run this through helm plugin install}
force=${1:-}
tmp=

yaml() { sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$dir/plugin.yaml" | head -n 1; }
name=$(yaml name)
version=$(yaml version)

# Where bin/ really is: Helm installs a directory as a link to it, so the
# binary lands in the directory the user installed from.
where=$dir
if [ -L "$dir" ]; then
	where=$(cd "$dir" && pwd -P)
fi

unregister() {
	case "$name" in
	ocisrc | ocisrc-getter) ;;
	*) return 0 ;; # not our plugin.yaml: touch nothing
	esac
	if [ -L "$dir" ]; then
		rm -f "$dir"
		echo "ocisrc: removed the plugin's link $dir ($where is untouched): helm plugin install can be run again" >&2
	elif [ -d "$dir" ]; then
		rm -rf "$dir"
		echo "ocisrc: removed the half-installed plugin $dir: helm plugin install can be run again" >&2
	fi
}

finish() {
	status=$?
	[ -z "$tmp" ] || rm -rf "$tmp"
	if [ "$status" -ne 0 ] && [ "$force" != "--force" ]; then
		unregister
	fi
	exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${SKIP_BIN_INSTALL:-}" = "1" ]; then
	echo "ocisrc: SKIP_BIN_INSTALL=1, not installing the binary"
	exit 0
fi
[ -n "$version" ] || { echo "ocisrc: no version in $dir/plugin.yaml" >&2; exit 1; }

if [ -x "$dir/bin/ocisrc" ] && [ "$force" != "--force" ]; then
	have=$("$dir/bin/ocisrc" version 2>/dev/null | awk 'NR == 1 { print $2 }') || have=
	if [ "$have" = "v$version" ]; then
		echo "ocisrc: $where/bin/ocisrc is already v$version: not downloading it (helm plugin update $name downloads it again and checks its sha256)"
		exit 0
	fi
	echo "ocisrc: $where/bin/ocisrc is ${have:-of an unknown version}, not v$version: downloading v$version"
fi

case "$(uname -s)" in
Linux) os=linux ;;
Darwin) os=darwin ;;
*) echo "ocisrc: unsupported OS $(uname -s): install the binary yourself into $where/bin" >&2; exit 1 ;;
esac
case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) echo "ocisrc: unsupported architecture $(uname -m): install the binary yourself into $where/bin" >&2; exit 1 ;;
esac

base=${OCISRC_RELEASE_URL:-https://github.com/ocisrc/ocisrc/releases/download}/v$version
archive="ocisrc_${version}_${os}_${arch}.tar.gz"
tmp=$(mktemp -d)

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

mkdir -p "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" ocisrc
mkdir -p "$dir/bin"
mv "$tmp/x/ocisrc" "$dir/bin/ocisrc.new"
chmod 0755 "$dir/bin/ocisrc.new"
mv "$dir/bin/ocisrc.new" "$dir/bin/ocisrc"
echo "ocisrc: installed $version ($os/$arch) into $where/bin"
