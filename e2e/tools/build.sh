#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from source (through the Go module proxy) into
# bin/k8s/<version>/ at the repository root. Idempotent: binaries already present are kept.
# Usage: e2e/tools/build.sh [OUTDIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
k8s_version=v1.37.2
out=${1:-$root/bin/k8s/$k8s_version}
mkdir -p "$out"

need=()
for b in kube-apiserver etcd kubectl; do
  [ -x "$out/$b" ] || need+=("$b")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "testbins: kube-apiserver, etcd and kubectl $k8s_version already in $out"
  exit 0
fi

echo "testbins: building ${need[*]} into $out"
echo "testbins: a cold build takes 5-15 minutes on 2 cores (later builds are cached)"
cd "$here"
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=37"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=1"
ldflags+=" -X k8s.io/client-go/pkg/version.gitMinor=37"

for b in "${need[@]}"; do
  start=$(date +%s)
  case $b in
    kube-apiserver) pkg=k8s.io/kubernetes/cmd/kube-apiserver ;;
    kubectl) pkg=k8s.io/kubernetes/cmd/kubectl ;;
    etcd) pkg=./etcd ;;
  esac
  echo "testbins: building $b ..."
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$b.tmp" "$pkg"
  mv "$out/$b.tmp" "$out/$b"
  echo "testbins: built $b in $(( $(date +%s) - start ))s"
done
"$out/kube-apiserver" --version
# Capture, then print the first line: `| head -1` can end etcd with SIGPIPE, which pipefail
# turns into a failed build.
etcd_version=$("$out/etcd" --version)
echo "${etcd_version%%$'\n'*}"
