# Shared by the benchmark scripts (sourced, not run): a work directory removed at exit
# (KEEP=1 keeps it), the background processes stopped with it, and a wait for a port.

# bench_workdir NAME: makes $work under /tmp and arranges cleanup; add background pids to pids.
bench_workdir() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}

# wait_port PORT: waits until something accepts on 127.0.0.1:PORT, or fails the script.
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  exit 1
}
