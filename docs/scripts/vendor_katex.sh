#!/usr/bin/env bash
# Vendors KaTeX (MIT licence, docs/javascripts/katex/LICENSE) into docs/javascripts/katex/, so
# the site renders its formulas without a network: the minified script and stylesheet and the
# woff2 fonts only (every browser KaTeX supports reads woff2; the stylesheet's woff and ttf
# fallbacks are cut so that it names no file the site lacks). About 600 KB. Re-run to upgrade:
#
#     bash docs/scripts/vendor_katex.sh [VERSION]
set -euo pipefail
version="${1:-0.19.1}"
cd "$(dirname "$0")/../javascripts"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "katex@$version" >/dev/null && tar xzf katex-*.tgz)
rm -rf katex
mkdir -p katex/fonts
cp "$work/package/LICENSE" katex/LICENSE
cp "$work/package/dist/katex.min.js" katex/
cp "$work/package/dist/fonts/"*.woff2 katex/fonts/
sed -E 's#,url\(fonts/[A-Za-z0-9_-]+\.woff\) format\("woff"\),url\(fonts/[A-Za-z0-9_-]+\.ttf\) format\("truetype"\)##g' \
    "$work/package/dist/katex.min.css" >katex/katex.min.css
echo "KaTeX $version" >katex/VERSION
if grep -qE '\.(woff|ttf)\)' katex/katex.min.css; then
    echo "katex.min.css still names woff or ttf fonts: the sed above no longer matches" >&2
    exit 1
fi
