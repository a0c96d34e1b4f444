#!/usr/bin/env bash
# Control one integration-test service (used by fault tests).
# Usage: scripts/services/ctl.sh <kafka|postgres|mosquitto|python|s3> <start|stop|restart|status>
#   start    install if needed, start, wait until it answers (no-op when running)
#   stop     clean stop (SIGTERM / pg fast shutdown), bounded; data and config are kept
#   restart  stop + start (postgres: a real server restart, client connections are dropped)
#   status   exit 0 if it answers now, 1 otherwise
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

(($# == 2)) || usage
svc=$1
action=$2
resolve_services "$svc"

start() {
  if ! "${svc}_status"; then
    local -a pkgs
    mapfile -t pkgs < <("${svc}_apt_packages")
    apt_install "${pkgs[@]}"
    "${svc}_install"
    "${svc}_launch"
    "${svc}_wait"
  fi
  printf '%-9s ready            %s\n' "$svc" "$("${svc}_describe")"
}

case "$action" in
  start)
    take_lock
    start
    ;;
  stop)
    take_lock
    "${svc}_stop"
    printf '%-9s stopped\n' "$svc"
    ;;
  restart)
    take_lock
    if [[ $svc == postgres ]]; then
      postgres_restart
      printf '%-9s restarted        %s\n' "$svc" "$(postgres_describe)"
    else
      "${svc}_stop"
      start
    fi
    ;;
  status)
    if "${svc}_status"; then
      printf '%-9s up\n' "$svc"
    else
      printf '%-9s down\n' "$svc"
      exit 1
    fi
    ;;
  *) usage ;;
esac
