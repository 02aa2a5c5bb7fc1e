"""The pages in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

No browser is downloaded: the tests use the system's Chromium and skip, saying so, where there
is none (``make test`` installs it with apt where it can). Every request the pages make is
checked to stay on the loopback server. Screenshots go to the test's temporary folder (and to
``$ARENA_SCREENSHOT_DIR`` when set: that is how the README's pictures are made).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from arena.serve.app import ServerConfig, create_app

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture
def browser_page(tmp_path, scripted_workspace, server_kit):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium on this machine: `apt-get install -y chromium` (Debian) enables the "
            "browser tests; `make test` tries that itself"
        )
    app = create_app(ServerConfig(scripted_workspace, poll_s=0))
    outside: list[str] = []
    with server_kit.live_server(app) as url, sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1000, "height": 900},
        )

        def guard(route):
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page, url
        finally:
            context.close()
    assert outside == [], f"pages fetched from outside the machine: {outside}"


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = page.screenshot(path=str(tmp_path / name), full_page=True) and tmp_path / name
    assert path.stat().st_size > 1000
    target = os.environ.get("ARENA_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def start(page, url: str, game: str, opponent: str) -> None:
    page.goto(url + "/")
    page.select_option("#game", game)
    page.wait_for_function(f"document.getElementById('opponent').dataset.game === '{game}'")
    page.wait_for_load_state("networkidle")
    page.select_option("#opponent", opponent)
    drawn = page.evaluate("window.arenaRenders")
    page.click("#start")
    page.wait_for_function(f"window.arenaRenders > {drawn}")


def play_until_done(page, selector: str, limit: int = 30) -> str:
    for _ in range(limit):
        if page.get_attribute("#status", "data-done") == "true":
            return page.inner_text("#status")
        drawn = page.evaluate("window.arenaRenders")
        with page.expect_response(lambda r: "/moves" in r.url) as response:
            page.locator(selector).first.click()
        assert response.value.ok, response.value.text()
        page.wait_for_function(f"window.arenaRenders > {drawn}")  # the answer is drawn
    raise AssertionError("the game did not finish")


@pytest.mark.slow
def test_play_tic_tac_toe_and_kuhn_poker_by_clicking(browser_page, tmp_path, scripted_workspace):
    page, url = browser_page
    start(page, url, "tic_tac_toe", "solver")
    assert page.locator(".cell").count() == 9
    assert "against solver" in page.inner_text("#status")
    status = play_until_done(page, ".cell.playable")
    assert "Game over: you" in status and "saved" in status
    assert page.locator("#history li").count() >= 5
    assert page.locator("#policy table tr").count() >= 1  # the agent's probabilities
    screenshot(page, tmp_path, "play.png")
    start(page, url, "kuhn_poker", "random")
    assert "against random" in page.inner_text("#status")
    assert "your card" in page.inner_text("#board")
    status = play_until_done(page, "#moves button")
    assert "Game over" in status and "their card" in page.inner_text("#board")
    saved = list((scripted_workspace.root / "matches" / "human").glob("web-*.jsonl"))
    assert len(saved) == 1 and len(saved[0].read_text().splitlines()) == 2


@pytest.mark.slow
def test_leaderboard_plots_are_drawn(browser_page, tmp_path):
    page, url = browser_page
    page.goto(url + "/leaderboard/tic_tac_toe")
    for plot in ("#ratings-plot", "#history-plot", "#matrix-plot"):
        svg = page.locator(f"{plot} svg")
        box = svg.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, plot
        assert page.locator(f"{plot} svg path").count() > 5, plot
    assert page.locator("#ratings tr").count() == 4  # header + 3 players
    screenshot(page, tmp_path, "leaderboard.png")
