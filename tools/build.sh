#!/usr/bin/env bash
# Builds one test tool from its pinned module under tools/NAME (kube-apiserver
# and kubectl: tools/kubernetes) and prints the directory that holds its
# binaries.
#
#   tools/build.sh NAME      NAME: kube-apiserver kubectl etcd helm3 helm4 krew golangci-lint cosign notation
#
# Each tool is built once and kept in a cache outside the checkout, keyed by its
# version and by the hash of its go.mod, go.sum and how this script builds it
# (packages, linker flags, Go version), so a fresh clone (CI) reuses what an
# earlier run built, and adding a tool here rebuilds no other:
#
#   ${OCISRC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocisrc/tools}/NAME-VERSION-KEY/
#
# Nothing is downloaded but Go modules through the configured Go module proxy.
set -euo pipefail

name=${1:?usage: tools/build.sh NAME}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
moddir=$here/$name
case $name in kube-apiserver | kubectl) moddir=$here/kubernetes ;; esac # one module, one release
[ -f "$moddir/go.mod" ] || { echo "tools/build.sh: no module for $name" >&2; exit 2; }
cache=${OCISRC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ocisrc/tools}

# What to build: "package=binary" pairs, the module whose version names the
# cache entry, and the linker flags that stamp that version.
ldflags=()
case $name in
kube-apiserver)
	module=k8s.io/kubernetes
	targets=(k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver) ;;
kubectl)
	module=k8s.io/kubernetes
	targets=(k8s.io/kubernetes/cmd/kubectl=kubectl) ;;
etcd)
	module=go.etcd.io/etcd/server/v3
	targets=(go.etcd.io/etcd/server/v3=etcd) ;;
helm3)
	module=helm.sh/helm/v3
	targets=(helm.sh/helm/v3/cmd/helm=helm) ;;
helm4)
	module=helm.sh/helm/v4
	targets=(helm.sh/helm/v4/cmd/helm=helm) ;;
krew)
	module=sigs.k8s.io/krew
	targets=(sigs.k8s.io/krew/cmd/krew=kubectl-krew sigs.k8s.io/krew/cmd/validate-krew-manifest=validate-krew-manifest) ;;
golangci-lint)
	module=github.com/golangci/golangci-lint/v2
	targets=(github.com/golangci/golangci-lint/v2/cmd/golangci-lint=golangci-lint) ;;
cosign)
	module=github.com/sigstore/cosign/v3
	targets=(github.com/sigstore/cosign/v3/cmd/cosign=cosign) ;;
notation)
	module=github.com/notaryproject/notation
	targets=(github.com/notaryproject/notation/cmd/notation=notation) ;;
*)
	echo "tools/build.sh: unknown tool $name" >&2; exit 2 ;;
esac

cd "$moddir"
version=$(go list -m -f '{{.Version}}' "$module")
case $name in
kube-apiserver | kubectl)
	minor=${version#v1.}; minor=${minor%%.*}
	ldflags=(-X "k8s.io/component-base/version.gitVersion=$version"
		-X k8s.io/component-base/version.gitMajor=1
		-X "k8s.io/component-base/version.gitMinor=$minor"
		-X k8s.io/component-base/version.gitTreeState=clean) ;;
helm3) ldflags=(-X "helm.sh/helm/v3/internal/version.version=$version" -X helm.sh/helm/v3/internal/version.gitTreeState=clean) ;;
helm4) ldflags=(-X "helm.sh/helm/v4/internal/version.version=$version" -X helm.sh/helm/v4/internal/version.gitTreeState=clean) ;;
krew) ldflags=(-X "sigs.k8s.io/krew/internal/version.gitTag=$version") ;;
golangci-lint) ldflags=(-X "main.version=${version#v}") ;;
cosign) ldflags=(-X "sigs.k8s.io/release-utils/version.gitVersion=$version" -X sigs.k8s.io/release-utils/version.gitTreeState=clean) ;;
notation) ldflags=(-X github.com/notaryproject/notation/internal/version.BuildMetadata=) ;;
esac

key=$( { cat go.mod go.sum; printf '%s\n' "$name" "${targets[@]}" "${ldflags[@]}" "$(go env GOVERSION)"; } | sha256sum | cut -c1-12)
out=$cache/$name-$version-$key
if [ -f "$out/.complete" ]; then
	echo "$out"
	exit 0
fi

echo "tools/build.sh: building $name $version into $out (once; later runs reuse it)" >&2
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.$name-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for t in "${targets[@]}"; do
	pkg=${t%%=*} bin=${t#*=}
	go build -ldflags "${ldflags[*]:-}" -o "$tmp/$bin" "$pkg"
done
touch "$tmp/.complete"
# Another run may have finished the same entry meanwhile; either copy is good.
if ! mv -T "$tmp" "$out" 2>/dev/null; then
	[ -f "$out/.complete" ] || { echo "tools/build.sh: cannot place $out" >&2; exit 1; }
fi
trap - EXIT
echo "$out"
