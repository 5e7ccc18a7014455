#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and etcd from their Go modules with this
# machine's Go toolchain, once per version, into a cache outside the repository. Prints the bin directory.
# `build_binaries.sh helm` builds only helm (for rendering the chart in tests) and prints its directory.
# `build_binaries.sh kuberay` builds only KubeRay's own operator (the reference that tests and benchmarks
# compare against, never shipped) with its CRDs and samples beside it, and prints its directory.
# `build_binaries.sh redis` unpacks Debian's redis-server and redis-tools (no Go needed) and prints the
# directory of its redis-server and redis-cli.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${KUBERAY_PY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kuberay-py}"
k8s_dir="$cache/kubernetes-$KUBERNETES_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"
helm_dir="$cache/helm-$HELM_VERSION"
kuberay_dir="$cache/kuberay-$KUBERAY_VERSION"
# An apt version holds ':' and '~', which do not belong in a directory name.
redis_dir="$cache/redis-${REDIS_VERSION//[^A-Za-z0-9.+-]/_}"
log_dir="$cache/logs"
mkdir -p "$log_dir"

die() { echo "build-binaries: $*" >&2; exit 1; }
if [ "${1:-}" != redis ]; then
  command -v go >/dev/null 2>&1 || die "Go is not installed; install Go 1.24 or newer to build the local control plane"
fi

build_kubernetes() {
  local work="$cache/build/kubernetes-$KUBERNETES_VERSION" staging_ver gomod
  local targets=(kube-apiserver kube-controller-manager kube-scheduler)
  local missing=0
  for t in "${targets[@]}"; do [ -x "$k8s_dir/$t" ] || missing=1; done
  [ "$missing" = 1 ] || return 0
  echo "building Kubernetes $KUBERNETES_VERSION (first run only; takes several minutes)" >&2
  mkdir -p "$work" "$k8s_dir"
  staging_ver="v0.${KUBERNETES_VERSION#v1.}"
  # k8s.io/kubernetes points its staging modules at ./staging; pin each to the published v0.X.Y instead.
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  {
    echo "module kuberaypy.local/kubernetes-build"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
      | awk -v v="$staging_ver" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$work/go.mod"
  printf 'package build\n' > "$work/doc.go"
  local ldflags="-s -w"
  local ver="$KUBERNETES_VERSION" minor
  minor="$(echo "$ver" | cut -d. -f2)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (
    cd "$work"
    for t in "${targets[@]}"; do
      go get "k8s.io/kubernetes/cmd/$t@$KUBERNETES_VERSION" >>"$log_dir/kubernetes.log" 2>&1
    done
    for t in "${targets[@]}"; do
      echo "  go build $t" >&2
      CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$k8s_dir/$t.tmp" "k8s.io/kubernetes/cmd/$t" \
        >>"$log_dir/kubernetes.log" 2>&1
      mv "$k8s_dir/$t.tmp" "$k8s_dir/$t"
    done
  ) || die "building Kubernetes $KUBERNETES_VERSION failed; see $log_dir/kubernetes.log"
}

build_etcd() {
  local work="$cache/build/etcd-$ETCD_VERSION"
  [ -x "$etcd_dir/etcd" ] && return 0
  echo "building etcd $ETCD_VERSION (first run only)" >&2
  mkdir -p "$work" "$etcd_dir"
  cat > "$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  printf 'module kuberaypy.local/etcd-build\n\ngo %s\n' \
    "$(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')" > "$work/go.mod"
  (
    cd "$work"
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >>"$log_dir/etcd.log" 2>&1
    go mod tidy >>"$log_dir/etcd.log" 2>&1
    CGO_ENABLED=0 go build -ldflags "-s -w" -o "$etcd_dir/etcd.tmp" . >>"$log_dir/etcd.log" 2>&1
    mv "$etcd_dir/etcd.tmp" "$etcd_dir/etcd"
  ) || die "building etcd $ETCD_VERSION failed; see $log_dir/etcd.log"
}

build_helm() {
  [ -x "$helm_dir/helm" ] && return 0
  echo "building helm $HELM_VERSION (first run only)" >&2
  mkdir -p "$helm_dir"
  # helm's go.mod has no replace directives, so `go install pkg@version` builds it as released; the -X flag
  # gives `helm version` the real version instead of "main".
  (
    GOBIN="$helm_dir/.tmp" CGO_ENABLED=0 go install \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >>"$log_dir/helm.log" 2>&1
    mv "$helm_dir/.tmp/helm" "$helm_dir/helm"
    rmdir "$helm_dir/.tmp"
  ) || die "building helm $HELM_VERSION failed; see $log_dir/helm.log"
}

build_kuberay() {
  [ -x "$kuberay_dir/ray-operator" ] && [ -d "$kuberay_dir/crd" ] && [ -d "$kuberay_dir/samples" ] && return 0
  echo "building KubeRay's operator $KUBERAY_VERSION (first run only; takes a few minutes)" >&2
  mkdir -p "$kuberay_dir"
  local module="github.com/ray-project/kuberay/ray-operator" src
  # The module has no replace directives, so `go install pkg@version` builds it as released.
  (
    GOBIN="$kuberay_dir/.tmp" CGO_ENABLED=0 go install -ldflags "-s -w" "$module@$KUBERAY_VERSION" \
      >>"$log_dir/kuberay.log" 2>&1
    src="$(go mod download -json "$module@$KUBERAY_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
    [ -d "$src/config/crd/bases" ] || { echo "no CRDs in $src" >>"$log_dir/kuberay.log"; exit 1; }
    rm -rf "$kuberay_dir/crd" "$kuberay_dir/samples"
    cp -r "$src/config/crd/bases" "$kuberay_dir/crd"
    cp -r "$src/config/samples" "$kuberay_dir/samples"
    chmod -R u+w "$kuberay_dir/crd" "$kuberay_dir/samples"
    mv "$kuberay_dir/.tmp/ray-operator" "$kuberay_dir/ray-operator"
    rmdir "$kuberay_dir/.tmp"
  ) || die "building KubeRay $KUBERAY_VERSION failed; see $log_dir/kuberay.log"
}

# A wrapper that runs one unpacked binary by its own path (so by its own name), the unpacked libraries first.
write_redis_wrapper() {
  local name="$1" out="$2"
  cat > "$out" <<SH
#!/bin/sh
LD_LIBRARY_PATH="$redis_dir/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$redis_dir/root/usr/bin/$name" "\$@"
SH
  chmod +x "$out"
}

build_redis() {
  [ -x "$redis_dir/bin/redis-server" ] && [ -x "$redis_dir/bin/redis-cli" ] && return 0
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 \
    || die "Redis comes from Debian's packages, and apt-get or dpkg-deb is missing"
  echo "unpacking Redis $REDIS_VERSION from Debian's packages (first run only)" >&2
  local work apt_options=()
  # As root, apt downloads as the _apt user, who cannot write to the temporary directory.
  [ "$(id -u)" = 0 ] && apt_options=(-o APT::Sandbox::User=root)
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  rm -rf "$redis_dir"
  mkdir -p "$redis_dir/root" "$redis_dir/bin"
  # Each step says when it fails: `set -e` does not hold in a subshell whose status is tested.
  (
    cd "$work" || exit 1
    apt-get download "${apt_options[@]}" \
      "redis-server=$REDIS_VERSION" "redis-tools=$REDIS_VERSION" libjemalloc2 liblzf1 >>"$log_dir/redis.log" 2>&1 \
      || exit 1
    for deb in ./*.deb; do
      dpkg-deb -x "$deb" "$redis_dir/root" >>"$log_dir/redis.log" 2>&1 || exit 1
    done
  ) || {
    rm -rf "$redis_dir"
    die "downloading or unpacking Redis $REDIS_VERSION failed (not in apt's index? try apt-get update);" \
      "see $log_dir/redis.log"
  }
  # usr/bin/redis-server links to redis-check-rdb, which runs as a server only when called by that name.
  write_redis_wrapper redis-server "$redis_dir/bin/redis-server.tmp"
  write_redis_wrapper redis-cli "$redis_dir/bin/redis-cli.tmp"
  local version
  version="$("$redis_dir/bin/redis-server.tmp" --version 2>>"$log_dir/redis.log")" || version=""
  echo "$version" >>"$log_dir/redis.log"
  [[ "$version" == "Redis server v="* ]] && "$redis_dir/bin/redis-cli.tmp" --version >>"$log_dir/redis.log" 2>&1 \
    || { rm -rf "$redis_dir"; die "the unpacked Redis $REDIS_VERSION does not run; see $log_dir/redis.log"; }
  mv "$redis_dir/bin/redis-cli.tmp" "$redis_dir/bin/redis-cli"
  mv "$redis_dir/bin/redis-server.tmp" "$redis_dir/bin/redis-server"
}

if [ "${1:-}" = redis ]; then
  build_redis
  echo "$redis_dir/bin"
  exit 0
fi
if [ "${1:-}" = kuberay ]; then
  build_kuberay
  echo "$kuberay_dir"
  exit 0
fi
if [ "${1:-}" = helm ]; then
  build_helm
  echo "$helm_dir"
  exit 0
fi
build_etcd
build_kubernetes
echo "$k8s_dir:$etcd_dir"
