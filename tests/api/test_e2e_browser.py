"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright), served by
a real ``modelsync serve`` over a repository of real tracked scikit-learn training runs.

Screenshots of every page land in ``test-artifacts/``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from modelsync import Repo

from .conftest import TOKEN
from .serving import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FIRST_LINE_COLOR = (0x1F, 0x77, 0xB4)
SECOND_LINE_COLOR = (0xD6, 0x27, 0x28)
EPOCHS = 25

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def sklearn_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real MLP trainings on a synthetic task, tracked epoch by epoch."""
    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from modelsync.runs.start import start_run

    path = tmp_path_factory.mktemp("e2e") / "repo"
    repo = Repo.init(path)
    X, y = make_classification(n_samples=600, n_features=12, random_state=0)
    X_train, X_valid, y_train, y_valid = train_test_split(X, y, random_state=0)
    for name, rate in (("mlp-fast", 1e-2), ("mlp-slow", 1e-4)):
        model = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=rate, random_state=0)
        with start_run(
            name, repo=repo, params={"learning_rate_init": rate, **model.get_params()}
        ) as run:
            for epoch in range(EPOCHS):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.partial_fit(X_train, y_train, classes=[0, 1])
                run.log_metrics(
                    {
                        "loss": model.loss_,
                        "train_acc": model.score(X_train, y_train),
                        "valid_acc": model.score(X_valid, y_valid),
                    },
                    step=epoch,
                )
    repo.close()
    return path


@pytest.fixture(scope="module")
def server(sklearn_repo: Path) -> Iterator[Server]:
    running = Server(sklearn_repo, "--token", TOKEN)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh page (no cookies) that records script errors and console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Tab(context.new_page())
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.on(
        "console",
        lambda message: tab.errors.append(message.text) if message.type == "error" else None,
    )
    yield tab
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def pixels_of(page: Page, selector: str, color: tuple[int, int, int]) -> int:
    """How many pixels of the first canvas under ``selector`` are (nearly) ``color``."""
    return int(
        page.evaluate(
            """([selector, [r, g, b]]) => {
                const canvas = document.querySelector(selector + " canvas");
                const { width, height } = canvas;
                const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
                const near = (value, target) => Math.abs(value - target) < 24;
                let hits = 0;
                for (let i = 0; i < data.length; i += 4) {
                    const same = near(data[i], r) && near(data[i + 1], g) && near(data[i + 2], b);
                    if (data[i + 3] > 200 && same) hits += 1;
                }
                return hits;
            }""",
            [selector, list(color)],
        )
    )


def test_runs_table_run_page_and_compare_in_a_real_browser(tab: Tab, server: Server) -> None:
    page = tab.page
    page.goto(f"{server.url}/#token={TOKEN}")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    assert "#token" not in page.url
    expect(page.locator("#runs tbody")).to_contain_text("finished")
    expect(page.locator("#runs thead")).to_contain_text("learning_rate_init")
    shot(page, "runs")

    page.fill("input[aria-label=filter]", "params.learning_rate_init > 0.001")
    page.click("text=Apply")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody")).to_contain_text("mlp-fast")
    page.fill("input[aria-label=filter]", "")
    page.click("text=Apply")
    expect(page.locator("#runs tbody tr")).to_have_count(2)

    page.click("#runs >> text=mlp-fast")
    chart = "[data-metric=loss]"
    expect(page.locator(f"{chart} canvas")).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('#charts canvas').length >= 3")
    assert pixels_of(page, chart, FIRST_LINE_COLOR) > 50
    expect(page.locator("body")).to_contain_text("learning_rate_init")
    box = page.locator(f"{chart} .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(
        page.locator(f"{chart} .u-legend .u-series").nth(1).locator(".u-value")
    ).not_to_have_text("--")
    with page.expect_request(lambda r: "/metrics?" in r.url and "step_min=" in r.url):
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    shot(page, "run")

    page.click(".timeline li a >> nth=0")
    expect(page.locator("#files")).to_contain_text("run.json")
    shot(page, "commit")

    page.goto(f"{server.url}/")
    # ``all()`` does not wait: the table fills after the page's fetch, so wait for both rows.
    run_boxes = page.locator("#runs tbody input[type=checkbox]")
    expect(run_boxes).to_have_count(2)
    for box_of_run in run_boxes.all():
        box_of_run.check()
    expect(page.locator("#compare")).to_be_enabled()
    page.click("#compare")
    expect(page.locator("#compare-chart canvas")).to_be_visible()
    page.wait_for_timeout(200)
    assert pixels_of(page, "#compare-chart", FIRST_LINE_COLOR) > 50
    assert pixels_of(page, "#compare-chart", SECOND_LINE_COLOR) > 50
    expect(page.locator("tr.differs[data-key=learning_rate_init]")).to_have_count(1)
    shot(page, "compare")

    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ModelSync")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    shot(page, "api-docs")
    assert tab.errors == []


def test_without_a_session_the_ui_asks_for_the_token_and_signs_in(tab: Tab, server: Server) -> None:
    page = tab.page
    page.goto(f"{server.url}/")
    expect(page.locator(".token-form")).to_be_visible()
    page.fill(".token-form input", TOKEN)
    page.click(".token-form button")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
