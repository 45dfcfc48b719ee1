"""Screenshots of TensorBoard's dashboards for a real `avb-keras train` run.

    python scripts/tensorboard_screenshot.py                # train, then screenshot
    python scripts/tensorboard_screenshot.py --logdir RUN/logs   # an existing run

Trains AVB+AC on the packaged MNIST subset (short: 5 epochs, 315 steps), starts
`tensorboard --logdir RUN/logs` on a free local port, opens the scalars and
images dashboards in headless Chromium (Debian's `chromium` and
`chromium-driver`; Selenium never downloads a browser here) and writes
docs/tensorboard_scalars.png and docs/tensorboard_images.png.

The helpers (`start_tensorboard`, `chromium`, `open_dashboard`) are shared
with tests/test_tensorboard_browser.py.
"""

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from avb_keras.atomic import atomic_path

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")
ROOT = Path(__file__).resolve().parents[1]

# Text of the page, shadow roots included (TensorBoard renders tags inside them).
PAGE_TEXT_JS = """
function collect(node) {
  let text = '';
  if (node.shadowRoot) text += collect(node.shadowRoot);
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) text += child.textContent + ' ';
    else if (!['STYLE', 'SCRIPT', 'NOSCRIPT'].includes(child.nodeName)) text += collect(child);
  }
  return text;
}
return collect(document.body);
"""


def chromium_binary():
    """Debian's Chromium, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_browser():
    """Why a headless browser cannot run here, or None when it can."""
    if chromium_binary() is None:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is missing (pip install -e '.[test]')"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start_tensorboard(logdir, timeout=90):
    """Runs `tensorboard --logdir logdir` on a free local port; yields its URL."""
    port = free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    command = ([str(tensorboard)] if tensorboard.exists()
               else [sys.executable, "-m", "tensorboard.main"])
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        command + ["--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
                   "--reload_interval", "1"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"tensorboard exited with {process.returncode}:\n"
                                   f"{log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/data/runs", timeout=2) as response:
                    if response.status == 200 and b"avb" in response.read():
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"tensorboard did not serve {url} within {timeout} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def chromium(width=1600, height=1100):
    """A headless Chromium driven by Debian's chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="avb-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium_binary()
        for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",
                                      f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def page_text(driver):
    return driver.execute_script(PAGE_TEXT_JS)


def open_dashboard(driver, url, dashboard, expected, tag_filter=None, timeout=60):
    """Opens `url/#dashboard` (showing only tags matching the regex `tag_filter`, if
    given) and waits until every string of `expected` is on the page; returns the page
    text. Raises TimeoutError naming what never appeared."""
    fragment = dashboard + ("" if tag_filter is None
                            else "&tagFilter=" + urllib.parse.quote(tag_filter, safe=""))
    driver.get(f"{url}/#{fragment}")
    deadline = time.monotonic() + timeout
    while True:
        text = " ".join(page_text(driver).split())
        missing = [e for e in expected if e not in text]
        if not missing:
            time.sleep(2)  # let charts and images finish drawing before a screenshot
            return " ".join(page_text(driver).split())
        if time.monotonic() > deadline:
            raise TimeoutError(f"#{fragment} never showed {missing}; page text: {text[:1500]}")
        time.sleep(1)


def train_run(run_dir):
    """A short real `avb-keras train` run on mnist_small (5 epochs, 63 steps each)."""
    command = [sys.executable, "-m", "avb_keras", "train", "--epochs", "5", "--log-every", "10",
               "--run-dir", str(run_dir)]
    print("$ avb-keras", " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return run_dir / "logs"


#: What the README's pictures show: the adversary's and each player's health, and the images.
SCALARS_SHOWN = ("adversary/separation", "adversary/logit_q_mean", "adversary/logit_prior_mean",
                 "gradient_norm/primal", "gradient_norm/adversary", "posterior/mu_std",
                 "posterior/sigma_mean", "metrics/kl", "metrics/adversary_accuracy")
IMAGES_SHOWN = ("images/prior_samples", "images/reconstructions", "images/posteriors_pca")


def screenshots(logdir, out_dir):
    """Writes tensorboard_scalars.png and tensorboard_images.png under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with start_tensorboard(logdir) as url, chromium(height=1500) as driver:
        for dashboard, tags in (("scalars", SCALARS_SHOWN), ("images", IMAGES_SHOWN)):
            open_dashboard(driver, url, dashboard, [f"tag: {t}" for t in tags],
                           tag_filter="|".join(f"^{t}$" for t in tags))
            target = out_dir / f"tensorboard_{dashboard}.png"
            with atomic_path(target) as partial:  # never a half-written picture in docs/
                driver.save_screenshot(str(partial))
            written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", type=Path, default=None,
                        help="an existing run's logs (default: train a short run first)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(f"tensorboard_screenshot: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="avb-run-") as tmp:
        logdir = args.logdir or train_run(Path(tmp) / "run")
        for path in screenshots(logdir, args.out_dir):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
