#!/bin/sh
# Builds the Go interop peer fully offline against Debian's hashicorp/yamux
# (apt-get install golang-go golang-github-hashicorp-yamux-dev) and prints
# the binary's absolute path on stdout. Safe to run repeatedly: go build
# only relinks when a source changed.
set -eu
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: go not found (apt-get install golang-go)" >&2
  exit 1
fi
if [ ! -d /usr/share/gocode/src/github.com/hashicorp/yamux ]; then
  echo "build.sh: hashicorp/yamux sources missing (apt-get install golang-github-hashicorp-yamux-dev)" >&2
  exit 1
fi
GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on go build -o yamux-peer . >&2
echo "$(pwd)/yamux-peer"
