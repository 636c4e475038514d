"""The rendered book as a reader's browser shows it, offline.

Serves _build/html on 127.0.0.1, opens every page of _toc.yml in headless Chromium (driven over the
DevTools protocol on a pipe: no extra Python package) with every other host unreachable, and checks
per page: each formula typeset by the bundled MathJax (no raw TeX delimiters left in the text, an
``mjx-container`` in every math element, no MathJax error), each <img> loaded (naturalWidth > 0),
no console error, no uncaught exception, no failed request and no request off localhost. A
screenshot per page (and one of its first displayed formula) goes to _build/screenshots/.

Run after the book is built (``make build-strict``; ``make browser`` runs this file). Skipped, with
the reason, where _build/html or a Chromium/Chrome binary (``chromium`` on Debian; or set
ADVNOTES_BROWSER) is missing. Also runnable as a script: ``python tests/test_browser.py``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PAGE_TIMEOUT_S = 60.0
WINDOW = (1280, 900)

pytestmark = pytest.mark.browser


def toc_pages(root: Path = ROOT) -> list[str]:
    """The documents of _toc.yml (root first, then in order), as paths without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    pages.append(node[key])
            for value in node.values():
                if isinstance(value, list | dict):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return list(dict.fromkeys(pages))


def find_browser() -> str | None:
    """ADVNOTES_BROWSER, else the first Chromium or Chrome on PATH."""
    if os.environ.get("ADVNOTES_BROWSER"):
        return shutil.which(os.environ["ADVNOTES_BROWSER"])
    return next(filter(None, map(shutil.which, BROWSERS)), None)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """http://127.0.0.1:<free port>/ serving ``directory`` from a thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# Copies first go above 9, so that neither dup2 is a no-op that would keep a close-on-exec flag.
_TRAMPOLINE = """
import fcntl, os, sys
ends = [int(sys.argv[1]), int(sys.argv[2])]
copies = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in ends]
os.dup2(copies[0], 3)
os.dup2(copies[1], 4)
for fd in set(ends + copies) - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


class Browser:
    """Headless Chromium spoken to over --remote-debugging-pipe (NUL-separated JSON on fds 3 and 4)."""

    def __init__(self, binary: str):
        self.profile = tempfile.mkdtemp(prefix="advnotes-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            binary,
            "--headless",
            "--no-sandbox",  # containers and root: the sandbox needs namespaces that may be missing
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--mute-audio",
            "--hide-scrollbars",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--user-data-dir={self.profile}",
            # Offline: no name resolves but 127.0.0.1, and a direct IP still meets a closed proxy port.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # A small Python trampoline moves the two pipe ends to the fds 3 and 4 that Chromium reads
        # and writes (a POSIX shell's redirections only reach single-digit fds), then becomes Chromium.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = None

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                for waiting in list(self._replies.values()):
                    waiting.put({"error": {"message": "the browser closed its pipe"}})
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        waiting = self._replies.pop(message["id"], None)
                    if waiting is not None:
                        waiting.put(message)
                else:
                    self.events.append(message)

    def send(self, method: str, params: dict | None = None, *, session: bool = True, timeout: float = 30.0):
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
            waiting = self._replies[message_id] = queue.Queue()
        message = {"id": message_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = waiting.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{method}: no reply within {timeout} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def open_tab(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def wait_for_event(self, method: str, since: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events[since:]:
                if event.get("method") == method:
                    return event
            time.sleep(0.02)
        raise TimeoutError(f"no {method} within {timeout} s")

    def close(self):
        with contextlib.suppress(Exception):
            self.send("Browser.close", session=False, timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


# Runs in the page once it has loaded: makes lazy images load, waits for them and for MathJax,
# and reports what a reader would see.
INSPECT_JS = r"""
(async () => {
  const images = [...document.images];
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done);
  })));
  const mj = window.MathJax;
  const mathjax = !!(mj && mj.startup && mj.startup.promise);
  if (mathjax) { await mj.startup.promise; }
  const maths = [...document.querySelectorAll(".math")];
  const untypeset = maths.filter(el => !el.querySelector("mjx-container"))
                         .map(el => el.textContent.trim().slice(0, 80));
  const errors = [];
  if (mathjax && mj.startup.document) {
    for (const item of mj.startup.document.math) {
      const mml = mj.startup.toMML(item.root);
      if (/<merror|mathcolor="red"/.test(mml)) { errors.push(item.math.slice(0, 80)); }
    }
  }
  // Raw TeX left in the text a reader sees (code, pre and MathJax's own output excluded).
  const raw = [];
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = /\\\(|\\\)|\\\[|\\\]|\$\$|\$\\[A-Za-z]|\\begin\{/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (tex.test(node.textContent)) { raw.push(node.textContent.trim().slice(0, 80)); }
  }
  const broken = images.filter(img => !(img.complete && img.naturalWidth > 0))
                       .map(img => img.getAttribute("src"));
  // Where the first visible displayed formula sits, for a second screenshot.
  const display = [...document.querySelectorAll("div.math mjx-container")]
                    .find(el => el.getBoundingClientRect().height > 0);
  const displayTop = display ? Math.max(0, display.getBoundingClientRect().top + window.scrollY - 200) : null;
  return {
    title: document.title,
    mathjax: mathjax,
    mathjax_version: mathjax ? mj.version : null,
    math_elements: maths.length,
    mjx_containers: document.querySelectorAll("mjx-container").length,
    typeset_items: mathjax && mj.startup.document ? Array.from(mj.startup.document.math).length : 0,
    untypeset: untypeset,
    math_errors: errors,
    raw_tex: raw,
    images: images.length,
    broken_images: broken,
    display_top: displayTop,
    height: document.documentElement.scrollHeight,
  };
})()
"""


# Scrolls to a height and resolves once the page has been painted there.
SCROLL_JS = "window.scrollTo(0, %d); new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _browser_favicon(url: str) -> bool:
    """The browser's own request for /favicon.ico at the server root, which is no part of the book."""
    return urlsplit(url or "").path == "/favicon.ico"


def _console_errors(events: list[dict]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            if _browser_favicon(entry.get("url", "")):
                continue
            found.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
    return found


def _request_problems(events: list[dict], origin: str) -> tuple[list[str], list[str]]:
    """(requests that left localhost, requests that failed or answered >= 400)."""
    offsite, failed = [], []
    urls = {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and not url.startswith(origin):
                offsite.append(url)
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params["requestId"], "?")
            if not _browser_favicon(url):
                failed.append(f"{url}: {params.get('errorText')}")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            if _browser_favicon(params["response"]["url"]):
                continue
            failed.append(f"{params['response']['url']}: HTTP {params['response']['status']}")
    return offsite, failed


def check_pages(pages: list[str], html: Path, binary: str, shots: Path) -> dict[str, dict]:
    """Load each page and return what INSPECT_JS saw plus console, network and timing facts."""
    shots.mkdir(parents=True, exist_ok=True)
    results = {}
    with serve(html) as origin:
        browser = Browser(binary)
        try:
            browser.open_tab()
            for page in pages:
                start = time.perf_counter()
                first_event = len(browser.events)
                url = f"{origin}{page}.html"
                navigation = browser.send("Page.navigate", {"url": url})
                if navigation.get("errorText"):
                    raise RuntimeError(f"{url}: {navigation['errorText']}")
                browser.wait_for_event("Page.loadEventFired", first_event, PAGE_TIMEOUT_S)
                seen = browser.send(
                    "Runtime.evaluate",
                    {"expression": INSPECT_JS, "awaitPromise": True, "returnByValue": True},
                    timeout=PAGE_TIMEOUT_S,
                )
                if "exceptionDetails" in seen:
                    raise RuntimeError(f"{url}: {seen['exceptionDetails'].get('text')}")
                result = seen["result"]["value"]
                name = page.replace("/", "__")
                shot = browser.send("Page.captureScreenshot", {"format": "png"})
                (shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
                if result["display_top"] is not None:
                    browser.send(
                        "Runtime.evaluate",
                        {"expression": SCROLL_JS % result["display_top"], "awaitPromise": True},
                    )
                    shot = browser.send("Page.captureScreenshot", {"format": "png"})
                    (shots / f"{name}-formula.png").write_bytes(base64.b64decode(shot["data"]))
                time.sleep(0.1)  # late console messages
                events = browser.events[first_event:]
                result["console_errors"] = _console_errors(events)
                result["offsite_requests"], result["failed_requests"] = _request_problems(events, origin)
                result["seconds"] = round(time.perf_counter() - start, 2)
                results[page] = result
        finally:
            browser.close()
    (shots / "report.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def summary(results: dict[str, dict]) -> str:
    lines = [f"{'page':32} {'formulas':>8} {'mjx':>5} {'images':>6} {'errors':>6} {'s':>5}"]
    for page, r in results.items():
        problems = len(r["console_errors"]) + len(r["failed_requests"]) + len(r["offsite_requests"])
        counts = f"{r['math_elements']:>8} {r['mjx_containers']:>5} {r['images']:>6} {problems:>6}"
        lines.append(f"{page:32} {counts} {r['seconds']:>5}")
    return "\n".join(lines)


PAGES = toc_pages()


@pytest.fixture(scope="module")
def rendered(request):
    if not (HTML / "index.html").is_file():
        pytest.skip(f"no built book at {HTML.relative_to(ROOT)} (run `make build-strict` first)")
    if os.name != "posix":
        pytest.skip("the browser is driven over a pipe on fds 3 and 4, which needs a POSIX system")
    binary = find_browser()
    if binary is None:
        pytest.skip(
            "no Chromium or Chrome found (tried ADVNOTES_BROWSER, " + ", ".join(BROWSERS) + "); "
            "on Debian: apt-get install chromium"
        )
    missing = [p for p in PAGES if not (HTML / f"{p}.html").is_file()]
    assert not missing, f"pages of _toc.yml missing from {HTML}: {missing}"
    start = time.perf_counter()
    results = check_pages(PAGES, HTML, binary, SHOTS)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(summary(results))
            seconds = time.perf_counter() - start
            reporter.write_line(f"{len(results)} pages in {seconds:.1f} s; screenshots in {SHOTS.relative_to(ROOT)}")
    return results


@pytest.mark.parametrize("page", PAGES)
def test_page_formulas_are_typeset(rendered, page):
    r = rendered[page]
    if r["math_elements"]:
        assert r["mathjax"], "the page has math but MathJax did not load"
        assert r["mathjax_version"].startswith("3."), r["mathjax_version"]
    assert not r["untypeset"], f"math elements without MathJax output: {r['untypeset'][:5]}"
    assert not r["math_errors"], f"formulas MathJax could not typeset: {r['math_errors'][:5]}"
    assert not r["raw_tex"], f"raw TeX in the rendered text: {r['raw_tex'][:5]}"
    assert r["mjx_containers"] >= r["math_elements"]


@pytest.mark.parametrize("page", PAGES)
def test_page_images_load(rendered, page):
    assert not rendered[page]["broken_images"], f"images that did not load: {rendered[page]['broken_images']}"


@pytest.mark.parametrize("page", PAGES)
def test_page_has_no_console_errors_and_stays_offline(rendered, page):
    r = rendered[page]
    assert not r["console_errors"], r["console_errors"]
    assert not r["offsite_requests"], f"requests off localhost: {r['offsite_requests']}"
    assert not r["failed_requests"], r["failed_requests"]


def test_launch_buttons_only_where_a_page_runs_alone():
    """Chapters open in Colab; the benchmarks appendix (it needs the repository's benchmarks/) does not."""
    if not (HTML / "index.html").is_file():
        pytest.skip(f"no built book at {HTML.relative_to(ROOT)} (run `make build-strict` first)")
    colab = "colab.research.google.com"
    chapters = [p for p in PAGES if "/ch" in f"/{p.split('/')[-1]}"]
    assert chapters
    for page in chapters:
        assert colab in (HTML / f"{page}.html").read_text(encoding="utf-8"), f"{page} has no Colab button"
    assert colab not in (HTML / "book" / "appendix_benchmarks.html").read_text(encoding="utf-8")


def test_the_book_has_formulas_and_figures(rendered):
    """A guard on the checks themselves: a book whose math or figures vanished would pass them vacuously."""
    assert sum(r["math_elements"] for r in rendered.values()) > 0
    assert sum(r["images"] for r in rendered.values()) > 0


if __name__ == "__main__":
    binary = find_browser()
    if binary is None or not (HTML / "index.html").is_file():
        sys.exit("needs a built book (_build/html) and a Chromium binary")
    results = check_pages(PAGES, HTML, binary, SHOTS)
    print(summary(results))
    bad = {p: r for p, r in results.items() if r["console_errors"] or r["broken_images"] or r["raw_tex"]}
    print(json.dumps(bad, indent=1) if bad else "all pages clean")
