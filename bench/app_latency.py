"""App latency in a real browser: slider release to new image, cold start, generation cost.

    python bench/app_latency.py [--repeats 20] [--sessions 1] [--models dcgan,mlp_gan]

Starts `streamlit run app.py` on a free loopback port and drives headless Chromium (/usr/bin/chromium) with
Playwright. Prints, per shipped MNIST model: the median and p95 time from a slider key release to the new
image being in the page (over --repeats moves), the time from server start to the first image, and the
generation cost in ms per image (batch of 256, and a single image as the slider page draws it).
With --sessions N > 1 it measures the same while N-1 other browser sessions keep moving their sliders
(the load test of the reliability report), and reports the server's memory before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
IMG = "[data-testid=stMain] [data-testid=stImage] img"
EXCEPTIONS: list[str] = []  # page exceptions seen by any session


def note_exceptions(page, who: str) -> None:
    n = page.locator("[data-testid=stException]").count()
    if n:
        EXCEPTIONS.append(f"{who}: {n} exception(s) on {page.url}")


def start_server(port: int) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "streamlit"), "run", "app.py", "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return proc, t0
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_sliders(browser, url: str, model: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/Latent_sliders")
    page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").click()
    page.locator("[role=option]").filter(has_text=model).first.click()
    page.locator("[data-testid=stSidebar] [data-testid=stCaptionContainer]").filter(has_text=model).first.wait_for()
    page.locator(IMG).first.wait_for(timeout=60_000)
    return page


def move_once(page, slider_index: int, frac: float) -> float:
    """Press the mouse on a z slider's track at `frac` of its width and release it there; seconds from the
    release until the displayed image has changed."""
    src = page.locator(IMG).first.get_attribute("src")
    # The coordinate sliders ("z[3]" or, on the style model, "w[3]").
    sliders = page.locator("[data-testid=stSlider]").filter(has_text=re.compile(r"^[zw]\["))
    box = sliders.nth(slider_index).bounding_box()
    x, y = box["x"] + 8 + frac * (box["width"] - 16), box["y"] + box["height"] * 0.62
    page.mouse.move(x, y)
    page.mouse.down()
    t = time.perf_counter()
    page.mouse.up()
    page.wait_for_function(f"src => {{ const i = document.querySelector('{IMG}'); "
                           "return i && i.getAttribute('src') !== src; }", arg=src, timeout=30_000)
    return time.perf_counter() - t


FRACS = [0.2, 0.8, 0.35, 0.65, 0.5, 0.25, 0.75, 0.4, 0.6, 0.3, 0.7, 0.45]


def generation_ms(model_file: Path) -> tuple[float, float]:
    import torch

    from ganzoo import load
    from ganzoo.leaderboard import sampling_ms

    ck = load(model_file)
    batch = sampling_ms(ck.G, 256)
    z = torch.randn(1, ck.cfg.z_dim)
    with torch.no_grad():
        ck.G(z)
        t = time.perf_counter()
        for _ in range(20):
            ck.G(z)
    return batch, (time.perf_counter() - t) / 20 * 1000


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--sessions", type=int, default=1, help="concurrent browser sessions (1 = idle server)")
    p.add_argument("--models", default="", help="comma-separated checkpoint names (default: every MNIST one)")
    p.add_argument("--port", type=int, default=8597)
    args = p.parse_args()
    from ganzoo.checkpoint import peek

    files = sorted((ROOT / "checkpoints").glob("*.safetensors"))
    names = [f.stem for f in files if peek(f).get("dataset") == "mnist"]
    if args.models:
        names = [n for n in names if n in args.models.split(",")]
    proc, t0 = start_server(args.port)
    url = f"http://127.0.0.1:{args.port}"
    results = []
    stop = threading.Event()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROME_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.locator(IMG).first.wait_for(timeout=120_000)
            cold = time.perf_counter() - t0
            page.close()
            print(f"cold start to first image: {cold:.1f} s (server start, imports, model load, first render)")
            mem0 = rss_mb(proc.pid)
            load_threads = []
            for i in range(args.sessions - 1):
                th = threading.Thread(target=_background_session, args=(url, names[i % len(names)], stop), daemon=True)
                th.start()
                load_threads.append(th)
            if load_threads:
                time.sleep(8)
            print("\n| model | slider->image median ms | p95 ms | gen ms/image (batch 256) | gen ms (1 image) |")
            print("|---|---|---|---|---|")
            for name in names:
                page = open_sliders(browser, url, name)
                move_once(page, 0, 0.9)  # warm-up
                # Each release puts a z slider at a value it did not have: every one draws a new image.
                times = [move_once(page, i % 6, FRACS[(i // 6) % len(FRACS)]) for i in range(args.repeats)]
                note_exceptions(page, "measured session")
                page.close()
                batch, single = generation_ms(ROOT / "checkpoints" / f"{name}.safetensors")
                med, p95 = statistics.median(times) * 1000, sorted(times)[int(0.95 * (len(times) - 1))] * 1000
                results.append((name, med, p95))
                print(f"| {name} | {med:.0f} | {p95:.0f} | {batch:.3f} | {single:.2f} |", flush=True)
            stop.set()
            for th in load_threads:
                th.join(30)
            print(f"\nsessions: {args.sessions}; server RSS {mem0:.0f} MB before, {rss_mb(proc.pid):.0f} MB after; "
                  f"page exceptions: {len(EXCEPTIONS)} {EXCEPTIONS[:3]}")
            browser.close()
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)


def _background_session(url: str, model: str, stop: threading.Event) -> None:
    """Another user: its own browser, moving sliders as fast as the server answers."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROME_ARGS)
        page = open_sliders(browser, url, model)
        i = 0
        while not stop.is_set():
            try:
                move_once(page, i % 6, FRACS[(i // 6 + 5) % len(FRACS)])
            except Exception as e:  # a timeout under load is a latency, not a crash; count it
                EXCEPTIONS.append(f"background {model}: {e.__class__.__name__}")
            i += 1
        note_exceptions(page, f"background {model}")
        browser.close()


if __name__ == "__main__":
    main()
