#!/usr/bin/env bash
# Installs the Debian packages buildit's tests need (and its builds use).
# Idempotent and quick when everything is present: apt runs only for what is missing.
set -euo pipefail

packages=(
  tar gzip xz-utils bzip2 zstd patch make gcc libc6-dev  # building packages from source
  bubblewrap                                         # the build sandbox
  appc-spec oci-image-tool umoci skopeo              # validators the image tests run
  podman runc                                        # running the built image in the tests
  openssh-server openssh-client nginx openssl        # loopback binhost servers in the tests
  docker-registry apache2-utils                      # the OCI distribution server (and htpasswd) in the registry tests
  time                                               # peak memory (GNU time) in npm run bench
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${#packages[@]})"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
