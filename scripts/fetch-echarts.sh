#!/bin/sh
# fetch-echarts.sh VERSION DIR: puts echarts.min.js with its LICENSE and NOTICE
# into DIR, taken from the npm registry. Nothing of it is committed.
set -eu
version=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@$version" >/dev/null)
tar -xzf "$tmp"/echarts-"$version".tgz -C "$tmp" package/dist/echarts.min.js package/LICENSE package/NOTICE
mkdir -p "$dir"
cp "$tmp/package/LICENSE" "$tmp/package/NOTICE" "$dir/"
# Copy the script last: make treats its presence as "done".
cp "$tmp/package/dist/echarts.min.js" "$dir/echarts.min.js.tmp"
mv "$dir/echarts.min.js.tmp" "$dir/echarts.min.js"
