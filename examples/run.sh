#!/usr/bin/env bash
# make run: the extension in local development mode over examples/local.
set -euo pipefail
bin=${1:?usage: run.sh BINARY}
dir=$(cd "$(dirname "$0")/local" && pwd)
port=${AWS_APPCONFIG_EXTENSION_HTTP_PORT:-2772}
base="http://localhost:$port/applications/MyApp/environments/Production/configurations"
cat <<MSG
appconfig-extension: local development mode over $dir
(files are re-read every ${AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS:-5} s; edit one and read it again)

Try, from another terminal:
  curl -i $base/Settings
  curl -i $base/Motd
  curl -i $base/Flags
  curl -i "$base/Flags?flag=dark-mode"
  curl -i "$base/Flags?flag=dark-mode&flag=rate-limit"
  curl -i "$base/Flags?flag=no-such-flag"      # 400 naming the flag
  curl -i "$base/Checkout"                                            # multi-variant: defaults
  curl -i -H "Context: country=US" "$base/Checkout?flag=checkout"     # variant "us"
  curl -i -H "Context: age=40,tier=gold" "$base/Checkout?flag=checkout"   # variant "vip"
  curl -i http://localhost:$port/ping
Stop with Ctrl-C.

MSG
export LOCAL_DEVELOPMENT_DIRECTORY="$dir"
export AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS=${AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS:-5}
exec "$bin"
