#!/usr/bin/env bash
# Builds libssh from Debian's own source package into a cache outside the
# repository and installs it as a static library that k8sfs links into its
# extension. Why not bookworm's libssh-dev (0.10.6): its SFTP keeps one
# request in flight and it has no native ProxyJump (docs/dependencies.md).
#
# The source comes through apt itself (a private sources list holding only a
# deb-src line), so the tarballs are verified against Debian's signed index.
# dpkg-source skips the maintainer signature check (--no-check) because apt has
# already checked every file against the hashes in that signed index. The
# system's apt configuration is not touched.
set -euo pipefail

version="${K8SFS_LIBSSH_VERSION:-0.12.2-1}"
suite="${K8SFS_LIBSSH_SUITE:-sid}"
cache="${K8SFS_CACHE:-$HOME/.cache/k8sfs}"
prefix="$cache/deps/libssh-$version"

if [ -f "$prefix/.complete" ]; then
  echo "libssh $version: cached in $prefix"
  exit 0
fi

work="$cache/deps/build-libssh-$version"
rm -rf "$work" "$prefix"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"

echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
  > "$work/apt/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/apt/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$work/apt/lists"
  -o "Dir::Cache=$work/apt/cache"
  -o "APT::Get::List-Cleanup=0"
  -o "APT::Sandbox::User=root"
)
echo "libssh $version: fetching Debian source package ($suite)"
apt-get "${apt_opts[@]}" -qq update
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only "libssh=$version")
(cd "$work/src" && dpkg-source --no-check -x ./*.dsc libssh >/dev/null)

echo "libssh $version: building (static, OpenSSL backend)"
cmake -S "$work/src/libssh" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DBUILD_SHARED_LIBS=OFF \
  -DWITH_GSSAPI=OFF -DWITH_EXAMPLES=OFF -DWITH_SERVER=OFF \
  -DUNIT_TESTING=OFF -DCLIENT_TESTING=OFF -DSERVER_TESTING=OFF \
  -DWITH_ZLIB=ON >"$work/cmake.log"
cmake --build "$work/build" >"$work/build.log"
cmake --install "$work/build" >"$work/install.log"
touch "$prefix/.complete"
rm -rf "$work"
echo "libssh $version: installed in $prefix"
