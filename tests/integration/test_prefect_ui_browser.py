"""The Prefect UI as an admin uses it: Debian's chromium, driven by playwright, against a real
`prefect server start` and a real process worker, the deployments registered by
`hubshift deploy`, and a real hub upgraded by the worker.

The REST API tests (test_worker_e2e.py) prove that a run created as the UI creates it
upgrades a hub; only a browser proves that the form an admin fills in shows what each
parameter means, takes a typed version, and that the run's report can be found from it.
Screenshots of each stage are written to the test's tmp_path (never committed), so a failure
can be looked at afterwards.

No browser is downloaded: playwright drives the system's chromium (`make test` installs it
with apt-get); without it the tests skip, or fail when HUBSHIFT_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import prefect_worker
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION, PREVIOUS_VERSION
from tests.support.services import require

pytestmark = pytest.mark.integration

POOL = "hubshift-browser"
#: Debian's chromium (`apt-get install chromium`); playwright never downloads its own here.
CHROMIUM = Path(os.environ.get("HUBSHIFT_CHROMIUM", "/usr/bin/chromium"))
#: How long one browser action (a click, a page to appear) may take on a busy 2-core machine.
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server_and_worker(browser: Any, tmp_path_factory: pytest.TempPathFactory,
                      ) -> Iterator[tuple[str, Path]]:
    """After the browser: without chromium, no server is started only to skip (or fail)."""
    with prefect_worker.server_and_worker(tmp_path_factory.mktemp("prefect-browser"),
                                          POOL) as both:
        yield both


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module (a launch costs about a second of CPU)."""
    require(CHROMIUM.exists(), f"chromium ({CHROMIUM}; `make test` installs Debian's)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright (the `test` extras of pyproject.toml)")
        raise
    with sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox refuses to start as root (CI's containers).
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser tab; on the way out, a screenshot of wherever the test stopped."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield tab
    finally:
        try:
            tab.screenshot(path=str(tmp_path / "last.png"), full_page=True)
        finally:
            context.close()


class Shots:
    """Numbered full-page screenshots in the test's tmp path: what the admin saw, in order."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0

    def __call__(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _plain(text: str) -> str:
    """A description as the form renders it: markdown's code marks gone, one space per run
    of whitespace (the docstring's line breaks)."""
    return " ".join(text.replace("`", "").split())


def _field(page: Any, title: str) -> Any:
    """The form block of parameter `title`: its label ("title" or "title (Optional)"), the
    description under it, and its input."""
    label = page.locator("label", has_text=re.compile(rf"^{re.escape(title)}( \(Optional\))?$"))
    return label.locator(
        "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' group ')][1]")


def _press(page: Any, button: Any, endpoint: str, what: str, attempts: int = 3) -> None:
    """Press `button` until the server answers its POST to `endpoint` below 500. Its SQLite
    database is sometimes locked on a busy machine and it answers 503; the form then stays
    as it was (or says it failed) and an admin presses again (Prefect's own client retries
    such answers too). The last answer must be 201."""
    for attempt in range(1, attempts + 1):
        with page.expect_response(lambda r: r.request.method == "POST"
                                  and r.url.endswith(endpoint)) as answered:
            button.click()
        status = answered.value.status
        if status < 500 or attempt == attempts:
            break
        page.wait_for_timeout(1000 * attempt)  # the server's lock to go (a backoff)
    assert status == 201, f"{what} answered {status}: {answered.value.text()[:500]}"


def test_a_custom_run_from_the_ui_upgrades_to_the_typed_version_and_shows_its_report(
        server_and_worker: tuple[str, Path], running_hub, storage_config, page: Any,
        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    api, worker_log = server_and_worker
    ui = api.removesuffix("/api")
    # The fleet file says 5.5.4; the admin types 6.1.1 into the form.
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False, ready=NEW_VERSION)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(PREVIOUS_VERSION)])
    deployed = run_cli(["deploy", "-f", fleet, "--pool", POOL], prefect_api=api)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    schema = httpx.get(f"{api}/deployments/name/upgrade-hub/physics",
                       timeout=10).json()["parameter_openapi_schema"]
    shot = Shots(page, tmp_path)

    # The UI's front page, then its Deployments list, as an admin finds them.
    page.goto(ui + "/")
    page.get_by_role("link", name="Deployments").first.click()
    page.get_by_role("link", name="physics", exact=True).first.click()
    expect(page.get_by_text("upgrade-hub", exact=True).first).to_be_visible()
    shot("deployment")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Custom run").click()
    expect(page.get_by_role("heading", name="Parameters")).to_be_visible()
    shot("custom-run-form")

    # Every parameter shows what it means: the flow's docstring, through the schema.
    properties = schema["properties"]
    assert set(properties) >= {"hub", "target_version", "fleet_file", "via", "pre"}
    for name, spec in properties.items():
        title = spec.get("title", name)
        # The heading can come before the fields: wait for this one's block to be drawn.
        expect(_field(page, title)).to_be_visible()
        described = _field(page, title).locator("p").first
        assert described.count() == 1, f"the Run form shows no description for {name!r}"
        shown = _plain(described.inner_text())
        assert shown, f"the Run form shows an empty description for {name!r}"
        assert shown == _plain(spec.get("description", "")), (name, shown)

    # The deployment's own target is filled in; the admin types another one.
    version_box = _field(page, properties["target_version"].get("title", "target_version")) \
        .locator("textarea")
    expect(version_box).to_have_value(PREVIOUS_VERSION)
    version_box.fill(NEW_VERSION)
    shot("typed-version")
    _press(page, page.get_by_role("button", name="Submit"), "/create_flow_run",
           "creating the run")
    # The toast that says the run is scheduled links to it.
    page.get_by_role("link", name="View run").click()
    page.wait_for_url(re.compile(r".*/runs/flow-run/[0-9a-f-]{36}.*"))
    run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", page.url).group(1)
    shot("run-started")

    run = prefect_worker.wait_final(api, run_id)
    assert run["state"]["type"] == "COMPLETED", worker_log.read_text()[-4000:]
    assert run["parameters"]["target_version"] == NEW_VERSION
    page.reload()
    expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
    shot("run-completed")

    # The report, from the run's Artifacts tab, names the typed version.
    page.get_by_role("tab", name="Artifacts").click()
    report = page.locator('[data-testid="flow-run-artifacts-grid"] a',
                          has=page.get_by_role("heading", name="upgrade-physics", exact=True))
    report.click()
    page.wait_for_url(re.compile(r".*/artifacts/artifact/.*"))
    expect(page.get_by_role("heading", name=re.compile(r"Upgrade of\s+physics: upgraded"))) \
        .to_be_visible()
    expect(page.get_by_text(f"{OLD_VERSION} → {NEW_VERSION}").first).to_be_visible()
    shot("report")

    assert hub.api.version() == NEW_VERSION


def _wait_state(api: str, run_id: str, wanted: str, timeout: float = 300) -> dict:
    """The flow run once in state type `wanted` (or final: the assert then says which)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
        if run["state"]["type"] in (wanted, "COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} was not {wanted} within {timeout} s")


def test_a_fleet_paused_after_its_canary_is_approved_in_the_ui_and_production_follows(
        server_and_worker: tuple[str, Path], running_hub, storage_config, page: Any,
        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    api, worker_log = server_and_worker
    ui = api.removesuffix("/api")
    staging = running_hub(OLD_VERSION, name="astro", seed_hub=False, ready=NEW_VERSION)
    production = running_hub(OLD_VERSION, name="bio", seed_hub=False, ready=NEW_VERSION)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [
        {**staging.sandbox.fleet_entry(NEW_VERSION), "environment": "staging"},
        {**production.sandbox.fleet_entry(NEW_VERSION), "environment": "production"}])
    # The gate is the fleet file's: every run of the fleet deployment waits after staging.
    fleet.write_text(fleet.read_text() + "rollout:\n  approve: after-canary\n")
    deployed = run_cli(["deploy", "-f", fleet, "--pool", POOL], prefect_api=api)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    shot = Shots(page, tmp_path)

    page.goto(ui + "/")
    page.get_by_role("link", name="Deployments").first.click()
    page.get_by_role("link", name="fleet", exact=True).first.click()
    expect(page.get_by_text("fleet-upgrade", exact=True).first).to_be_visible()
    page.get_by_role("button", name="Run", exact=True).click()
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/create_flow_run")) as created:
        page.get_by_role("menuitem", name="Quick run").click()
    assert created.value.status == 201, created.value.text()[:500]
    page.get_by_role("link", name="View run").click()
    page.wait_for_url(re.compile(r".*/runs/flow-run/[0-9a-f-]{36}.*"))
    run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", page.url).group(1)

    # Staging goes first, then the fleet waits for a person, production untouched.
    run = _wait_state(api, run_id, "PAUSED")
    assert run["state"]["type"] == "PAUSED", (run["state"], worker_log.read_text()[-4000:])
    assert staging.api.version() == NEW_VERSION
    assert production.api.version() == OLD_VERSION
    page.reload()
    expect(page.get_by_text("Paused", exact=True).first).to_be_visible()
    shot("fleet-paused")

    # The run's menu holds Resume; its form shows the gate's question and the answer's fields.
    page.get_by_role("button", name="Open menu").first.click()
    page.get_by_role("menuitem", name="Resume").click()
    dialog = page.get_by_role("dialog", name="Resume Flow Run")
    expect(dialog.get_by_text("Start wave")).to_be_visible()
    expect(dialog.get_by_role("switch")).to_be_checked()  # go_on, on by default
    _field(dialog, "Comment").locator("textarea").fill("canary looks fine")
    shot("resume-form")
    _press(page, dialog.get_by_role("button", name="Resume"), "/resume", "resuming")

    run = prefect_worker.wait_final(api, run_id)
    assert run["state"]["type"] == "COMPLETED", worker_log.read_text()[-4000:]
    assert production.api.version() == NEW_VERSION
    page.reload()
    expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
    shot("fleet-completed")
    # The fleet's table (published again as each hub ends: the newest is the whole fleet),
    # from the run's Artifacts tab, shows production upgraded with the admin's comment.
    [table] = httpx.post(f"{api}/artifacts/filter", timeout=10, json={
        "artifacts": {"key": {"any_": ["fleet-upgrade"]}, "flow_run_id": {"any_": [run_id]}},
        "sort": "CREATED_DESC", "limit": 1}).json()
    page.get_by_role("tab", name="Artifacts").click()
    page.locator(f'a[href$="/artifacts/artifact/{table["id"]}"]').click()
    page.wait_for_url(re.compile(r".*/artifacts/artifact/.*"))
    expect(page.get_by_text("approved: canary looks fine").first).to_be_visible()
    shot("fleet-table")
