#!/usr/bin/env bash
# Installs the Debian 12 packages Parcours needs to build, test and run its demo, if any is
# missing. Sourced by tests/run.sh and seeds/demo.sh, so that both commands work on a fresh
# machine. README.md says why each package is here.
parcours_packages=(
  build-essential cmake pkg-config
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev libsodium-dev libevent-dev
  libsystemd-dev libinih-dev libjansson-dev libcmocka-dev jq
  python3-zmq python3-protobuf protobuf-compiler
  clang libclang-rt-14-dev systemd groff-base valgrind libfuse3-dev fuse3
  prometheus pacemaker-cli-utils
  debhelper dh-python po-debconf lintian debootstrap
)

parcours_install_deps() {
  local missing=() p
  for p in "${parcours_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}
