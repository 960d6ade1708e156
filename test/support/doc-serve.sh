# Sourced by every docs-example session script (test/support/doc-session.ts): the servers an example starts
# are waited for and, when the session ends however it ends, stopped with SIGTERM to their process group.
# Lines starting "doc-test:" are read back by test/docs-examples.test.ts.
nb_pids=()
nb_labels=()

nb_log_size() { stat -c %s "$NB_DOC_LOG"; }
nb_block() { echo "doc-test: block $1"; }
nb_failed() { echo "doc-test: failed at script line $1 (exit $2)"; }

# nb_serve PID UNTIL LABEL FROM: wait (≤ 60 s) until the server is ready: UNTIL is `ready` (a "ready" JSON
# event in the output written after byte FROM) or a path that must appear.
nb_serve() {
  local pid=$1 until=$2 label=$3 from=$4 i
  nb_pids+=("$pid")
  nb_labels+=("$label")
  for ((i = 0; i < 600; i++)); do
    if [ "$until" = ready ]; then
      tail -c +"$((from + 1))" "$NB_DOC_LOG" | grep -q '"event":"ready"' && return 0
    elif [ -e "$until" ]; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" && echo "doc-test: server '$label' exited (0) before it was ready ($until)" || echo "doc-test: server '$label' exited ($?) before it was ready ($until)"
      exit 1
    fi
    sleep 0.1
  done
  echo "doc-test: server '$label' not ready ($until) within 60 s"
  exit 1
}

# The EXIT trap: SIGTERM to each server's process group still alive (as Ctrl-C would reach it), ≤ 15 s to go.
nb_stop_all() {
  local rc=$? k i g
  set +e
  for k in "${!nb_pids[@]}"; do
    g=${nb_pids[$k]}
    kill -0 -- "-$g" 2>/dev/null || continue
    kill -TERM -- "-$g"
    for ((i = 0; i < 150; i++)); do kill -0 -- "-$g" 2>/dev/null || break; sleep 0.1; done
    if kill -0 -- "-$g" 2>/dev/null; then
      echo "doc-test: server '${nb_labels[$k]}' still running 15 s after SIGTERM"
      kill -KILL -- "-$g"
      rc=1
    fi
  done
  exit "$rc"
}
