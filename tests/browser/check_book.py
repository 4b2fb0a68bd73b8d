"""Open every page of the built HTML book in headless Chromium, offline; check what a reader sees.

Usage::

    make book && make check-book                      # build the book, then check _build/html
    python tests/browser/check_book.py [_build/html]  # check an existing build
    python tests/browser/check_book.py _build/html --screenshots shots/   # + one PNG per page
    python tests/browser/check_book.py _build/html --pages notebooks/01_density_estimation.html

``--self-test`` proves the check can fail: it breaks copies of the built pages in a dozen known
ways (MathJax removed, an animation that does not move, code wider than the column, an external ``<script src>``, a web-font ``@import``, a missing image, raw
TeX, a TeX error, an undefined macro, widget state not saved, the widget manager removed, an
animation without frames, a JavaScript error) and exits non-zero unless every break is reported.

Exit status 0 when every page passes, 1 when any page fails, 2 when the check itself cannot run
(no build folder, no Chromium). Install Chromium with ``apt-get install -y chromium`` (Debian);
``--chromium PATH`` or ``$CHROMIUM`` points at another binary.

Each page is loaded over ``file://`` with every host name unresolvable (the book must work
offline), and then, once MathJax, the ipywidgets manager and the images are done, it fails if:

- math is not typeset: a ``.math`` element without ``<mjx-container>`` in it, a MathJax error
  (``<mjx-merror>``), MathJax missing on a page with math, or TeX left as raw text outside
  code (``\\(``, ``\\[``, ``$$``, ``$...\\cmd...$``, ``\\begin{``);
- an image is missing: an ``<img>`` that did not decode (naturalWidth 0), or a local file it names
  that does not exist;
- a widget failed: a saved ipywidgets view that was not rendered, views without saved widget state
  (the notebook was not executed with its widget state stored), or "Error displaying widget";
- an animation failed: a ``matplotlib`` ``to_jshtml`` player with no frames or a blank image, or
  one that does not move (all frames alike, or a slider that does not change the picture);
- something scrolls sideways at 1280 px: the page itself, a code or output block, a display
  equation or a table wider than its box (the book's CSS wraps long code lines);
- the page fetches, or refers in a fetching position to, anything outside the book: every request
  the browser makes is recorded (an ``http(s)://`` request fails the page, as does a local file
  that fails to load, e.g. a lazily loaded MathJax extension that was not vendored), and the HTML is
  scanned for external ``src=``, ``srcset=``, ``<link href>``, ``@import`` and ``url(...)``.
  Plain ``<a href>`` links to other sites are fine: a browser does not fetch them;
- a link to another file of the book (``<a href>``) points at a file that does not exist;
- a JavaScript exception is thrown while the page loads;
- on ``search.html``: a search for ``--search-term`` (default "generative") finds nothing.

The local CSS and JS files of the build are scanned too, for ``@import`` / ``url(...)`` of external
addresses outside comments (e.g. a theme importing web fonts).

Chromium is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``), with the
standard library only; pages are checked in parallel (``--jobs``, default 2) with a time limit each.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import html.parser
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
    # offline: no host name resolves, so nothing can be fetched even by accident
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
]
WINDOW = (1280, 2000)
MAX_SCREENSHOT_HEIGHT = 16000

# ---------------------------------------------------------------------------------------------
# static checks: HTML attributes, local CSS/JS
# ---------------------------------------------------------------------------------------------

EXTERNAL = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//", re.ASCII)  # http://, https://, //host
LOCAL_SCHEMES = ("data:", "blob:", "about:", "javascript:", "mailto:", "#")
# <link rel=...> values a browser does not fetch
NON_FETCHING_RELS = {
    "canonical",
    "next",
    "prev",
    "previous",
    "index",
    "search",
    "author",
    "license",
    "alternate",
    "help",
    "bookmark",
    "first",
    "last",
    "up",
    "contents",
    "glossary",
    "copyright",
    "me",
}
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)""")
CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?(['"]?)([^'");\s]+)\1""")
C_COMMENT = re.compile(r"/\*.*?\*/", re.S)
REDIRECT = re.compile(
    r"""<meta\s+http-equiv=["']?refresh["']?\s+content=["']?\d+\s*;\s*url=([^"'>]+)""", re.I
)


def is_external(url: str) -> bool:
    return bool(EXTERNAL.match(url))


def css_externals(text: str) -> list[str]:
    """External addresses a stylesheet (or a CSS string in JS) would fetch, comments removed."""
    text = C_COMMENT.sub("", text)
    found = [m.group(2) for m in CSS_URL.finditer(text)] + [
        m.group(2) for m in CSS_IMPORT.finditer(text)
    ]
    return [u for u in found if is_external(u)]


class _PageParser(html.parser.HTMLParser):
    """Collect the addresses a browser would fetch for one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fetched: list[tuple[str, str]] = []  # (where, url)
        self.links: list[str] = []  # <a href>: not fetched, but a local one must exist
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "style":
            self._in_style = True
        for name in ("src", "poster", "data", "background"):
            if name in a and not (tag == "a"):
                self.fetched.append((f"<{tag} {name}>", a[name]))
        for name in ("srcset", "imagesrcset"):
            for part in a.get(name, "").split(","):
                if part.strip():
                    self.fetched.append((f"<{tag} {name}>", part.strip().split()[0]))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "link" and "href" in a:
            rels = set(a.get("rel", "").lower().split())
            if not rels or not rels <= NON_FETCHING_RELS:
                self.fetched.append((f"<link rel={a.get('rel', '')}>", a["href"]))
        if "style" in a:
            self.css.append(a["style"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def static_page_problems(page: Path, root: Path) -> list[str]:
    """External fetches and missing local files named by the HTML of one page."""
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    problems = []
    for where, url in parser.fetched:
        if is_external(url):
            problems.append(f"external fetch in {where}: {url}")
        elif url and not url.startswith(LOCAL_SCHEMES):
            path = unquote(urlsplit(url).path)
            if path and not (page.parent / path).resolve().exists():
                problems.append(f"missing local file in {where}: {url}")
    for url in dict.fromkeys(parser.links):
        if (
            not is_external(url)
            and not url.startswith(LOCAL_SCHEMES)
            and not re.match(r"[a-zA-Z][\w+.-]*:", url)
        ):
            path = unquote(urlsplit(url).path)
            if path and not (page.parent / path).resolve().exists():
                problems.append(f"broken local link: {url}")
    for css in parser.css:
        problems += [f"external fetch in inline CSS: {u}" for u in css_externals(css)]
    return problems


def static_asset_problems(root: Path) -> dict[str, list[str]]:
    """External fetches named by the local CSS files, and by CSS embedded in the local JS files."""
    problems: dict[str, list[str]] = {}
    for path in sorted(itertools.chain(root.rglob("*.css"), root.rglob("*.js"))):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".css":
            found = css_externals(text)
        else:  # only CSS-looking fetches in JS: JS also holds harmless URLs (licences, docs)
            stripped = C_COMMENT.sub("", text)
            found = [m.group(2) for m in CSS_IMPORT.finditer(stripped) if is_external(m.group(2))]
            found += [u for u in re.findall(r"url\((?:\\?['\"])?(https?://[^'\")\\]+)", stripped)]
        if found:
            problems[str(path.relative_to(root))] = [
                f"external fetch: {u}" for u in sorted(set(found))
            ]
    return problems


# ---------------------------------------------------------------------------------------------
# Chromium over the DevTools protocol (pipe transport)
# ---------------------------------------------------------------------------------------------


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium; any number of pages (sessions) driven from several threads."""

    def __init__(self, binary: str, window: tuple[int, int] = WINDOW) -> None:
        self._profile = tempfile.mkdtemp(prefix="check-book-")
        cmd_r, self._cmd_w = os.pipe()  # we write commands, Chromium reads fd 3
        self._res_r, res_w = os.pipe()  # Chromium writes fd 4, we read
        args = [
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self._profile}",
            f"--window-size={window[0]},{window[1]}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f'exec "$0" "$@" 3<&{cmd_r} 4>&{res_w}', binary, *args],
            pass_fds=(cmd_r, res_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._listeners: dict[str | None, list] = {}
        self._closed = False
        threading.Thread(target=self._reader, daemon=True).start()
        self.call("Target.setDiscoverTargets", {"discover": False}, timeout=30)

    def _reader(self) -> None:
        buf = b""
        with os.fdopen(self._res_r, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                buf += chunk
                *messages, buf = buf.split(b"\0")
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        fut = self._pending.pop(msg["id"], None)
                        if fut is not None:
                            if "error" in msg:
                                fut.set_exception(CDPError(f"{msg['error'].get('message')}"))
                            else:
                                fut.set_result(msg.get("result", {}))
                    else:
                        for listener in list(self._listeners.get(msg.get("sessionId"), [])):
                            listener(msg["method"], msg.get("params", {}))
        for fut in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(CDPError("Chromium exited"))

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict:
        msg_id = next(self._ids)
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._pending[msg_id] = fut
        msg: dict = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        with self._lock:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self._pending.pop(msg_id, None)
            raise CDPError(f"{method}: no answer in {timeout:.0f} s") from None

    def listen(self, session: str, fn) -> None:
        self._listeners.setdefault(session, []).append(fn)

    def unlisten(self, session: str) -> None:
        self._listeners.pop(session, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        shutil.rmtree(self._profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# in-page checks
# ---------------------------------------------------------------------------------------------

# Resolves when the page has settled: MathJax typeset, widget views rendered (or given up), images
# decoded, animations initialised. Never rejects.
SETTLE_JS = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const until = async (cond, ms) => {
    const t = Date.now();
    while (!cond() && Date.now() - t < ms) await sleep(50);
  };
  if (document.readyState !== 'complete') await new Promise(r => addEventListener('load', r));
  // MathJax (a deferred script) has run by now if it loaded at all: no long wait when it did not
  if (document.querySelector('script[src*="mathjax"]')) {
    await until(() => window.MathJax && MathJax.startup && MathJax.startup.promise, 2000);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      try { await Promise.race([MathJax.startup.promise, sleep(%(budget)d)]); } catch (e) {}
    }
  }
  // the widget manager renders on "load"; wait only if it loaded and there is state to render
  const WV = 'script[type="application/vnd.jupyter.widget-view+json"]';
  const WS = 'script[type="application/vnd.jupyter.widget-state+json"]';
  const views = [...document.querySelectorAll(WV)];
  const rendered = v => {
    const s = v.previousElementSibling;
    return s && s.classList.contains('widget-subarea') && s.childElementCount > 0;
  };
  if (views.length && window._jupyter_widget_embedder && document.querySelector(WS))
    await until(() => views.every(rendered), %(budget)d);
  const imgs = [...document.images];
  for (const i of imgs) if (i.loading === 'lazy') i.loading = 'eager';
  await Promise.race([Promise.all(imgs.map(i => i.decode().catch(() => null))), sleep(%(budget)d)]);
  await sleep(300);  // animations start from a setTimeout(0); widgets lay out
  return true;
})()
"""

INSPECT_JS = r"""
(() => {
  const out = {math: 0, typeset: 0, untypeset: [], merrors: [], rawtex: [], mathjax: null,
               images: [], widgets: 0, widget_problems: [], animations: 0,
               animation_problems: [], dom_external: []};
  const short = s => (s || '').replace(/\s+/g, ' ').trim().slice(0, 120);
  // --- math ---
  const mathEls = [...document.querySelectorAll('.math')];
  out.math = mathEls.length;
  out.typeset = document.querySelectorAll('mjx-container').length;
  out.mathjax = !!(window.MathJax && MathJax.startup && MathJax.startup.document);
  for (const m of mathEls)
    if (!m.querySelector('mjx-container') && m.tagName !== 'MJX-CONTAINER')
      out.untypeset.push(short(m.textContent));
  for (const e of document.querySelectorAll('mjx-merror'))
    out.merrors.push(short(e.getAttribute('data-mjx-error') || e.textContent));
  // an undefined macro is shown in red by MathJax's noundefined extension, not as an error
  for (const e of document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]'))
    if (/^\\/.test(e.textContent))
      out.merrors.push('undefined control sequence ' + short(e.textContent));
  // (not .tex2jax_ignore: myst-nb puts whole notebook pages in one, and relies on .math inside)
  const skip = 'script,style,pre,code,textarea,kbd,samp,mjx-container,.highlight,.cell_input';
  const raw = /\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$/;
  const accept = n => (n.parentElement && n.parentElement.closest(skip))
                      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT,
                                           {acceptNode: accept});
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const m = n.textContent.match(raw);
    if (m) {
      const i = Math.max(0, m.index - 40);
      out.rawtex.push(short(n.textContent.slice(i, m.index + 80)));
    }
  }
  // --- images ---
  for (const img of document.images) {
    if (!img.closest('.animation') && (!img.complete || img.naturalWidth === 0))
      out.images.push(short(img.getAttribute('src')).slice(0, 100) || '(no src)');
  }
  // --- widgets ---
  const WV = 'script[type="application/vnd.jupyter.widget-view+json"]';
  const WS = 'script[type="application/vnd.jupyter.widget-state+json"]';
  const views = [...document.querySelectorAll(WV)];
  const wp = out.widget_problems;
  out.widgets = views.length;
  if (views.length && !document.querySelector(WS))
    wp.push(`${views.length} widget view(s) but no saved widget state on the page`);
  views.forEach((v, k) => {
    const s = v.previousElementSibling;
    if (!(s && s.classList.contains('widget-subarea') && s.childElementCount > 0)) {
      let id = '';
      try { id = JSON.parse(v.textContent).model_id; } catch (e) {}
      wp.push(`widget view ${k + 1} (model ${id}) not rendered`);
    } else {
      const r = s.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) wp.push(`widget view ${k + 1} rendered with zero size`);
    }
  });
  if (/Error displaying widget/i.test(document.body.innerText))
    wp.push('"Error displaying widget" on the page');
  // --- matplotlib to_jshtml animations ---
  const anims = [...document.querySelectorAll('div.animation')];
  out.animations = anims.length;
  anims.forEach((a, k) => {
    const bad = msg => out.animation_problems.push(`animation ${k + 1}: ${msg}`);
    const img = a.querySelector('img[id^="_anim_img"]');
    const slider = a.querySelector('input[id^="_anim_slider"]');
    const name = img ? 'anim' + img.id.slice('_anim_img'.length) : null;
    const obj = name && window[name];
    const nframes = obj && obj.frames ? obj.frames.length : 0;
    if (!img) bad('no frame image');
    else if (!obj) bad(`player not initialised (${name})`);
    else if (nframes === 0) bad('no frames');
    else if (!img.complete || img.naturalWidth === 0) bad('frame image blank');
    else if (slider && +slider.max !== nframes - 1) bad(`slider spans not ${nframes} frames`);
    else if (nframes > 1) {   // it moves: some frame differs, and the slider brings it up
      const k = obj.frames.findIndex(f => f.src !== obj.frames[0].src);
      if (k < 0) bad('does not move: every frame shows the same picture');
      else {
        obj.pause_animation && obj.pause_animation();
        obj.set_frame(0);
        const first = img.src;
        if (slider) { slider.value = k; slider.dispatchEvent(new Event('input')); }
        else obj.set_frame(k);
        if (img.src === first) bad('does not move: its slider does not change the picture');
        obj.set_frame(0);
      }
    }
  });
  // --- a comfortable page: nothing scrolls sideways at this width ---
  out.overflow = [];
  const wide = e => e.scrollWidth > e.clientWidth + 1;
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    out.overflow.push(`the page itself is ${document.documentElement.scrollWidth} px wide`);
  const scrolled = 'div.cell_input pre, div.cell_output pre, div.output pre, div.highlight pre, ' +
                   'mjx-container[display="true"], div.math, table';
  for (const e of document.querySelectorAll(scrolled)) {
    if (!wide(e) || e.closest('.toggle-hidden, details:not([open])')) continue;
    const kind = e.matches('mjx-container, div.math') ? 'equation'
               : e.matches('table') ? 'table'
               : e.closest('.cell_output, .output') ? 'output' : 'code';
    out.overflow.push(`${kind} scrolls sideways (${e.scrollWidth} > ${e.clientWidth} px): ` +
                      short(e.textContent).slice(0, 60));
  }
  // --- addresses in fetching positions after scripts ran ---
  const ext = u => /^\s*([a-zA-Z][a-zA-Z0-9+.-]*:)?\/\//.test(u || '') && !/^\s*file:/i.test(u);
  const nav = %(nav_rels)s;
  for (const e of document.querySelectorAll('[src],[srcset],[poster],link[href]')) {
    const tag = e.tagName.toLowerCase();
    for (const attr of ['src', 'srcset', 'poster'])
      if (ext(e.getAttribute(attr)))
        out.dom_external.push(`<${tag} ${attr}=${short(e.getAttribute(attr))}>`);
    if (tag === 'link' && ext(e.getAttribute('href'))) {
      const rels = (e.getAttribute('rel') || '').toLowerCase().split(/\s+/).filter(Boolean);
      if (!rels.length || !rels.every(r => nav.includes(r)))
        out.dom_external.push(`<link rel=${rels.join(' ')} href=${short(e.getAttribute('href'))}>`);
    }
  }
  return out;
})()
"""


# number of results of the page's search (search.html?q=...), 0 after 15 s without any
SEARCH_JS = r"""
(async () => {
  const t = Date.now();
  while (Date.now() - t < 15000) {
    const n = document.querySelectorAll('#search-results li').length;
    if (n) return n;
    await new Promise(r => setTimeout(r, 100));
  }
  return 0;
})()
"""


@dataclass
class PageResult:
    page: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check_page(
    browser: Browser,
    root: Path,
    page: Path,
    timeout: float,
    shots: Path | None = None,
    search_term: str | None = None,
) -> PageResult:
    rel = str(page.relative_to(root))
    result = PageResult(rel)
    t0 = time.monotonic()
    result.problems += static_page_problems(page, root)
    redirect = REDIRECT.search(page.read_text(encoding="utf-8", errors="replace")[:4000])
    if redirect:  # e.g. the root index.html: a browser would leave at once; check the target exists
        url = redirect.group(1).strip()
        if is_external(url):
            result.problems.append(f"redirects to an external address: {url}")
        elif not (page.parent / unquote(urlsplit(url).path)).exists():
            result.problems.append(f"redirects to a missing page: {url}")
        result.notes.append(f"redirect to {url}")
        result.seconds = time.monotonic() - t0
        return result

    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    requests: dict[str, str] = {}
    external: list[str] = []
    failed: list[str] = []
    exceptions: list[str] = []
    loaded = threading.Event()

    def on_event(method: str, params: dict) -> None:
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            requests[params["requestId"]] = url
            if not url.startswith(("file:", "data:", "blob:", "about:", "chrome:", "devtools:")):
                external.append(url)
        elif method == "Network.loadingFailed":
            url = requests.get(params["requestId"], "?")
            if url.startswith("file:") and not params.get("canceled"):
                failed.append(f"{url} ({params.get('errorText', '')})")
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            text = (d.get("exception") or {}).get("description") or d.get("text", "")
            where = f"{d.get('url', '')}:{d.get('lineNumber', '?')}"
            exceptions.append(f"{text.splitlines()[0] if text else '?'} at {where}")
        elif method == "Page.loadEventFired":
            loaded.set()

    browser.listen(session, on_event)
    try:
        for domain in ("Network", "Page", "Runtime"):
            browser.call(f"{domain}.enable", session=session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        if not loaded.wait(timeout):
            result.problems.append(f"page did not finish loading in {timeout:.0f} s")
        else:
            remaining = max(5.0, timeout - (time.monotonic() - t0))
            budget_ms = int(1000 * max(1.0, remaining - 3))
            browser.call(
                "Runtime.evaluate",
                {
                    "expression": SETTLE_JS % {"budget": budget_ms},
                    "awaitPromise": True,
                    "returnByValue": True,
                },
                session=session,
                timeout=remaining,
            )
            got = browser.call(
                "Runtime.evaluate",
                {
                    "expression": INSPECT_JS % {"nav_rels": json.dumps(sorted(NON_FETCHING_RELS))},
                    "returnByValue": True,
                },
                session=session,
            )
            if "exceptionDetails" in got:
                raise CDPError(f"inspection script failed: {got['exceptionDetails']}")
            r = got["result"]["value"]
            if r["math"] and not r["mathjax"]:
                result.problems.append(f"{r['math']} math element(s) but MathJax did not load")
            for text in r["untypeset"][:5]:
                result.problems.append(f"math not typeset: {text}")
            if len(r["untypeset"]) > 5:
                result.problems.append(
                    f"... and {len(r['untypeset']) - 5} more untypeset math elements"
                )
            result.problems += [f"MathJax error: {t}" for t in r["merrors"]]
            result.problems += [f"raw TeX in the text: {t}" for t in r["rawtex"][:5]]
            result.problems += [f"image not displayed: {s}" for s in r["images"]]
            result.problems += [f"widget: {p}" for p in r["widget_problems"]]
            result.problems += [f"animation: {p}" for p in r["animation_problems"]]
            result.problems += [f"at {WINDOW[0]} px: {p}" for p in r["overflow"]]
            result.problems += [
                f"external address in the page after scripts ran: {p}" for p in r["dom_external"]
            ]
            result.notes.append(
                f"math {r['typeset']}/{r['math']}, widgets {r['widgets']}, "
                f"animations {r['animations']}"
            )
            if shots is not None:
                shot = shots / (rel.replace("/", "__").removesuffix(".html") + ".png")
                screenshot(browser, session, shot)
            if rel == "search.html" and search_term:
                loaded.clear()
                browser.call(
                    "Page.navigate",
                    {"url": page.resolve().as_uri() + "?q=" + search_term},
                    session=session,
                )
                if not loaded.wait(timeout):
                    result.problems.append("search page did not load with a query")
                else:
                    hits = browser.call(
                        "Runtime.evaluate",
                        {"expression": SEARCH_JS, "awaitPromise": True, "returnByValue": True},
                        session=session,
                        timeout=30,
                    )["result"]["value"]
                    if not hits:
                        result.problems.append(f"search for {search_term!r} found nothing")
                    result.notes.append(f"search {search_term!r}: {hits} hits")
    except CDPError as exc:
        result.problems.append(f"browser: {exc}")
    finally:
        result.problems += [f"external request: {u}" for u in dict.fromkeys(external)]
        result.problems += [f"local file failed to load: {u}" for u in dict.fromkeys(failed)]
        result.problems += [f"JavaScript exception: {e}" for e in exceptions]
        browser.unlisten(session)
        try:
            browser.call("Target.closeTarget", {"targetId": target}, timeout=10)
        except CDPError:
            pass
    result.seconds = time.monotonic() - t0
    return result


def screenshot(browser: Browser, session: str, path: Path) -> None:
    """A PNG of the whole page (up to MAX_SCREENSHOT_HEIGHT px), laid out in a window that tall."""
    metrics = browser.call("Page.getLayoutMetrics", session=session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    height = int(min(max(size["height"], WINDOW[1] // 2), MAX_SCREENSHOT_HEIGHT))
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    browser.call(
        "Runtime.evaluate",
        {"expression": "new Promise(r => setTimeout(r, 300))", "awaitPromise": True},
        session=session,
    )
    shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session, timeout=60)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


# ---------------------------------------------------------------------------------------------


def find_chromium(explicit: str | None) -> str | None:
    for cand in (
        explicit,
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if cand and Path(cand).exists():
            return cand
    return None


def book_pages(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.html")
        if not {"_static", "_sources"} & set(p.relative_to(root).parts)
    )


def run_checks(
    binary: str,
    root: Path,
    pages: list[Path],
    jobs: int = 2,
    timeout: float = 60,
    shots: Path | None = None,
    search_term: str | None = None,
) -> tuple[dict, list[PageResult]]:
    """Scan the assets of ``root``, check ``pages`` in the browser: (asset problems, results)."""
    asset_problems = static_asset_problems(root)
    results = []
    browser = Browser(binary)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {
                pool.submit(check_page, browser, root, p, timeout, shots, search_term): p
                for p in pages
            }
            for fut in concurrent.futures.as_completed(futures):
                try:
                    results.append(fut.result())
                except Exception as exc:  # a bug or a dead browser: report, keep going
                    results.append(
                        PageResult(str(futures[fut].relative_to(root)), [f"check crashed: {exc!r}"])
                    )
    finally:
        browser.close()
    return asset_problems, sorted(results, key=lambda r: r.page)


# ---------------------------------------------------------------------------------------------
# --self-test: break copies of the built pages on purpose and make sure each break is caught
# ---------------------------------------------------------------------------------------------


def _insert_head(html_text: str, snippet: str) -> str:
    return html_text.replace("</head>", snippet + "\n</head>", 1)


def _first_img_to_missing(html_text: str) -> str:
    return re.sub(
        r'(<img[^>]*?src=")(?!data:)[^"]+(")', r"\1_images/no-such-figure.png\2", html_text, count=1
    )


def _break_equation(html_text: str, tex: str) -> str:
    return re.sub(
        r'(<span class="math notranslate nohighlight">\\\()(.*?)(\\\))',
        lambda m: m.group(1) + m.group(2) + tex + m.group(3),
        html_text,
        count=1,
    )


# name: (a page to break must contain, change of its text, files to delete (None) or prepend to,
#        a text the report must contain)
SELF_TESTS: dict[str, tuple[str, object, dict[str, str | None], str]] = {
    "MathJax not vendored": (
        'class="math',
        None,
        {"_static/mathjax/tex-chtml.js": None},
        "MathJax did not load",
    ),
    "external <script src>": (
        "</head>",
        lambda t: _insert_head(t, '<script src="https://cdn.example.org/x.js"></script>'),
        {},
        "external fetch in <script src>: https://cdn.example.org/x.js",
    ),
    "external stylesheet <link>": (
        "</head>",
        lambda t: _insert_head(
            t, '<link rel="stylesheet" href="//fonts.example.org/css?family=Roboto">'
        ),
        {},
        "external fetch in <link",
    ),
    "@import of web fonts in a local CSS file": (
        "</head>",
        None,
        {"_static/basic.css": '@import url("https://fonts.googleapis.com/css?family=Roboto");\n'},
        "external request: https://fonts.googleapis.com/css?family=Roboto",
    ),
    "missing image file": ("<img", _first_img_to_missing, {}, "image not displayed"),
    "raw TeX left in the text": (
        "</body>",
        lambda t: t.replace(
            "</body>", r"<p>the loss $\mathcal{L}(\theta)$ is minimised</p></body>", 1
        ),
        {},
        "raw TeX in the text",
    ),
    "TeX error in an equation": (
        '<span class="math notranslate nohighlight">\\(',
        lambda t: _break_equation(t, "}"),
        {},
        "MathJax error: Extra close brace",
    ),
    "undefined macro in an equation": (
        '<span class="math notranslate nohighlight">\\(',
        lambda t: _break_equation(t, r"+\Expect"),
        {},
        "undefined control sequence \\Expect",
    ),
    "widget state not saved": (
        "application/vnd.jupyter.widget-view+json",
        lambda t: re.sub(
            r'<script type="application/vnd.jupyter.widget-state\+json">.*?</script>',
            "",
            t,
            count=1,
            flags=re.S,
        ),
        {},
        "no saved widget state",
    ),
    "widget manager not vendored": (
        "application/vnd.jupyter.widget-view+json",
        None,
        {"_static/widgets/embed.js": None},
        "not rendered",
    ),
    "widget labels without the MathJax 3 bridge": (
        "ipywidgets-mathjax3.js",
        None,
        {"_static/ipywidgets-mathjax3.js": None},
        "reading 'Queue'",
    ),
    "animation without frames": (
        'class="animation"',
        lambda t: t.replace("new Animation(", "void (", 1),
        {},
        "animation 1: player not initialised",
    ),
    "animation that does not move": (
        'class="animation"',
        lambda t: t.replace("</body>", "<script>addEventListener('load', () => "
                            "{ Animation.prototype.set_frame = function () {}; });</script></body>", 1),
        {},
        "animation 1: does not move",
    ),
    "code wider than the column": (
        "</article>",
        lambda t: t.replace("</article>", '<div class="cell_input"><div class="highlight">'
                            '<pre style="white-space: pre">' + "x = 1  # " + "wide " * 80 +
                            "</pre></div></div></article>", 1),
        {},
        "code scrolls sideways",
    ),
    "broken local link": (
        "</body>",
        lambda t: t.replace("</body>", '<a href="no-such-page.html">x</a></body>', 1),
        {},
        "broken local link: no-such-page.html",
    ),
    "JavaScript exception": (
        "</head>",
        lambda t: _insert_head(t, "<script>null.boom();</script>"),
        {},
        "JavaScript exception",
    ),
}


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _self_test_report(browser: Browser, case_root: Path, target: Path, timeout: float) -> list[str]:
    try:
        result = check_page(browser, case_root, target, timeout)
    except Exception as exc:
        return [f"check crashed: {exc!r}"]
    return result.problems + [
        f"{f}: {p}" for f, ps in static_asset_problems(case_root).items() for p in ps
    ]


def self_test(binary: str, root: Path, jobs: int, timeout: float) -> int:
    """Break copies of the build in each way of SELF_TESTS; each must be reported (exit code)."""
    pages = book_pages(root)
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in pages}
    missed = 0
    with tempfile.TemporaryDirectory(prefix="check-book-selftest-") as tmp:
        cases = []
        for k, (name, (needle, mutate, files, expected)) in enumerate(SELF_TESTS.items()):
            page = next(
                (p for p in pages if needle in texts[p] and not REDIRECT.search(texts[p][:4000])),
                None,
            )
            if page is None:
                print(f"skip {name}: no page of the book contains {needle!r}")
                continue
            case_root = Path(tmp) / f"case{k}"
            text = texts[page]
            new = mutate(text) if mutate else text
            if mutate and new == text:
                print(f"skip {name}: could not apply the change to {page.relative_to(root)}")
                continue
            # a copy of the build of hard links (cheap): a changed file is unlinked, then written
            shutil.copytree(root, case_root, copy_function=_link_or_copy)
            target = case_root / page.relative_to(root)
            target.unlink()
            target.write_text(new, encoding="utf-8")
            for f, content in files.items():  # delete a file, or put text at its top
                old = (case_root / f).read_text(encoding="utf-8")
                (case_root / f).unlink()
                if content is not None:
                    (case_root / f).write_text(content + old, encoding="utf-8")
            cases.append((name, expected, case_root, target))
        browser = Browser(binary)
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                reports = list(
                    pool.map(
                        lambda case: _self_test_report(browser, case[2], case[3], timeout), cases
                    )
                )
        finally:
            browser.close()
        for (name, expected, case_root, target), report in zip(cases, reports, strict=True):
            caught = any(expected in line for line in report)
            missed += not caught
            print(f"{'caught' if caught else 'MISSED'}  {name}  ({target.relative_to(case_root)})")
            for line in report if not caught else [line for line in report if expected in line][:1]:
                print(f"        - {line}")
    print(f"\nself-test: {len(cases) - missed}/{len(cases)} deliberate breaks caught")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "build", nargs="?", default="_build/html", help="the built HTML book (default: _build/html)"
    )
    ap.add_argument(
        "--jobs", "-j", type=int, default=2, help="pages checked in parallel (default 2)"
    )
    ap.add_argument(
        "--timeout", type=float, default=60, help="seconds allowed per page (default 60)"
    )
    ap.add_argument(
        "--screenshots", metavar="DIR", type=Path, help="save a full-page PNG of every page here"
    )
    ap.add_argument(
        "--pages", nargs="+", metavar="PAGE", help="check only these pages (paths inside the build)"
    )
    ap.add_argument(
        "--search-term",
        default="generative",
        help="search.html must find this word (default: 'generative'; '' skips the search check)",
    )
    ap.add_argument(
        "--chromium", help="the Chromium binary (default: $CHROMIUM or /usr/bin/chromium)"
    )
    ap.add_argument(
        "--self-test",
        action="store_true",
        help="break copies of the built pages in known ways and check that every break is reported",
    )
    args = ap.parse_args(argv)

    root = Path(args.build).resolve()
    if not (root / "index.html").exists() and not args.pages:
        print(
            f"check_book: {root} holds no built book (no index.html); build it first",
            file=sys.stderr,
        )
        return 2
    binary = find_chromium(args.chromium)
    if binary is None:
        print(
            "check_book: Chromium not found (apt-get install -y chromium, or --chromium PATH)",
            file=sys.stderr,
        )
        return 2
    if args.self_test:
        return self_test(binary, root, args.jobs, args.timeout)
    pages = [root / p for p in args.pages] if args.pages else book_pages(root)
    missing = [p for p in pages if not p.exists()]
    if missing:
        print(f"check_book: no such page(s): {', '.join(map(str, missing))}", file=sys.stderr)
        return 2

    t0 = time.monotonic()
    asset_problems, results = run_checks(
        binary, root, pages, args.jobs, args.timeout, args.screenshots, args.search_term or None
    )
    for name, probs in asset_problems.items():
        print(f"FAIL {name}")
        for p in probs:
            print(f"     - {p}")
    for r in results:
        status = "FAIL" if r.problems else "ok  "
        print(f"{status} {r.page}  ({r.seconds:.1f} s; {'; '.join(r.notes)})")
        for p in r.problems:
            print(f"     - {p}")
    n_bad = sum(bool(r.problems) for r in results)
    print(
        f"\n{len(results)} pages checked in {time.monotonic() - t0:.1f} s: {n_bad} failed"
        + (
            f"; {len(asset_problems)} asset file(s) fetch external resources"
            if asset_problems
            else ""
        )
    )
    if args.screenshots:
        print(f"screenshots in {args.screenshots}")
    return 1 if (n_bad or asset_problems) else 0


if __name__ == "__main__":
    sys.exit(main())
