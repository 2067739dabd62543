"""Open a report in headless Chromium and say what the browser saw (for tests and CI).

Needs ``selenium`` (the test extra) and Debian's ``chromium`` and ``chromium-driver`` packages.
The driver is given by path, so Selenium Manager never goes to the network.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,2400",
)
PAGE_LOAD_TIMEOUT_S = 60

_PAGE_FACTS = """
const imgs = Array.from(document.images);
return {
  title: document.title,
  n_images: imgs.length,
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 40)),
  n_instrument_sections: document.querySelectorAll("section.instrument").length,
  n_sortable_tables: document.querySelectorAll("table.sortable").length,
  n_script_elements: document.scripts.length,
  pwned: typeof window.__pwned !== "undefined",
  text: document.body.innerText,
};
"""


def browser_unavailable() -> str | None:
    """Why the check cannot run here (missing selenium, chromium or chromedriver), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists() and shutil.which(Path(path).name) is None:
            return f"{path} not found (apt install {package})"
    return None


def check_report_in_browser(html_path: str | Path, screenshot: str | Path | None = None) -> dict:
    """Load ``html_path`` from disk in headless Chromium and report what happened.

    Parameters
    ----------
    html_path : str or Path
        The report (opened as a ``file://`` URL).
    screenshot : str or Path, optional
        Where to save a PNG screenshot of the window (parent folders are created).

    Returns
    -------
    dict with keys
        ``severe`` (list of SEVERE console messages), ``console`` (all console entries),
        ``title``, ``n_images``, ``broken_images`` (alt text of images not decoded),
        ``n_instrument_sections``, ``n_sortable_tables``, ``n_script_elements``,
        ``pwned`` (whether ``window.__pwned`` is defined), ``text`` (the page's visible text).

    Examples
    --------
    >>> facts = check_report_in_browser("runs/demo/report.html")  # doctest: +SKIP
    >>> assert not facts["severe"] and not facts["broken_images"]  # doctest: +SKIP
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    reason = browser_unavailable()
    if reason:
        raise RuntimeError(f"cannot check {html_path} in a browser: {reason}")
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingOptions", {"browser": "ALL"})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
            driver.get(url)
            facts = driver.execute_script(_PAGE_FACTS)
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(screenshot))
            # Click every sortable header once, so that a script error there shows in the log.
            driver.execute_script(
                "document.querySelectorAll('table.sortable th').forEach(th => th.click());"
            )
            console = driver.get_log("browser")
        finally:
            driver.quit()
    facts["console"] = console
    facts["severe"] = [e for e in console if e.get("level") == "SEVERE"]
    return facts
