#!/usr/bin/env bash
# Opens a samizdat library in headless Chromium from file:// and checks that the
# pages render and make no network request at all.
#
#   no_network_test.sh LIBRARY_DIR [SCREENSHOT_DIR] [ARTICLE|-] [R,G,B]
#
# ARTICLE is an article page relative to LIBRARY_DIR (default: the first page
# that shows an image). When R,G,B is given, the article's screenshot must
# contain that colour (the demo library's test image is a red/yellow
# checkerboard: 200,30,40). Screenshots of index.html and the article are left
# in SCREENSHOT_DIR (default: a temporary folder, printed at the end).
#
# How "no network request" is checked: Chromium writes every request it makes,
# DNS lookups included, to a NetLog (--log-net-log); browser_check.py lists the
# requests that belong to the file:// page. To prove that this check can fail,
# two control pages are made from a copy of the article: one without the CSP
# and with a remote <img>, which must show up in the NetLog (else the check is
# blind and the test fails), and one with the CSP and the same remote <img>,
# which must not (the CSP alone blocks it, whatever the sanitizer did).
#
# Exit 0: passed; 1: failed; 77: skipped (no Chromium), for CTest SKIP_RETURN_CODE.
set -u

here=$(cd "$(dirname "$0")" && pwd)
check="$here/browser_check.py"

if [ $# -lt 1 ] || [ ! -f "$1/index.html" ]; then
    echo "usage: $0 LIBRARY_DIR [SCREENSHOT_DIR] [ARTICLE] [R,G,B]  (LIBRARY_DIR/index.html must exist)" >&2
    exit 2
fi
lib=$(cd "$1" && pwd)
shots=${2:-}
article=${3:-}
[ "$article" = "-" ] && article=
rgb=${4:-}

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for b in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$b" >/dev/null 2>&1; then
            browser=$(command -v "$b")
            break
        fi
    done
fi
if [ -z "$browser" ]; then
    echo "SKIP: Chromium is not installed (set CHROMIUM=/path/to/chrome to run this test)"
    exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 is not installed"
    exit 77
fi
# The system's python3 rather than a version manager's shim that may come
# first on PATH (it starts a dozen processes a call).
if [ -x /usr/bin/python3 ]; then
    PATH=/usr/bin:$PATH
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sz-browser-XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -z "$shots" ]; then
    shots=$(mktemp -d "${TMPDIR:-/tmp}/sz-shots-XXXXXX")
fi
mkdir -p "$shots"
shots=$(cd "$shots" && pwd)

if [ -z "$article" ]; then
    article=$(cd "$lib" && grep -l '<img src="' -- */*/index.html 2>/dev/null | head -n 1)
    if [ -z "$article" ]; then
        article=$(cd "$lib" && ls -- */*/index.html 2>/dev/null | head -n 1)
    fi
fi
if [ -z "$article" ] || [ ! -f "$lib/$article" ]; then
    echo "FAIL: no article page found in $lib" >&2
    exit 1
fi

failed=0
fail() {
    echo "FAIL: $*"
    failed=1
}

# run NAME URL MODE: MODE is "screenshot" or "dom". Writes $work/NAME.netlog,
# $work/NAME.log (browser console) and a screenshot or $work/NAME.dom.
run() {
    local name=$1 url=$2 mode=$3 scheme=${4:-} profile out
    profile=$(mktemp -d "$work/profile-XXXXXX")
    local args=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --disable-default-apps --disable-extensions --no-default-browser-check
        --user-data-dir="$profile" --log-net-log="$work/$name.netlog"
        --enable-logging=stderr --v=0 --window-size=1000,1400 --hide-scrollbars)
    # A reader whose system asks for dark pages (prefers-color-scheme: dark).
    [ "$scheme" = dark ] && args+=(--force-dark-mode --blink-settings=preferredColorScheme=0)
    if [ "$mode" = screenshot ]; then
        out="$shots/$name.png"
        rm -f "$out"
        timeout 120 "$browser" "${args[@]}" --screenshot="$out" "$url" \
            >"$work/$name.out" 2>"$work/$name.log"
        [ -s "$out" ] || fail "$name: no screenshot from $url (see below)"
    else
        timeout 120 "$browser" "${args[@]}" --dump-dom "$url" \
            >"$work/$name.dom" 2>"$work/$name.log"
        [ -s "$work/$name.dom" ] || fail "$name: no DOM from $url"
    fi
    if [ ! -s "$work/$name.netlog" ]; then
        fail "$name: Chromium wrote no NetLog"
        tail -n 20 "$work/$name.log"
        return 1
    fi
    return 0
}

no_network() {
    local name=$1
    python3 "$check" netlog "$work/$name.netlog" || fail "$name made network requests"
}

echo "library: $lib"
echo "article: $article"
echo "browser: $browser ($("$browser" --version 2>/dev/null | tail -n 1))"

# 1. The index and the article: screenshots, no network.
for page in "index:index.html" "article:$article"; do
    name=${page%%:*}
    rel=${page#*:}
    if run "$name" "file://$lib/$rel" screenshot; then
        no_network "$name"
    fi
done

# 2. Their DOM: the pages loaded from file:// (not an error page) and no script ran.
if run index-dom "file://$lib/index.html" dom; then
    no_network index-dom
    grep -q '<h1>Library</h1>' "$work/index-dom.dom" || fail "index.html did not load"
    grep -q 'Content-Security-Policy' "$work/index-dom.dom" || fail "index.html has no CSP"
fi
if run article-dom "file://$lib/$article" dom; then
    no_network article-dom
    grep -q 'class="body' "$work/article-dom.dom" || fail "$article did not load"
    grep -q 'Content-Security-Policy' "$work/article-dom.dom" || fail "$article has no CSP"
    grep -q 'pwned' "$work/article-dom.dom" && fail "a script ran in $article"
fi
# Every page of the library, DOM only: none may reach the network. Of the
# demo's archive publisher (101 alike articles w000 to w100, to have month
# pages), one article is opened.
n=0
n_months=0
while IFS= read -r rel; do
    n=$((n + 1))
    if run "page$n" "file://$lib/$rel" dom; then
        python3 "$check" netlog "$work/page$n.netlog" >/dev/null ||
            fail "$rel made network requests: $(python3 "$check" netlog "$work/page$n.netlog" | tail -n +2 | tr -d '\n')"
        grep -q 'pwned' "$work/page$n.dom" && fail "a script ran in $rel"
        grep -q 'Content-Security-Policy' "$work/page$n.dom" || fail "$rel has no CSP"
        case $rel in
        archive/*)
            n_months=$((n_months + 1))
            grep -q '<ol class="articles">' "$work/page$n.dom" || fail "$rel did not load"
            ;;
        esac
    fi
done < <(cd "$lib" && ls -- */*/index.html archive/*/*.html 2>/dev/null |
    grep -Ev '^[0-9a-f]+/w(0[0-9][1-9]|0[1-9]0|100)/index\.html$')
echo "checked $n pages, $n_months of them month pages"

# 3. The image is displayed.
if [ -n "$rgb" ] && [ -s "$shots/article.png" ]; then
    python3 "$check" pixels "$shots/article.png" "$rgb" || fail "the article's image is not shown"
fi

# 4. Controls: the same article with a remote image, without and with the CSP.
# An HTML body with a fixed element of the whole window's size
# in colour 1,2,3: it stays inside the article's box, so it covers only a small
# part of the screenshot, not the navigation and provenance around it. (The
# demo library has one; a library fetched in another test may not.)
overlay=$(cd "$lib" && ls -- */overlay/index.html 2>/dev/null | head -n 1)
if [ -n "$overlay" ] && run overlay "file://$lib/$overlay" screenshot; then
    no_network overlay
    python3 "$check" pixels "$shots/overlay.png" 1,2,3 500 ||
        fail "$overlay: the body's element is not shown at all (the check proves nothing)"
    python3 "$check" pixels "$shots/overlay.png" 1,2,3 280000 &&
        fail "$overlay: an element of the article's body covers the page"
    # Dark pages: colours the article sets assume a light page (black text
    # on black), so there the page's own win: the element's is not drawn.
    if run overlay-dark "file://$lib/$overlay" screenshot dark; then
        python3 "$check" pixels "$shots/overlay-dark.png" 1,2,3 50 &&
            fail "$overlay: on a dark page the article's own background colour is drawn"
    fi
fi

adir=$(dirname "$article")
mkdir -p "$work/control"
cp -R "$lib/$adir" "$work/control/open"
cp -R "$lib/$adir" "$work/control/csp"
remote='<img src="https://example.invalid/samizdat-control.png" alt="">'
python3 - "$work/control/open/index.html" "$work/control/csp/index.html" "$remote" <<'EOF'
import re, sys
open_page, csp_page, remote = sys.argv[1:4]
for path, strip_csp in ((open_page, True), (csp_page, False)):
    with open(path, encoding="utf-8") as f:
        html = f.read()
    if strip_csp:
        html, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?', "", html)
        assert n == 1, "no CSP meta to remove in " + path
    html = html.replace("<body>", "<body>\n" + remote, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
EOF
if run control-open "file://$work/control/open/index.html" dom; then
    python3 "$check" netlog "$work/control-open.netlog" --expect-host example.invalid ||
        fail "control without CSP: the NetLog check did not see the remote image, so it proves nothing"
fi
if run control-csp "file://$work/control/csp/index.html" dom; then
    if python3 "$check" netlog "$work/control-csp.netlog" >/dev/null; then
        echo "control with CSP: the injected remote image was blocked"
    else
        fail "control with CSP: the CSP did not block a remote image"
    fi
    grep -q "violates the following Content Security Policy" "$work/control-csp.log" ||
        echo "note: no CSP violation report in the browser log (logging may differ by version)"
fi

echo "screenshots: $shots/index.png $shots/article.png"
if [ "$failed" -ne 0 ]; then
    echo "RESULT: FAIL"
    exit 1
fi
echo "RESULT: PASS (no network request from any page)"
exit 0
