#!/usr/bin/env bash
# The local AWS emulator: installed into its own venv under .cache (it pins botocore, so it
# never shares one), bound to a free port on 127.0.0.1, stopped by whoever started it.
#
#   scripts/emulator.sh install            install the emulator chosen by EMULATOR
#   scripts/emulator.sh run CMD [ARGS...]  start it, run CMD with AWS_ENDPOINT_URL set, stop it
#
# EMULATOR=ministack (default) or EMULATOR=moto. EMULATOR_COUNT_REQUESTS=1 (ministack): the
# Lambda functions' AWS calls pass through scripts/count-proxy.py, which counts them by action
# at GATEWAY_REQUEST_COUNTER.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache"
EMULATOR=${EMULATOR:-ministack}
MINISTACK_VERSION=1.5.33
# ministack applies the SAM transform of a deployed template with aws-sam-translator (the
# version SAM CLI pins). Installed in the same pip run: added afterwards, it moves ministack's
# botocore pin.
SAM_TRANSLATOR_VERSION=1.115.0
MOTO_VERSION=5.2.5
PYTHON=${PYTHON:-python3}

case "$EMULATOR" in
  ministack) VENV="$CACHE/ministack-$MINISTACK_VERSION-sam-$SAM_TRANSLATOR_VERSION"
    PACKAGE="ministack==$MINISTACK_VERSION aws-sam-translator==$SAM_TRANSLATOR_VERSION"; HEALTH=/_ministack/health ;;
  moto) VENV="$CACHE/moto-$MOTO_VERSION"; PACKAGE="moto[server]==$MOTO_VERSION"; HEALTH=/moto-api/ ;;
  *) echo "EMULATOR must be ministack or moto, not '$EMULATOR'" >&2; exit 2 ;;
esac

install() {
  if [ -f "$VENV/.installed" ]; then return; fi
  echo "installing $PACKAGE into $VENV" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086 # PACKAGE is a list of requirements
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PACKAGE
  touch "$VENV/.installed"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

healthy() {
  "$PYTHON" - "$1" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1).read()
except Exception:
    sys.exit(1)
PY
}

EMULATOR_PID=
COUNTER_PID=
stop() {
  if [ -n "$COUNTER_PID" ]; then
    kill -TERM "$COUNTER_PID" 2>/dev/null || true
    wait "$COUNTER_PID" 2>/dev/null || true
    COUNTER_PID=
  fi
  if [ -n "$EMULATOR_PID" ]; then
    # The emulator runs in its own session: end the whole group, then reap it.
    kill -TERM -- "-$EMULATOR_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
    EMULATOR_PID=
  fi
}

start() {
  local port log
  port=$(free_port)
  mkdir -p "$CACHE/tmp"
  log="$CACHE/emulator-$EMULATOR-$port.log"
  case "$EMULATOR" in
    ministack)
      # ministack reads its own port from GATEWAY_PORT; it is set for its process only. The
      # Lambda functions it runs inherit its environment: AWS_ENDPOINT_URL sends their SDK
      # calls back to it (functions deployed by CloudFormation have no such variable), through
      # the request counter when EMULATOR_COUNT_REQUESTS=1.
      local functions_endpoint="http://127.0.0.1:$port"
      if [ "${EMULATOR_COUNT_REQUESTS:-0}" = 1 ]; then
        local counter_port
        counter_port=$(free_port)
        while [ "$counter_port" = "$port" ]; do counter_port=$(free_port); done
        "$PYTHON" "$ROOT/scripts/count-proxy.py" "$counter_port" "http://127.0.0.1:$port" &
        COUNTER_PID=$!
        functions_endpoint="http://127.0.0.1:$counter_port"
        for _ in $(seq 1 50); do healthy "$functions_endpoint/_counts" && break; sleep 0.1; done
        export GATEWAY_REQUEST_COUNTER="$functions_endpoint/_counts"
      fi
      env GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 MINISTACK_HOST=127.0.0.1 TMPDIR="$CACHE/tmp" \
        AWS_ENDPOINT_URL="$functions_endpoint" \
        LOG_LEVEL=WARNING setsid "$VENV/bin/ministack" >"$log" 2>&1 &
      ;;
    moto)
      env TMPDIR="$CACHE/tmp" setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
      ;;
  esac
  EMULATOR_PID=$!
  for _ in $(seq 1 300); do
    if healthy "http://127.0.0.1:$port$HEALTH"; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
      export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
      echo "emulator $EMULATOR ready at $AWS_ENDPOINT_URL (log: $log)" >&2
      return
    fi
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
      echo "emulator $EMULATOR exited during start; its log:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "emulator $EMULATOR did not answer $HEALTH within 30 s; its log:" >&2; cat "$log" >&2
  stop; exit 1
}

case "${1:-}" in
  install) install ;;
  run)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }
    install
    trap stop EXIT
    trap 'stop; exit 130' INT
    trap 'stop; exit 143' TERM
    start
    status=0
    "$@" || status=$?
    stop
    exit $status
    ;;
  *) echo "usage: $0 install | run CMD [ARGS...]" >&2; exit 2 ;;
esac
