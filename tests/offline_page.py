"""A report page opened offline in headless Chromium: every request but the page's own is
refused (and noted), script errors are collected, the plots measured, a screenshot kept."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT, require
from web_server import CHROMIUM, launch_chromium

ARTIFACTS = ROOT / "artifacts"


@dataclass
class Rendered:
    attempted: list[str]  # URLs the page tried to reach besides itself (all refused)
    errors: list[str]  # uncaught script errors
    plots: int  # svg.plot elements
    sizes: list[float]  # their rendered heights
    text: str  # the inner text of the element asked for


def render_offline(page_file: Path, text_of: str, screenshot: str) -> Rendered:
    """Open ``page_file``; ``text_of`` is a CSS selector; the screenshot goes to artifacts/."""
    require(CHROMIUM.exists(), "Chromium is missing: run scripts/install-browser.sh")
    require(importlib.util.find_spec("playwright"), "Playwright for Python is not installed")
    from playwright.sync_api import sync_playwright

    page_url = page_file.resolve().as_uri()
    attempted: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url == page_url else
                       (attempted.append(route.request.url), route.abort()))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_url)
            plots = page.locator("svg.plot").count()
            sizes = page.eval_on_selector_all(
                "svg.plot", "nodes => nodes.map(n => n.getBoundingClientRect().height)")
            text = page.inner_text(text_of)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        finally:
            browser.close()
    return Rendered(attempted, errors, plots, sizes, text)
