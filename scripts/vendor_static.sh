#!/usr/bin/env bash
# Re-create the vendored JavaScript of the HTML book in book/_static/ from the npm registry.
#
#   bash scripts/vendor_static.sh
#
# The result is committed, so building the book needs neither npm nor the network. Run this
# only to change a version below, then rebuild the book and run the browser check:
#
#   jupyter-book build . --toc book/_toc.yml -W -n --keep-going
#   python tests/browser/check_book.py _build/html
#
# What is vendored and why:
#   mathjax/   MathJax 3 (Apache-2.0): the combined tex-chtml.js component, the CHTML woff-v2
#              fonts, the TeX extensions it autoloads (\boldsymbol, \cancel, mathtools, ...), and the
#              accessibility components its context menu loads on request (a11y/, the English
#              speech rules in sre/mathmaps/). Other output formats (SVG, MathML input) are left out.
#   widgets/   @jupyter-widgets/html-manager (BSD-3-Clause): dist/embed.js, the self-contained
#              bundle (no require.js) that renders the widget state saved in executed notebooks,
#              plus the Font Awesome 5 webfonts (SIL OFL 1.1) its CSS refers to (woff2/woff; the
#              legacy eot/svg/ttf formats are dropped: no current browser asks for them).
set -euo pipefail

MATHJAX_VERSION=3.2.2
HTML_MANAGER_VERSION=1.0.15
WIDGETS_BASE_VERSION=6.0.11      # for the ipywidgets LICENSE (the same text for all @jupyter-widgets packages)
FONTAWESOME_VERSION=5.15.4       # the version bundled in embed.js, for its LICENSE.txt

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/book/_static"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cd "$TMP"
fetch() {  # fetch NAME@VERSION DIR: unpack the npm tarball of one package into DIR
    local tarball
    tarball="$(npm pack --silent "$1" 2>/dev/null | tail -n 1)"
    mkdir -p "$2"
    tar -xzf "$tarball" -C "$2" --strip-components=1
}
fetch "mathjax@$MATHJAX_VERSION" mathjax
fetch "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION" html-manager
fetch "@jupyter-widgets/base@$WIDGETS_BASE_VERSION" widgets-base
fetch "@fortawesome/fontawesome-free@$FONTAWESOME_VERSION" fontawesome

# --- MathJax: keep the layout MathJax resolves its lazy loads against ([mathjax]/...) ---
rm -rf "$DEST/mathjax"
mkdir -p "$DEST/mathjax/output/chtml/fonts" "$DEST/mathjax/input/tex" "$DEST/mathjax/sre/mathmaps"
src=mathjax/es5
cp mathjax/LICENSE "$DEST/mathjax/LICENSE"
cp "$src/tex-chtml.js" "$DEST/mathjax/"
cp "$src/input/mml.js" "$DEST/mathjax/input/"     # MathML input: needed by the a11y components
cp -r "$src/output/chtml/fonts/woff-v2" "$DEST/mathjax/output/chtml/fonts/"
cp -r "$src/input/tex/extensions" "$DEST/mathjax/input/tex/"
cp -r "$src/a11y" "$DEST/mathjax/"
for map in base en nemeth; do
    cp "$src/sre/mathmaps/$map.json" "$DEST/mathjax/sre/mathmaps/"
done

# --- ipywidgets HTML manager ---
rm -rf "$DEST/widgets"
mkdir -p "$DEST/widgets"
dist=html-manager/dist
# drop the source-map comment: the map (6 MB) is not vendored
sed -e 's|^//# sourceMappingURL=embed.js.map$||' "$dist/embed.js" > "$DEST/widgets/embed.js"
cp "$dist/embed.js.LICENSE.txt" "$DEST/widgets/"
cp "$dist"/*.woff2 "$dist"/*.woff "$DEST/widgets/"
cp widgets-base/LICENSE "$DEST/widgets/LICENSE"
cp fontawesome/LICENSE.txt "$DEST/widgets/LICENSE.fontawesome.txt"

cat > "$DEST/VENDORED.md" <<EOF
# Vendored browser assets

Created by \`scripts/vendor_static.sh\` from the npm registry; do not edit by hand.

| folder | npm package | version | licence |
|---|---|---|---|
| mathjax/ | mathjax | $MATHJAX_VERSION | Apache-2.0 (mathjax/LICENSE) |
| widgets/ | @jupyter-widgets/html-manager | $HTML_MANAGER_VERSION | BSD-3-Clause (widgets/LICENSE; bundled code: widgets/embed.js.LICENSE.txt) |
| widgets/*.woff2, *.woff | @fortawesome/fontawesome-free (bundled by html-manager) | $FONTAWESOME_VERSION | SIL OFL 1.1 (widgets/LICENSE.fontawesome.txt) |

\`ipywidgets-mathjax3.js\` is the book's own (not vendored, not touched by the script): it lets the
widget manager typeset LaTeX in widget labels with MathJax 3.
EOF

du -sh "$DEST/mathjax" "$DEST/widgets"
du -sh "$DEST"
