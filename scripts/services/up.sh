#!/usr/bin/env bash
# Start integration-test services on 127.0.0.1, installing whatever is missing.
# Usage: scripts/services/up.sh [kafka] [postgres] [mosquitto] [python] [s3]   (none = all)
# Idempotent: services that already answer are left alone. See README.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h | --help)
    sed -n '2,4s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
esac

resolve_services "$@"
take_lock

declare -A running=()
pending=()
for s in "${SERVICES[@]}"; do
  if "${s}_status"; then
    running[$s]=1
  else
    pending+=("$s")
  fi
done

if ((${#pending[@]} > 0)); then
  # Debian packages first, in one apt-get call
  declare -A seen=()
  pkgs=()
  for s in "${pending[@]}"; do
    while read -r p; do
      [[ -n $p && -z ${seen[$p]:-} ]] || continue
      seen[$p]=1
      pkgs+=("$p")
    done < <("${s}_apt_packages")
  done
  apt_install "${pkgs[@]}"

  # install + launch in order (Kafka boots while the rest installs), then wait for each
  for s in "${pending[@]}"; do
    "${s}_install"
    "${s}_launch"
  done
  for s in "${pending[@]}"; do
    "${s}_wait"
  done
fi

for s in "${SERVICES[@]}"; do
  if [[ -n ${running[$s]:-} && $s != python ]]; then
    printf '%-9s already running  %s\n' "$s" "$("${s}_describe")"
  else
    printf '%-9s ready            %s\n' "$s" "$("${s}_describe")"
  fi
done
