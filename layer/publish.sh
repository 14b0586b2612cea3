#!/usr/bin/env bash
# publish.sh — publishes build/dist's two layer zips as Lambda layer versions (AWS CLI v2), region by region.
#
#   layer/publish.sh --regions us-east-1,eu-west-1 [--ssm] [--layer-name appconfig-extension]
#                    [--dist build/dist] [--runtimes "provided.al2023 python3.13 ..."] [--profile P]
#
# For each region and architecture: `aws lambda publish-layer-version` of <dist>/<name>-<arch>.zip as layer
# <layer-name>-<arch>, compatible with that architecture and the runtimes, licence Apache-2.0; prints
# "<region> <arch> <layer version ARN>". With --ssm, also writes each ARN to the SSM String parameter
# /appconfig-extension/layer/<arch>/latest in that region (overwriting), so that IaC can look it up.
# SHA256SUMS in <dist> is checked first: nothing is published from a dist that does not match its sums.
# Stops at the first failing call, naming the region and architecture (layers published before it stay).
set -euo pipefail

# Lambda accepts at most 15 compatible runtimes per layer version; these are the current ones an
# extension is most often used with (an extension works with any runtime: the list only filters the console).
DEFAULT_RUNTIMES="provided.al2023 provided.al2 python3.13 python3.12 nodejs22.x nodejs20.x java21 java17 dotnet8 ruby3.3"
readonly MAX_RUNTIMES=15
readonly ARCHS=(x86_64 arm64)

regions="" ssm=0 layer_name=appconfig-extension runtimes=$DEFAULT_RUNTIMES profile=()
dist=$(cd "$(dirname "$0")/.." && pwd)/build/dist
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "publish.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --regions) regions=${2:-}; shift 2 ;;
    --ssm) ssm=1; shift ;;
    --layer-name) layer_name=${2:-}; shift 2 ;;
    --dist) dist=${2:-}; shift 2 ;;
    --runtimes) runtimes=${2:-}; shift 2 ;;
    --profile) profile=(--profile "${2:-}"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "publish.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$regions" ] || die "--regions is required (comma-separated, e.g. us-east-1,eu-west-1)"
[[ "$layer_name" =~ ^[A-Za-z0-9_-]{1,100}$ ]] || die "--layer-name '$layer_name': letters, digits, - and _ only (Lambda's rule)"
read -r -a runtime_list <<< "$runtimes"
[ ${#runtime_list[@]} -ge 1 ] && [ ${#runtime_list[@]} -le $MAX_RUNTIMES ] ||
  die "--runtimes: 1 to $MAX_RUNTIMES runtimes (Lambda's limit), got ${#runtime_list[@]}"
command -v aws >/dev/null || die "the AWS CLI (v2) is not on PATH"

[ -d "$dist" ] || die "$dist does not exist (make dist writes it)"
dist=$(cd "$dist" && pwd)
[ -f "$dist/SHA256SUMS" ] || die "$dist/SHA256SUMS is missing (make dist writes it)"
(cd "$dist" && sha256sum --check --quiet SHA256SUMS) || die "$dist does not match its SHA256SUMS: not publishing"
for arch in "${ARCHS[@]}"; do
  [ -f "$dist/appconfig-extension-$arch.zip" ] || die "$dist/appconfig-extension-$arch.zip is missing"
done

IFS=, read -r -a region_list <<< "$regions"
for region in "${region_list[@]}"; do
  [[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "'$region' is not an AWS region name"
  for arch in "${ARCHS[@]}"; do
    zip="$dist/appconfig-extension-$arch.zip"
    arn=$(aws "${profile[@]}" lambda publish-layer-version --region "$region" \
            --layer-name "$layer_name-$arch" \
            --description "appconfig-extension $arch ($(sha256sum "$zip" | cut -c1-12))" \
            --license-info Apache-2.0 \
            --zip-file "fileb://$zip" \
            --compatible-architectures "$arch" \
            --compatible-runtimes "${runtime_list[@]}" \
            --query LayerVersionArn --output text) ||
      die "publish-layer-version failed in $region for $arch"
    [[ "$arn" == arn:* ]] || die "publish-layer-version in $region for $arch returned no ARN: '$arn'"
    echo "$region $arch $arn"
    if [ $ssm = 1 ]; then
      aws "${profile[@]}" ssm put-parameter --region "$region" --name "/appconfig-extension/layer/$arch/latest" \
        --type String --value "$arn" --overwrite >/dev/null ||
        die "ssm put-parameter failed in $region for $arch (the layer $arn was published)"
    fi
  done
done
