#!/usr/bin/env bash
# Measures the proxy's memory: resident set size (VmRSS) idle with 1 and with 32 upstreams,
# and per idle keep-alive connection from the gateway (1000 and 5000 of them, each having
# carried one request, 256 at a time, so that the proxy also holds pooled upstream
# connections).
#
#   hack/bench-proxy-memory.sh      # about a minute; prints a markdown table
#
# Environment: CONNS (default "1000 5000"), KEEP=1 keeps the work directory. Listens on
# 127.0.0.1 ports 18444 (upstream), 18100-18131 and 19190.
set -euo pipefail

CONNS=${CONNS:-1000 5000}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/bench-lib.sh
source "$root/hack/bench-lib.sh"
bench_workdir bench-proxy-memory
mkdir -p "$work/bin" "$work/certs"
(cd "$root" && go build -o "$work/bin/" ./cmd/proxy ./hack/bench/upstream ./hack/bench/idleconns)

"$work/bin/upstream" --dir "$work/certs" --listen-h2 127.0.0.1:18445 >"$work/upstream.log" 2>&1 &
pids+=($!)
wait_port 18444

config() { # number of upstreams
  printf 'apiVersion: proxy.gatewaytenant.io/v1alpha1\nkind: ProxyConfig\nadmin: {address: "127.0.0.1:19190"}\nshutdown: {drainDelay: 0s}\nupstreams:\n'
  for i in $(seq 0 $(($1 - 1))); do
    printf -- '- name: u%d\n  listen: "127.0.0.1:%d"\n  address: "127.0.0.1:18444"\n  tls: {caFiles: ["%s"], serverName: kong.example, verifyDepth: 1}\n' \
      "$i" $((18100 + i)) "$work/certs/root.crt"
  done
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

start_proxy() { # upstreams -> sets PROXY
  config "$1" >"$work/proxy-$1.yaml"
  "$work/bin/proxy" --config "$work/proxy-$1.yaml" --log-level warn >"$work/proxy-$1.log" 2>&1 &
  PROXY=$!
  pids+=("$PROXY")
  wait_port 19190
  for i in $(seq 0 $(($1 - 1))); do wait_port $((18100 + i)); done
}

stop_proxy() {
  kill "$PROXY"
  wait "$PROXY" 2>/dev/null || true
}

# settle: one request per upstream (material loaded, first connection verified), then
# let the runtime return what it does not need.
settle() {
  for i in $(seq 0 $(($1 - 1))); do
    exec 3<>"/dev/tcp/127.0.0.1/$((18100 + i))"
    printf 'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
    cat <&3 >/dev/null
    exec 3<&-
  done
  sleep 2
}

declare -A idle
for n in 1 32; do
  start_proxy "$n"
  settle "$n"
  idle[$n]=$(rss_kib "$PROXY")
  echo "  $n upstream(s): idle RSS ${idle[$n]} KiB" >&2
  stop_proxy
done

declare -A base after per
for n in $CONNS; do # a fresh proxy each time: Go keeps freed memory for a while
  start_proxy 1
  settle 1
  base[$n]=$(rss_kib "$PROXY")
  coproc IDLE { "$work/bin/idleconns" --addr 127.0.0.1:18100 --conns "$n"; }
  read -r line <&"${IDLE[0]}"
  sleep 2
  after[$n]=$(rss_kib "$PROXY")
  per[$n]=$(awk -v a="${after[$n]}" -v b="${base[$n]}" -v n="$n" 'BEGIN {printf "%.1f", (a - b) / n}')
  echo "  $line: RSS ${after[$n]} KiB, $((after[$n] - base[$n])) KiB over idle, ${per[$n]} KiB per connection" >&2
  exec {IDLE[1]}>&-
  wait "$IDLE_PID" 2>/dev/null || true
  stop_proxy
done

echo
echo "Proxy memory: VmRSS of the proxy process, $(nproc) cores, Go $(go env GOVERSION | sed 's/^go//')."
echo
echo "| measurement | RSS MiB | per connection KiB |"
echo "|---|---:|---:|"
for n in 1 32; do
  echo "| idle, $n upstream(s) | $(awk -v k="${idle[$n]}" 'BEGIN {printf "%.1f", k / 1024}') | |"
done
for n in $CONNS; do
  echo "| $n idle keep-alive gateway connections (1 upstream, pooled upstream connections included) | $(awk -v k="${after[$n]}" 'BEGIN {printf "%.1f", k / 1024}') | ${per[$n]} |"
done
