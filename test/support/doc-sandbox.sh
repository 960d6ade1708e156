#!/usr/bin/env bash
# Process 1 of one docs-example session. test/docs-examples.test.ts starts it with `unshare --mount --pid
# --fork --kill-child --mount-proc` inside the test's own network namespace (as root) or a new user+network
# namespace (not root). Whatever the examples write outside SHARED lands in a tmpfs or an overlay and is gone
# with this mount namespace; every process they start dies with this pid namespace; namespaces they add live
# in this /run/netns only. So nothing is rewritten in the examples and nothing needs cleaning up after them.
#   doc-sandbox.sh SHARED REPO      (runs SHARED/session.sh; its output goes to SHARED/log)
set -euo pipefail
shared=$1 repo=$2

# A scratch tmpfs: the overlays' upper layers, and the two directories /tmp is about to hide.
mount -t tmpfs nbdoc-scratch /mnt
mkdir -p /mnt/shared /mnt/repo
mount --bind "$shared" /mnt/shared
mount --bind "$repo" /mnt/repo
mount -t tmpfs nbdoc-tmp /tmp # the examples' /tmp/nb, /tmp/nb-api, …
mount -t tmpfs nbdoc-run /run # /run/netbranch (the API's default socket), /run/netns (namespaces examples add)
mkdir -p /run/netns /run/lock

layer() { # layer DIR NAME LOWER: DIR becomes an overlay of LOWER whose writes stay in the scratch tmpfs
  mkdir -p "/mnt/layers/$2/up" "/mnt/layers/$2/work" "$1"
  mount -t overlay nbdoc -o "lowerdir=$3,upperdir=/mnt/layers/$2/up,workdir=/mnt/layers/$2/work" "$1"
}
layer /etc etc /etc         # /etc/netbranch/tokens.json
layer /var var /var         # /var/lib/netbranch
layer "$repo" repo /mnt/repo # the checkout itself: a file an example writes there is dropped too

ip link set lo up
# A fresh HOME, but a reader's machine has a git identity. One npm cache for the whole test run, so npx
# links the checkout once; no update check (the sandbox has no network).
export HOME=/tmp/home NB_DOC_LOG=/mnt/shared/log npm_config_cache=/mnt/shared/npm-cache npm_config_update_notifier=false
mkdir -p "$HOME"
printf '[user]\n\tname = doc example\n\temail = doc-example@netbranch.invalid\n' >"$HOME/.gitconfig"

set +e
bash /mnt/shared/session.sh </dev/null >>"$NB_DOC_LOG" 2>&1
rc=$?
# Anything still running (zombies aside) was started by an example and never stopped: an example must clean up.
ps -eo pid=,stat=,args= >/mnt/ps
left=$(awk '$1 != 1 && $2 !~ /^Z/ && $3 != "ps" { pid = $1; $1 = $2 = ""; sub(/^ +/, ""); print pid, $0 }' /mnt/ps)
if [ -n "$left" ]; then
  sed 's/^/doc-test: left running: /' <<<"$left" | head -5 >>"$NB_DOC_LOG"
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
