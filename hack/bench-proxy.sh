#!/usr/bin/env bash
# Benchmarks the proxy on loopback against the same upstream reached directly (the floor),
# through nginx and through HAProxy, each verifying the upstream the same way: a root ->
# intermediate -> leaf chain (leaf kong.example), trusting the root only, SNI and name
# check kong.example, verify depth 1, upstream keep-alive.
#
#   hack/bench-proxy.sh            # two to five minutes; prints markdown tables
#
# Paths: direct (wrk straight to the upstream over TLS), proxy (HTTP/1.1 upstream), proxy-h2
# (the upstream offers h2 too; the proxy offers only http/1.1 by ALPN since 2026-12, so this
# measures that choice), proxy-1cpu (GOMAXPROCS=1), nginx, haproxy.
#
# Environment: PATHS (a subset of the paths above, space separated; the ratios need nginx
# and direct), DURATION (wrk, default 10s), CONNECTIONS (64), THREADS (2), RATE (1000),
# RATE_DURATION (10s), ATTEMPTS (3: a run during which other work used more than 5% of the
# machine's CPU is repeated, and the quietest attempt kept), KEEP=1 keeps the work
# directory. Installs nginx, haproxy and wrk from Debian when missing. Everything listens
# on 127.0.0.1 ports 18080-18085, 18443-18444 and 19090-19091.
#
# Two runs:
#  1. closed loop: wrk, fixed duration and connections; requests/s, p50/p99 latency, and
#     the CPU time of the server process(es) per request from /proc/<pid>/stat;
#  2. open loop: hack/bench/loadgen at a constant RATE, p50/p99 latency measured from the
#     scheduled send time; the proxies' added p99 over direct.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
RATE=${RATE:-1000}
RATE_DURATION=${RATE_DURATION:-10s}
root=$(cd "$(dirname "$0")/.." && pwd)

ensure_tools() {
  local missing=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing ${missing[*]} from Debian" >&2
  $sudo apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; then
    missing=("${missing[@]/nginx-light/nginx}")
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_tools
export PATH=$PATH:/usr/sbin
# shellcheck source=hack/bench-lib.sh
source "$root/hack/bench-lib.sh"
bench_workdir bench-proxy
mkdir -p "$work/bin" "$work/certs" "$work/nginx/logs" "$work/nginx/tmp"

echo "building" >&2
(cd "$root" && go build -o "$work/bin/" ./cmd/proxy ./hack/bench/upstream ./hack/bench/loadgen)

"$work/bin/upstream" --dir "$work/certs" >"$work/upstream.log" 2>&1 &
upstream_pid=$!
pids+=("$upstream_pid")
wait_port 18443
wait_port 18444

proxy_config() { # admin port, HTTP/1.1 upstream listen port, h2 upstream listen port
  cat <<EOF
apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
admin: {address: "127.0.0.1:$1"}
shutdown: {drainDelay: 0s}
upstreams:
- name: h1
  listen: "127.0.0.1:$2"
  address: "127.0.0.1:18444"
  tls: {caFiles: ["$work/certs/root.crt"], serverName: kong.example, verifyDepth: 1}
- name: h2
  listen: "127.0.0.1:$3"
  address: "127.0.0.1:18443"
  tls: {caFiles: ["$work/certs/root.crt"], serverName: kong.example, verifyDepth: 1}
EOF
}
proxy_config 19090 18080 18083 >"$work/proxy.yaml"
proxy_config 19091 18084 18085 >"$work/proxy-1cpu.yaml"
"$work/bin/proxy" --config "$work/proxy.yaml" --log-level warn >"$work/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
# The same binary limited to one CPU thread, as with a container CPU limit of 1 (Go sets
# GOMAXPROCS from the cgroup limit).
GOMAXPROCS=1 "$work/bin/proxy" --config "$work/proxy-1cpu.yaml" --log-level warn >"$work/proxy-1cpu.log" 2>&1 &
proxy1_pid=$!
pids+=("$proxy1_pid")

cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  keepalive_requests 1000000;
  upstream backend {
    server 127.0.0.1:18444;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:18081;
    location / {
      proxy_pass https://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $work/certs/root.crt;
      proxy_ssl_verify_depth 1; # one intermediate, as verifyDepth: 1
      proxy_ssl_name kong.example;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
    }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
pids+=("$nginx_pid")

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:18082
  default_backend be
backend be
  server up 127.0.0.1:18444 ssl verify required ca-file $work/certs/root.crt sni str(kong.example) verifyhost kong.example alpn http/1.1
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
pids+=("$haproxy_pid")

for port in 18080 18081 18082 18083 18084; do wait_port "$port"; done

declare -A url=(
  [direct]="https://127.0.0.1:18444/"
  [proxy]="http://127.0.0.1:18080/"
  [proxy-h2]="http://127.0.0.1:18083/"
  [proxy-1cpu]="http://127.0.0.1:18084/"
  [nginx]="http://127.0.0.1:18081/"
  [haproxy]="http://127.0.0.1:18082/"
)
read -r -a order <<<"${PATHS:-direct proxy proxy-h2 proxy-1cpu nginx haproxy}"

# Every path must answer 200 before anything is measured.
for name in "${order[@]}"; do
  out=$("$work/bin/loadgen" --url "${url[$name]}" --ca "$work/certs/root.crt" --server-name kong.example \
    --rate 50 --duration 1s --warmup 0s --label "$name")
  case $out in *" errors=0 "*) ;; *) echo "sanity check failed for $name: $out" >&2; exit 1 ;; esac
done

server_pids() { # the process(es) whose CPU time counts for a name
  case $1 in
    direct) echo "$upstream_pid" ;;
    proxy | proxy-h2) echo "$proxy_pid" ;;
    proxy-1cpu) echo "$proxy1_pid" ;;
    haproxy) echo "$haproxy_pid" ;;
    nginx) echo "$nginx_pid" $(awk -v p="$nginx_pid" '$4 == p {print $1}' /proc/[0-9]*/stat 2>/dev/null) ;;
  esac
}

cpu_ticks() { # sum of utime+stime (clock ticks) of the given pids
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

to_ms() { # wrk latency ("850.00us", "1.20ms", "1.01s") to milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else print v }'
}

hz=$(getconf CLK_TCK)
ATTEMPTS=${ATTEMPTS:-3}

machine_ticks() { # busy (user, nice, system, steal) and total CPU ticks of the machine
  local c
  read -r -a c </proc/stat
  echo "$((c[1] + c[2] + c[3] + c[8])) $((c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7] + c[8]))"
}

own_pids() { echo "$upstream_pid $proxy_pid $proxy1_pid $haproxy_pid" $(server_pids nginx); }

# measure NAME CMD...: runs the load generator CMD and sets OUT (its output), TICKS (CPU of
# NAME's server process(es)) and FOREIGN: the percentage of the machine's CPU used during
# the run by anything that is not part of the benchmark (another job on a shared machine).
measure() {
  local name=$1 m0 m1 s0 s1 o0 o1 t gen
  shift
  read -r -a m0 <<<"$(machine_ticks)"
  # shellcheck disable=SC2046
  s0=$(cpu_ticks $(server_pids "$name")) o0=$(cpu_ticks $(own_pids))
  t=$( { TIMEFORMAT='%U %S'; time "$@" >"$work/out" 2>/dev/null; } 2>&1)
  # shellcheck disable=SC2046
  s1=$(cpu_ticks $(server_pids "$name")) o1=$(cpu_ticks $(own_pids))
  read -r -a m1 <<<"$(machine_ticks)"
  OUT=$(cat "$work/out")
  TICKS=$((s1 - s0))
  gen=$(awk -v t="$t" -v hz="$hz" 'BEGIN {split(t, a, " "); printf "%d", (a[1] + a[2]) * hz}')
  FOREIGN=$(awk -v b=$((m1[0] - m0[0])) -v o=$((o1 - o0)) -v g="$gen" -v tot=$((m1[1] - m0[1])) \
    'BEGIN {f = 100 * (b - o - g) / tot; printf "%.0f", (f < 0 ? 0 : f)}')
}

# measure_quiet NAME CMD...: measure up to ATTEMPTS times until other work used at most 5%
# of the CPU, keeping the quietest attempt.
measure_quiet() {
  local best=101 best_out="" best_ticks=0 attempt
  for attempt in $(seq 1 "$ATTEMPTS"); do
    measure "$@"
    if [ "$FOREIGN" -lt "$best" ]; then best=$FOREIGN best_out=$OUT best_ticks=$TICKS; fi
    [ "$FOREIGN" -le 5 ] && break
    echo "  $1: other work used ${FOREIGN}% of the CPU during attempt $attempt" >&2
  done
  OUT=$best_out TICKS=$best_ticks FOREIGN=$best
}

declare -A rps p50 p99 cpu other
echo "closed loop: wrk -t$THREADS -c$CONNECTIONS -d$DURATION" >&2
for name in "${order[@]}"; do
  measure_quiet "$name" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${url[$name]}"
  echo "$OUT" >"$work/wrk-$name.txt"
  if grep -q "Non-2xx\|Socket errors" <<<"$OUT"; then
    echo "$name: errors during the run:" >&2
    grep "Non-2xx\|Socket errors" <<<"$OUT" >&2
  fi
  requests=$(awk '/requests in/ {print $1}' <<<"$OUT")
  rps[$name]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$OUT")
  p50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$OUT")")
  p99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$OUT")")
  cpu[$name]=$(awk -v t="$TICKS" -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  other[$name]=$FOREIGN
  echo "  $name: ${rps[$name]} req/s, p50 ${p50[$name]} ms, p99 ${p99[$name]} ms, ${cpu[$name]} us CPU/req, other load ${FOREIGN}%" >&2
done

declare -A fp50 fp99 ferr fother
echo "open loop: loadgen --rate $RATE --duration $RATE_DURATION" >&2
for name in "${order[@]}"; do
  measure_quiet "$name" "$work/bin/loadgen" --url "${url[$name]}" --ca "$work/certs/root.crt" \
    --server-name kong.example --rate "$RATE" --duration "$RATE_DURATION" --label "$name"
  echo "  $OUT, other load ${FOREIGN}%" >&2
  fp50[$name]=$(sed -E 's/.*p50_ms=([^ ]+).*/\1/' <<<"$OUT")
  fp99[$name]=$(sed -E 's/.*p99_ms=([^ ]+).*/\1/' <<<"$OUT")
  ferr[$name]=$(sed -E 's/.*errors=([^ ]+).*/\1/' <<<"$OUT")
  fother[$name]=$FOREIGN
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo
echo "Closed loop: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $(nproc) cores, loopback."
echo "CPU/req is the server process(es) only (for direct: the upstream); req/CPU-s = 1e6 / CPU/req;"
echo "other load: CPU used by work outside the benchmark during the run (should be near 0)."
echo
echo "| path | req/s | p50 ms | p99 ms | CPU µs/req | req per CPU-s | req/s vs nginx | CPU/req vs nginx | req/s vs direct | other load |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for name in "${order[@]}"; do
  per_cpu=$(awk -v c="${cpu[$name]}" 'BEGIN {printf "%.0f", 1e6 / c}')
  echo "| $name | ${rps[$name]} | ${p50[$name]} | ${p99[$name]} | ${cpu[$name]} | $per_cpu |" \
    "$(ratio "${rps[$name]}" "${rps[nginx]}") | $(ratio "${cpu[$name]}" "${cpu[nginx]}") | $(ratio "${rps[$name]}" "${rps[direct]}") |" \
    "${other[$name]}% |"
done
echo
echo "Open loop: hack/bench/loadgen at $RATE req/s for $RATE_DURATION (after 2s warm-up), HTTP/1.1 keep-alive."
echo
echo "| path | p50 ms | p99 ms | added p99 over direct ms | errors | other load |"
echo "|---|---:|---:|---:|---:|---:|"
for name in "${order[@]}"; do
  added=$(awk -v a="${fp99[$name]}" -v b="${fp99[direct]}" 'BEGIN {printf "%.3f", a - b}')
  echo "| $name | ${fp50[$name]} | ${fp99[$name]} | $added | ${ferr[$name]} | ${fother[$name]}% |"
done
