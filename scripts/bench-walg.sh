#!/usr/bin/env bash
# Builds WAL-G's SQL Server blob proxy (the Azure Blob endpoint WAL-G gives
# SQL Server's BACKUP TO URL) into ~/.cache/sqlvault, runs it on a local
# directory with WAL-G's default compression (lz4) and PGP encryption, and
# runs `sqlvault bench --compare-url` against it: the device and the proxy
# in turns (A B A B A B) with the same client and data. Not part of .ci/run.
#
#   scripts/bench-walg.sh [extra sqlvault bench flags, e.g. --size-mib 128]
#
# WALG_REPO: a git repository of github.com/wal-g/wal-g (default: the mirror
# at /work/.mirror/wal-g+wal-g/repo; otherwise the Go module proxy is asked);
# WALG_COMMIT: the commit to build; WALG_COMPRESSION_METHOD: lz4 (WAL-G's
# default), zstd, brotli needs cgo; WALG_ENCRYPTION: pgp (default) or none;
# WALG_ADDR: the loopback address the proxy takes port 443 of (it always
# listens on 443); SQLVAULT_BIN: a sqlvault binary to bench (default: go
# run . of this tree), e.g. an older build to compare with.
set -euo pipefail
cd "$(dirname "$0")/.."

commit=${WALG_COMMIT:-43fb039f6ed24a8063a9a69c212f6742066942a6}
repo=${WALG_REPO:-/work/.mirror/wal-g+wal-g/repo}
addr=${WALG_ADDR:-127.0.0.77}
cache="$HOME/.cache/sqlvault"
bin="$cache/walg-sqlserver-${commit:0:12}"
mkdir -p "$cache"

# fetch_source puts WAL-G's tree at $1 (test data left out: the mirror may
# hold only pointers for its large files).
fetch_source() {
  local dst=$1
  mkdir -p "$dst"
  if [[ -d $repo ]]; then
    git -C "$repo" archive "$commit" -- . ':(exclude,glob)**/testdata/**' | tar -x -C "$dst" 2>/dev/null || true
  else
    local dir
    dir=$(go mod download -json "github.com/wal-g/wal-g@$commit" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    cp -r "$dir/." "$dst" && chmod -R u+w "$dst"
  fi
  [[ -f $dst/main/sqlserver/main.go ]] || { echo "no WAL-G source at $commit" >&2; exit 1; }
}

# build_proxy builds WAL-G's sqlserver binary (its `proxy` command is the
# blob proxy) outside this module. Two changes to its build, none to its
# code: the go directive follows the local toolchain (WAL-G asks for 1.27,
# whose encoding/json/v2 is GOEXPERIMENT=jsonv2 in 1.26), and Yandex
# Cloud's KMS client, which the module proxy refuses (403), is replaced by
# a stub that fails (this benchmark never configures Yandex KMS).
build_proxy() {
  local src
  src=$(mktemp -d)
  fetch_source "$src"
  mkdir -p "$src/.stub-yckms/v1"
  printf 'module github.com/yandex-cloud/go-sdk/services/kms\n\ngo 1.26\n' >"$src/.stub-yckms/go.mod"
  cat >"$src/.stub-yckms/v1/stub.go" <<'GO'
// Package kms stands in for Yandex Cloud's KMS client (not served by the
// Go module proxy); every call fails.
package kms

import (
	"context"
	"errors"

	kms "github.com/yandex-cloud/go-genproto/yandex/cloud/kms/v1"
)

type Client struct{}

func NewSymmetricCryptoClient(any) Client { return Client{} }

var errStub = errors.New("yandex kms is not built in")

func (Client) Decrypt(context.Context, *kms.SymmetricDecryptRequest, ...any) (*kms.SymmetricDecryptResponse, error) {
	return nil, errStub
}

func (Client) GenerateDataKey(context.Context, *kms.GenerateDataKeyRequest, ...any) (*kms.GenerateDataKeyResponse, error) {
	return nil, errStub
}
GO
  local gover
  gover=$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
  (
    cd "$src"
    go mod edit -go="$gover" -replace github.com/yandex-cloud/go-sdk/services/kms=./.stub-yckms
    GOEXPERIMENT=jsonv2 go build -o "$bin" ./main/sqlserver
  )
  rm -rf "$src"
}

[[ -x $bin ]] || build_proxy

work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A certificate for the proxy's address, and a PGP key for its encryption.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$addr" \
  -addext "subjectAltName=IP:$addr" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key bench@walg.test default default never 2>/dev/null
gpg --batch --quiet --armor --export-secret-keys bench@walg.test >"$work/pgp.key"

encryption=${WALG_ENCRYPTION:-pgp}
crypt=()
[[ $encryption == none ]] || crypt=(WALG_PGP_KEY_PATH="$work/pgp.key")

mkdir -p "$work/store"
env "${crypt[@]}" \
  WALG_FILE_PREFIX="$work/store" \
  WALG_COMPRESSION_METHOD="${WALG_COMPRESSION_METHOD:-lz4}" \
  SQLSERVER_BLOB_HOSTNAME="$addr" \
  SQLSERVER_BLOB_CERT_FILE="$work/cert.pem" \
  SQLSERVER_BLOB_KEY_FILE="$work/key.pem" \
  SQLSERVER_BLOB_LOCK_FILE="$work/proxy.lock" \
  "$bin" proxy >"$work/proxy.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fsS --cacert "$work/cert.pem" "https://$addr/__walg_g_ping__" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/proxy.log" >&2; exit 1; }
  sleep 0.2
done

echo "machine: $(nproc) vCPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(go version)"
echo "WAL-G $commit ($bin), compression ${WALG_COMPRESSION_METHOD:-lz4}, encryption $encryption, storage $work/store"
echo "load before: $(uptime)"
${SQLVAULT_BIN:-go run .} bench --compare-url "https://$addr/sqlvault" --compare-name WAL-G --compare-ca "$work/cert.pem" \
  --compare-dir "$work/store" --dir "$work" --size-mib 256 "$@"
echo "load after: $(uptime)"
