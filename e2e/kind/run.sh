#!/usr/bin/env bash
# The end-to-end scenarios on kind clusters: a hub and two members on a Docker host.
# `make test-e2e-kind` runs it; e2e/kind/README.md explains every step.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: e2e/kind/run.sh [--keep] [-h|--help]

Creates three kind clusters (a hub and two members); builds the hub's image (Dockerfile)
and the platform simulator's (e2e/kind/platform-sim.Dockerfile) and loads both into the
hub; runs the simulator there as a pod; installs the Helm chart on the hub; registers the
members with `obsyk-hub cluster add`; creates credentials (`obsyk-hub keygen`) and one
ObsykAgent per member; then runs the scenarios with kindcheck: initial convergence, churn
within the agents' rate limits, a platform outage, platform faults (5xx, 429, dropped
responses), token expiry without a restart, a hub log free of secrets, and the hub killed
and started again. The clusters are deleted at the end unless --keep is given.

Needs on PATH: docker (with a running engine), kind, kubectl, helm (3.x; or set HELM), go.

Options:
  --keep      keep the clusters and the work directory after the run, pass or fail
  -h, --help  show this help

Environment:
  KIND_PREFIX       prefix of the cluster names (default obsyk-e2e):
                    <prefix>-hub, <prefix>-member-1, <prefix>-member-2
  KIND_NODE_IMAGE   node image for `kind create cluster --image` (default: kind's own)
  KIND_NETWORK      Docker network of the kind nodes (default:
                    $KIND_EXPERIMENTAL_DOCKER_NETWORK, else kind)
  SIM_ADMIN_PORT    port on 127.0.0.1 of the simulator's admin API (default 30081)
  HELM              helm binary (default: helm)
  WORK_DIR          directory for kubeconfigs, keys, binaries and logs
                    (default: a new temporary directory)
  CHURN             length of each churn phase (default 60s)
  OUTAGE            length of the platform outage (default 30s)
  CONVERGE_TIMEOUT  bound of each wait for convergence (default 5m)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KEEP=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --keep) KEEP=true ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

PREFIX=${KIND_PREFIX:-obsyk-e2e}
HUB_CLUSTER=$PREFIX-hub
MEMBERS=(member-1 member-2)
KIND_NETWORK=${KIND_NETWORK:-${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}}
SIM_ADMIN_PORT=${SIM_ADMIN_PORT:-30081}
HELM=${HELM:-helm}
CHURN=${CHURN:-60s}
OUTAGE=${OUTAGE:-30s}
CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-5m}

# These must match e2e/kind/platform-sim.yaml and e2e/kind/hub-values.yaml
# (e2e/kind/script_test.go checks that they do).
HUB_IMAGE=obsyk-hub:kind-e2e
SIM_IMAGE=obsyk-platform-sim:kind-e2e
SIM_NODE_PORT=30081
PLATFORM_URL=https://obsyk-platform-sim.obsyk-platform-sim.svc:8443
HUB_NAMESPACE=obsyk-system
RELEASE=obsyk-hub
CLIENT_ID_PREFIX=kind-e2e-

ADMIN_URL=http://127.0.0.1:$SIM_ADMIN_PORT
WORK=        # set by main once the prerequisites are there
# The kind clusters this run created and their kubeconfig files, deleted at exit unless
# --keep; the user's own kubeconfig is never read or written.
CREATED=()
CREATED_KUBECONFIGS=()

log() { printf '\n== %s ==\n' "$*"; }
die() { echo "run.sh: $*" >&2; exit 1; }

hub_kubectl() { kubectl --kubeconfig "$WORK/hub.kubeconfig" "$@"; }

check_prerequisites() {
  local missing=() tool
  for tool in docker kind kubectl "$HELM" go; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "run.sh: missing on PATH: ${missing[*]}" >&2
    echo "  kind: go install sigs.k8s.io/kind@latest; helm: 'make tools' builds the pinned one (make test-e2e-kind uses it)" >&2
    exit 2
  fi
  docker info >/dev/null 2>&1 || die "docker cannot reach its engine ('docker info' fails): start it, or check your permissions"
  local helm_version clusters c
  helm_version=$("$HELM" version --short)
  [[ $helm_version == v3.* ]] || die "$HELM is $helm_version, not Helm 3"
  clusters=$(kind get clusters 2>/dev/null)
  for c in "$HUB_CLUSTER" "${MEMBERS[@]/#/$PREFIX-}"; do
    if grep -qx -- "$c" <<<"$clusters"; then
      die "a kind cluster named $c exists already: delete it (kind delete cluster --name $c) or set KIND_PREFIX"
    fi
  done
}

collect_diagnostics() {
  [[ -f $WORK/hub.kubeconfig ]] || return 0
  mkdir -p "$WORK/diagnostics"
  echo "run.sh: collecting diagnostics into $WORK/diagnostics"
  hub_kubectl get pods -A -o wide >"$WORK/diagnostics/hub-pods.txt" 2>&1 || true
  hub_kubectl get obsykagents -A -o yaml >"$WORK/diagnostics/obsykagents.yaml" 2>&1 || true
  hub_kubectl get events -A --sort-by=.lastTimestamp >"$WORK/diagnostics/hub-events.txt" 2>&1 || true
  hub_kubectl -n "$HUB_NAMESPACE" logs -l "app.kubernetes.io/instance=$RELEASE" -c hub --tail=-1 \
    >"$WORK/diagnostics/hub.log" 2>&1 || true
  hub_kubectl -n obsyk-platform-sim logs deploy/obsyk-platform-sim --tail=-1 >"$WORK/diagnostics/platform-sim.log" 2>&1 || true
}

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    collect_diagnostics
  fi
  if [[ $KEEP == true ]]; then
    echo "run.sh: kept the clusters (${CREATED[*]:-none}) and $WORK"
    echo "  delete them with: kind delete cluster --name <name> --kubeconfig $WORK/<hub|member-N>.kubeconfig"
  else
    local i
    for i in "${!CREATED[@]}"; do
      kind delete cluster --name "${CREATED[$i]}" --kubeconfig "${CREATED_KUBECONFIGS[$i]}" >/dev/null 2>&1 ||
        echo "run.sh: could not delete kind cluster ${CREATED[$i]}" >&2
    done
    if [[ $rc -eq 0 && -z ${WORK_DIR:-} ]]; then
      rm -rf "$WORK"
    else
      echo "run.sh: work directory (kubeconfigs, keys, logs): $WORK"
    fi
  fi
  exit "$rc"
}

build() {
  log "build obsyk-hub and kindcheck for this host"
  (cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/bin/obsyk-hub" ./cmd/obsyk-hub)
  (cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/bin/kindcheck" ./e2e/kind/kindcheck)
  log "build the images $HUB_IMAGE and $SIM_IMAGE"
  docker build --build-arg VERSION=kind-e2e -t "$HUB_IMAGE" -f "$ROOT/Dockerfile" "$ROOT"
  docker build -t "$SIM_IMAGE" -f "$ROOT/e2e/kind/platform-sim.Dockerfile" "$ROOT"
}

# create_cluster NAME KUBECONFIG [CONFIG]
create_cluster() {
  local name=$1 kubeconfig=$2 config=${3:-}
  local args=(create cluster --name "$name" --kubeconfig "$kubeconfig" --wait 3m)
  if [[ -n $config ]]; then
    args+=(--config "$config")
  fi
  if [[ -n ${KIND_NODE_IMAGE:-} ]]; then
    args+=(--image "$KIND_NODE_IMAGE")
  fi
  CREATED+=("$name")
  CREATED_KUBECONFIGS+=("$kubeconfig")
  kind "${args[@]}"
}

create_clusters() {
  log "create the kind clusters $HUB_CLUSTER and ${MEMBERS[*]/#/$PREFIX-}"
  # The hub's node publishes the simulator's admin NodePort on the host's loopback.
  cat >"$WORK/hub-cluster.yaml" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      - containerPort: $SIM_NODE_PORT
        hostPort: $SIM_ADMIN_PORT
        listenAddress: 127.0.0.1
        protocol: TCP
EOF
  create_cluster "$HUB_CLUSTER" "$WORK/hub.kubeconfig" "$WORK/hub-cluster.yaml"
  local m
  for m in "${MEMBERS[@]}"; do
    create_cluster "$PREFIX-$m" "$WORK/$m.kubeconfig"
  done
}

start_simulator() {
  log "load the images into $HUB_CLUSTER and start the platform simulator"
  kind load docker-image --name "$HUB_CLUSTER" "$HUB_IMAGE" "$SIM_IMAGE"
  hub_kubectl apply -f "$ROOT/e2e/kind/platform-sim.yaml"
  hub_kubectl -n obsyk-platform-sim rollout status deploy/obsyk-platform-sim --timeout 3m
  "$WORK/bin/kindcheck" ca --admin-url "$ADMIN_URL" --out "$WORK/platform-ca.crt"
}

install_hub() {
  log "install the chart on $HUB_CLUSTER"
  hub_kubectl create namespace "$HUB_NAMESPACE"
  hub_kubectl -n "$HUB_NAMESPACE" create configmap obsyk-platform-ca --from-file=ca.crt="$WORK/platform-ca.crt"
  "$HELM" install "$RELEASE" "$ROOT/charts/obsyk-hub" --kubeconfig "$WORK/hub.kubeconfig" \
    --namespace "$HUB_NAMESPACE" -f "$ROOT/e2e/kind/hub-values.yaml" --wait --timeout 5m
}

# member_server MEMBER prints the member's API server URL as the hub's pods reach it: the
# member node's address on the kind Docker network (kind's kubeconfig has a host port on
# 127.0.0.1, which is the hub node's own loopback inside the hub). kubeadm puts the node's
# address in the API server's certificate, so TLS verification stays on.
member_server() {
  local ip
  ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$KIND_NETWORK\").IPAddress}}" "$PREFIX-$1-control-plane")
  [[ -n $ip ]] || die "no address of $PREFIX-$1-control-plane on the Docker network $KIND_NETWORK (set KIND_NETWORK)"
  echo "https://$ip:6443"
}

register_members() {
  log "register the members with obsyk-hub cluster add"
  local m
  for m in "${MEMBERS[@]}"; do
    "$WORK/bin/obsyk-hub" cluster add --kubeconfig "$WORK/$m.kubeconfig" --name "$m" \
      --hub-kubeconfig "$WORK/hub.kubeconfig" --namespace "$HUB_NAMESPACE" --server "$(member_server "$m")"
  done
}

create_credentials() {
  log "create platform credentials (obsyk-hub keygen) and register them with the simulator"
  local m dir
  for m in "${MEMBERS[@]}"; do
    dir=$WORK/creds/$m
    "$WORK/bin/obsyk-hub" keygen --out-dir "$dir" --client-id "$CLIENT_ID_PREFIX$m" \
      --secret-name "obsyk-credentials-$m" --namespace "$HUB_NAMESPACE" >"$dir.keygen.txt"
    sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' "$dir.keygen.txt" >"$dir.public-key.pem"
    [[ -s $dir.public-key.pem ]] || die "obsyk-hub keygen printed no public key (see $dir.keygen.txt)"
    "$WORK/bin/kindcheck" register-client --admin-url "$ADMIN_URL" --client-id "$CLIENT_ID_PREFIX$m" \
      --public-key "$dir.public-key.pem"
    hub_kubectl apply -f "$dir/credentials-secret.yaml"
  done
}

member_args() {
  local m
  for m in "${MEMBERS[@]}"; do
    printf -- '--member\n%s=%s\n' "$m" "$WORK/$m.kubeconfig"
  done
}

seed_members() {
  log "seed the members with objects of all 20 kinds"
  local args
  mapfile -t args < <(member_args)
  "$WORK/bin/kindcheck" seed "${args[@]}" --per-kind 3
}

create_agents() {
  log "create one ObsykAgent per member"
  local m
  for m in "${MEMBERS[@]}"; do
    hub_kubectl apply -f - <<EOF
apiVersion: obsyk.io/v1
kind: ObsykAgent
metadata:
  name: $m
  namespace: $HUB_NAMESPACE
spec:
  clusterRef:
    name: $m
  clusterName: kind-$m
  platformURL: $PLATFORM_URL
  credentialsSecretRef:
    name: obsyk-credentials-$m
  syncInterval: 10s
  rateLimit:
    eventsPerSecond: 50
    burstSize: 100
EOF
  done
}

run_scenarios() {
  log "run the scenarios"
  local args m
  mapfile -t args < <(member_args)
  for m in "${MEMBERS[@]}"; do
    args+=(--private-key "$WORK/creds/$m/private-key.pem")
  done
  "$WORK/bin/kindcheck" run --hub-kubeconfig "$WORK/hub.kubeconfig" --admin-url "$ADMIN_URL" \
    --namespace "$HUB_NAMESPACE" --release "$RELEASE" --client-id-prefix "$CLIENT_ID_PREFIX" \
    --churn "$CHURN" --outage "$OUTAGE" --converge-timeout "$CONVERGE_TIMEOUT" "${args[@]}" |
    tee "$WORK/kindcheck.log"
}

main() {
  check_prerequisites
  WORK=${WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/obsyk-kind-e2e.XXXXXX")}
  mkdir -p "$WORK/bin" "$WORK/creds"
  echo "run.sh: work directory: $WORK"
  trap cleanup EXIT
  build
  create_clusters
  start_simulator
  install_hub
  register_members
  create_credentials
  seed_members
  create_agents
  run_scenarios
  log "passed"
}

main
