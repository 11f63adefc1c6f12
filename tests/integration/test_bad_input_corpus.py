"""A corpus of bad input fed to the real `hubshift` command: each case exits 2 with one line
that names the file and the key (or the option), never a traceback, never a secret, and
touches nothing (no file beside the fleet file, no object in the bucket, no hub started).

To add a case, add a row to CASES: a name, how the good fleet file is broken (an edit of its
document, or raw text), the command line (`{fleet}` is the fleet file's path), and the words
the line must contain. The fleet file's name is required of every case that breaks it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubshift.backends.storage import BackupStore, StorageConfig
from tests.support.fleet import run_cli

pytestmark = pytest.mark.integration

TOKEN = "corpus-token-4e1f0c9b7a"
DB_PASSWORD = "corpus-db-pass-81d2"
NOTIFY_TOKEN = "corpus-notify-6b3a55"
ENV_SECRET = "corpus-env-secret-90aa"
SECRETS = (TOKEN, DB_PASSWORD, NOTIFY_TOKEN, ENV_SECRET)

UPGRADE = ("upgrade", "-f", "{fleet}", "--hub", "physics")
MOVE = ("move-db", "-f", "{fleet}", "--hub", "physics")
Doc = dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    #: The command line after `hubshift`; `{fleet}` is replaced by the fleet file's path.
    args: tuple[str, ...] = UPGRADE
    #: Words the one error line must contain.
    words: tuple[str, ...] = ()
    #: How the good fleet document is broken (None: it is not).
    edit: Callable[[Doc], Any] | None = None
    #: The fleet file's whole text instead of the good document (YAML it cannot parse).
    text: str | None = None
    #: Environment variables for the run (None removes one).
    env: dict[str, str | None] = field(default_factory=dict)


def hub(**changes: Any) -> Callable[[Doc], None]:
    """Set keys of the first hub (a value of DROP removes the key)."""
    return lambda doc: _apply(doc["hubs"][0], changes)


def top(**changes: Any) -> Callable[[Doc], None]:
    return lambda doc: _apply(doc, changes)


def section(name: str, **changes: Any) -> Callable[[Doc], None]:
    """Set keys of a top-level section (storage, notify) or of the first hub's install,
    runtime or schedule."""
    def edit(doc: Doc) -> None:
        where = doc if name in ("storage", "notify") else doc["hubs"][0]
        where.setdefault(name, {})
        _apply(where[name], changes)
    return edit


DROP = object()


def _apply(where: Doc, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if value is DROP:
            where.pop(key, None)
        else:
            where[key] = value


def _twice(doc: Doc) -> None:
    doc["hubs"].append(dict(doc["hubs"][0]))


CASES: list[Case] = [
    # -- the fleet file as a file ----------------------------------------------------------
    Case("yaml-unclosed-bracket", text="hubs: [\n  - name: physics\n    api_url: {unclosed\n",
         words=("not valid YAML at line",)),
    Case("yaml-tab-indent", text="storage:\n\turl: s3://b/p\n", words=("not valid YAML",)),
    Case("yaml-duplicate-anchor", text="a: *nowhere\n", words=("not valid YAML",)),
    Case("yaml-key-twice", text="storage:\n  url: s3://b/p\nhubs: []\nstorage: {}\n",
         words=("not valid YAML at line 4", "the key 'storage' is given twice (first at line 1)")),
    Case("yaml-key-twice-in-a-hub", text="hubs:\n  - {name: a, name: b}\n",
         words=("not valid YAML at line 2", "the key 'name' is given twice")),
    Case("yaml-empty-file", text="", words=("expected a mapping",)),
    Case("yaml-top-level-list", text="- storage\n- hubs\n", words=("expected a mapping",)),
    Case("yaml-not-utf8", text="\udcff\udcfe", words=("not a UTF-8 text file",)),
    Case("fleet-file-missing", args=("upgrade", "-f", "{dir}/nofleet.yaml", "--hub", "physics"),
         words=("nofleet.yaml", "cannot read the fleet file")),
    Case("fleet-file-is-a-folder", args=("upgrade", "-f", "{dir}", "--hub", "physics"),
         words=("cannot read the fleet file",)),
    # -- sections and keys -----------------------------------------------------------------
    Case("storage-missing", edit=top(storage=DROP),
         words=("key storage: required key is missing",)),
    Case("hubs-missing", edit=top(hubs=DROP), words=("key hubs: required key is missing",)),
    Case("hubs-empty", edit=top(hubs=[]), words=("key hubs:", "at least 1")),
    Case("hubs-a-mapping", edit=top(hubs={"name": "physics"}), words=("key hubs:",)),
    Case("hub-a-string", edit=top(hubs=["physics"]), words=("key hubs[0]:",)),
    Case("unknown-top-level-key", edit=top(hub=[]), words=("key hub: unknown key",)),
    Case("unknown-hub-key", edit=hub(target_verison="5.5.4"),
         words=("hub 'physics'", "key hubs[0].target_verison: unknown key")),
    Case("unknown-runtime-key", edit=section("runtime", stop_timout=5),
         words=("key hubs[0].runtime.stop_timout: unknown key",)),
    Case("unknown-storage-key", edit=section("storage", bucket="b"),
         words=("key storage.bucket: unknown key",)),
    Case("db-url-missing", edit=hub(db_url=DROP),
         words=("key hubs[0].db_url: required key is missing",)),
    Case("lead-time-a-word", edit=section("notify", lead_time="soon"),
         words=("key notify.lead_time",)),
    Case("lead-time-negative", edit=section("notify", lead_time=-5),
         words=("key notify.lead_time", "greater than or equal to 0")),
    Case("disk-reserve-negative", edit=top(disk_reserve_mb=-1), words=("key disk_reserve_mb",)),
    Case("environment-unknown", edit=hub(environment="prod"),
         words=("key hubs[0].environment", "staging", "production")),
    Case("install-kind-unknown", edit=section("install", kind="conda"),
         words=("key hubs[0].install.kind", "unknown kind 'conda'")),
    Case("runtime-kind-unknown", edit=section("runtime", kind="docker"),
         words=("key hubs[0].runtime.kind", "unknown kind 'docker'")),
    Case("target-version-garbage", edit=hub(target_version="newest"),
         words=("key hubs[0].target_version", "'newest'")),
    Case("via-garbage-in-file", edit=hub(via="4.x"), words=("key hubs[0].via", "'4.x'")),
    # -- hub names -------------------------------------------------------------------------
    Case("duplicate-hub-names", edit=_twice,
         words=("key hubs[1].name", "hub name 'physics' is used twice")),
    Case("hub-name-with-slash", edit=hub(name="phys/ics"),
         words=("key hubs[0].name", "'phys/ics' is not a hub name")),
    Case("hub-name-dot-dot", edit=hub(name=".."),
         words=("key hubs[0].name", "'..' is not a hub name")),
    Case("hub-name-empty", edit=hub(name=""), words=("key hubs[0].name", "is not a hub name")),
    Case("hub-unknown", args=(*UPGRADE[:-1], "chemistry"),
         words=("fleet.yaml", "no hub named 'chemistry'", "physics")),
    Case("hub-empty", args=(*UPGRADE[:-1], ""), words=("fleet.yaml", "no hub named ''")),
    Case("hub-with-slash", args=("rollback", "-f", "{fleet}", "--hub", "a/b", "--backup",
                                 "latest"), words=("fleet.yaml", "no hub named 'a/b'")),
    Case("hub-dot-dot-start", args=("hub", "start", "-f", "{fleet}", "--hub", "../physics"),
         words=("fleet.yaml", "no hub named '../physics'")),
    Case("hub-unknown-stop", args=("hub", "stop", "-f", "{fleet}", "--hub", "chemistry"),
         words=("fleet.yaml", "no hub named 'chemistry'")),
    Case("hub-unknown-backups", args=("backups", "-f", "{fleet}", "--hub", "chemistry"),
         words=("fleet.yaml", "no hub named 'chemistry'")),
    Case("hub-unknown-plan", args=("plan", "-f", "{fleet}", "--hub", "chemistry"),
         words=("fleet.yaml", "no hub named 'chemistry'")),
    # -- schedules -------------------------------------------------------------------------
    Case("schedule-cron-words", edit=section("schedule", cron="every night"),
         words=("key hubs[0].schedule.cron", "not a cron expression")),
    Case("schedule-cron-out-of-range", edit=section("schedule", cron="0 25 * * *"),
         words=("key hubs[0].schedule.cron", "25 is outside 0-23")),
    Case("schedule-timezone-unknown",
         edit=section("schedule", cron="0 3 * * 0", timezone="Mars/Olympus"),
         words=("key hubs[0].schedule.timezone", "'Mars/Olympus' is not an IANA time zone")),
    Case("schedule-without-cron", edit=section("schedule", timezone="UTC"),
         words=("key hubs[0].schedule.cron: required key is missing",)),
    # -- database URLs (the password never shown) ------------------------------------------
    Case("db-url-without-scheme", edit=hub(db_url="jupyterhub.sqlite"),
         words=("key hubs[0].db_url", "must be a database URL")),
    Case("db-url-unknown-engine", edit=hub(db_url=f"mongodb://u:{DB_PASSWORD}@h/hub"),
         words=("key hubs[0].db_url", "'mongodb' is not supported")),
    Case("db-url-port-not-a-number",
         edit=hub(db_url=f"postgresql://hub:{DB_PASSWORD}@db:notaport/jupyterhub"),
         words=("key hubs[0].db_url", "port a number")),
    Case("db-url-without-database", edit=hub(db_url=f"mysql://hub:{DB_PASSWORD}@db/"),
         words=("key hubs[0].db_url", "names no database")),
    # -- hub URLs ----------------------------------------------------------------------------
    Case("api-url-ftp", edit=hub(api_url="ftp://hub/api"),
         words=("key hubs[0].api_url", "must be an http(s) URL")),
    Case("api-url-without-scheme", edit=hub(api_url="127.0.0.1:8000/hub/api"),
         words=("key hubs[0].api_url", "must be an http(s) URL")),
    Case("hub-api-url-garbage", edit=hub(hub_api_url="not a url"),
         words=("key hubs[0].hub_api_url", "must be an http(s) URL")),
    Case("api-token-empty", edit=hub(api_token=""), words=("key hubs[0].api_token", "empty")),
    # -- notify URLs (the token never shown) -------------------------------------------------
    Case("notify-url-not-a-url", edit=section("notify", urls=[f"not a url {NOTIFY_TOKEN}"]),
         words=("key notify.urls", "urls[0] is not a URL apprise can send to")),
    Case("notify-url-unknown-service",
         edit=section("notify", urls=["json://127.0.0.1:8099/hook",
                                      f"nosuchservice://{NOTIFY_TOKEN}@chat.example.org"]),
         words=("key notify.urls", "urls[1] is not a URL apprise can send to")),
    Case("notify-urls-a-string", edit=section("notify", urls=7),
         words=("key notify.urls",)),
    # -- ${VAR}s -----------------------------------------------------------------------------
    Case("var-unset", edit=hub(api_token="${CORPUS_UNSET_TOKEN}"),
         env={"CORPUS_UNSET_TOKEN": None},
         words=("key hubs[0].api_token", "${CORPUS_UNSET_TOKEN} is not set")),
    Case("var-unclosed", edit=hub(api_token="${CORPUS_TOKEN"),
         env={"CORPUS_TOKEN": ENV_SECRET},
         words=("key hubs[0].api_token", "does not start a variable")),
    Case("var-with-space", edit=hub(db_url="postgresql://hub:${DB PASSWORD}@db/jupyterhub"),
         words=("key hubs[0].db_url", "the ${ at character 18")),
    Case("var-empty-name", edit=section("storage", endpoint_url="${}"),
         words=("key storage.endpoint_url", "does not start a variable")),
    Case("var-recursive", edit=hub(api_token="${CORPUS_A}"),
         env={"CORPUS_A": "${CORPUS_B}", "CORPUS_B": ENV_SECRET},
         words=("key hubs[0].api_token", "${CORPUS_A} holds another", "not recursively")),
    Case("var-self-reference", edit=hub(api_token="${CORPUS_SELF}"),
         env={"CORPUS_SELF": "${CORPUS_SELF}"},
         words=("key hubs[0].api_token", "not recursively")),
    Case("var-set-to-empty-token", edit=hub(api_token="${CORPUS_EMPTY}"),
         env={"CORPUS_EMPTY": ""}, words=("key hubs[0].api_token", "empty")),
    # -- storage URLs ------------------------------------------------------------------------
    Case("storage-url-not-s3", edit=section("storage", url="http://bucket/prefix"),
         words=("key storage.url", "must look like s3://bucket/prefix")),
    Case("storage-url-without-bucket", edit=section("storage", url="s3:///hubshift"),
         words=("key storage.url", "must look like s3://bucket/prefix")),
    Case("storage-url-a-path", edit=section("storage", url="backups/hubshift"),
         words=("key storage.url",)),
    Case("storage-bucket-with-space", edit=section("storage", url="s3://my bucket/x"),
         words=("key storage.url", "'my bucket' is not a bucket name")),
    Case("storage-endpoint-not-http", edit=section("storage", endpoint_url="ftp://s3.local"),
         words=("key storage.endpoint_url", "must be an http(s) URL")),
    Case("storage-endpoint-no-host", edit=section("storage", endpoint_url="http://"),
         words=("key storage.endpoint_url", "must be an http(s) URL")),
    Case("storage-endpoint-bad-port",
         edit=section("storage", endpoint_url=f"http://key:{ENV_SECRET}@s3.local:port"),
         words=("key storage.endpoint_url", "valid port")),
    Case("storage-file-relative", edit=section("storage", url="file://backups/hubshift"),
         words=("key storage.url", "file:///absolute/folder")),
    Case("storage-file-root", edit=section("storage", url="file:///"),
         words=("key storage.url", "file:///absolute/folder")),
    Case("storage-file-with-endpoint",
         edit=section("storage", url="file:///srv/backups", endpoint_url="http://s3.local"),
         words=("key storage.endpoint_url", "s3:// stores only")),
    # -- retention and prune -------------------------------------------------------------------
    Case("retention-negative", edit=top(retention={"keep_last": -1}),
         words=("fleet.yaml", "key retention.keep_last")),
    Case("retention-unknown-key", edit=top(retention={"keep_weeks": 2}),
         words=("fleet.yaml", "key retention.keep_weeks")),
    Case("prune-unknown-hub", args=("prune", "-f", "{fleet}", "--hub", "chemistry"),
         words=("fleet.yaml", "no hub named 'chemistry'")),
    # -- versions and --via ------------------------------------------------------------------
    Case("option-unknown", args=(*UPGRADE, "--targett", "6.1.1"),
         words=("No such option: --targett", "hubshift upgrade --help")),
    Case("option-without-its-value", args=(*UPGRADE, "--to"),
         words=("'--to' requires an argument",)),
    Case("to-a-word", args=(*UPGRADE, "--to", "newest"),
         words=("--to", "'newest' is not a JupyterHub version number")),
    Case("to-too-many-parts", args=(*UPGRADE, "--to", "6.1.1.1.1"), words=("--to", "6.1.1.1.1")),
    Case("to-empty", args=(*UPGRADE, "--to", ""), words=("--to", "''")),
    Case("to-on-plan", args=("plan", "-f", "{fleet}", "--to", "v6"), words=("--to", "'v6'")),
    Case("to-on-fleet-upgrade", args=("fleet-upgrade", "-f", "{fleet}", "--to", "6.x"),
         words=("--to", "'6.x'")),
    Case("via-latest", args=(*UPGRADE, "--via", "latest"),
         words=("--via", "'latest' is not a release version")),
    Case("via-semicolons", args=(*UPGRADE, "--via", "3.1.1;4.1.6"),
         words=("--via", "'3.1.1;4.1.6' is not a release version")),
    # -- backup ids (rollback) ---------------------------------------------------------------
    Case("backup-dot-dot", args=("rollback", "-f", "{fleet}", "--hub", "physics", "--backup",
                                 "../../etc"),
         words=("--backup", "'../../etc' is not a backup id")),
    Case("backup-with-slash", args=("rollback", "-f", "{fleet}", "--hub", "physics",
                                    "--backup", "20260101T000000Z/x"),
         words=("--backup", "is not a backup id")),
    Case("backup-empty", args=("rollback", "-f", "{fleet}", "--hub", "physics", "--backup", ""),
         words=("--backup", "'' is not a backup id")),
    Case("backup-a-word", args=("rollback", "-f", "{fleet}", "--hub", "physics", "--backup",
                                "yesterday"), words=("--backup", "'yesterday'")),
    Case("backup-unknown", args=("rollback", "-f", "{fleet}", "--hub", "physics", "--backup",
                                 "20200101T000000Z"),
         words=("--backup 20200101T000000Z", "no such backup", "hubshift backups")),
    Case("backup-latest-of-none", args=("rollback", "-f", "{fleet}", "--hub", "physics",
                                        "--backup", "latest"),
         words=("--backup latest", "has no backup")),
    Case("backup-missing", args=("rollback", "-f", "{fleet}", "--hub", "physics"),
         words=("--backup is required",)),
    # -- move-db -----------------------------------------------------------------------------
    Case("move-no-to-url", args=(*MOVE,), words=("--to-url",)),
    Case("move-to-sqlite", args=(*MOVE, "--to-url", "sqlite:////srv/other.sqlite"),
         words=("--to-url", "not a PostgreSQL or MySQL/MariaDB URL")),
    Case("move-to-url-variable-unset", args=(*MOVE, "--to-url", "${MOVE_CORPUS_UNSET}"),
         env={"MOVE_CORPUS_UNSET": None}, words=("--to-url", "MOVE_CORPUS_UNSET", "not set")),
    Case("move-to-url-no-database", args=(*MOVE, "--to-url", "postgresql://hub@127.0.0.1:9"),
         words=("--to-url", "names no database")),
    Case("move-config-without-env-db-url",
         args=(*MOVE, "--to-url", f"postgresql://hub:{DB_PASSWORD}@127.0.0.1:9/hub"),
         words=("jupyterhub_config.py", "sets no c.JupyterHub.db_url", "os.environ")),
]


def _good_document(site: Path, storage: StorageConfig) -> Doc:
    """A fleet file that is fine: one hub whose files sit beside it (never started)."""
    hub_dir = site / "physics"
    (hub_dir / "venv").mkdir(parents=True)
    (hub_dir / "jupyterhub_config.py").write_text("c = get_config()  # noqa\n")
    return {
        "storage": storage.model_dump(mode="json", exclude_none=True),
        "notify": {"urls": [f"json://127.0.0.1:8099/hook?token={NOTIFY_TOKEN}"],
                   "lead_time": 0},
        "hubs": [{
            "name": "physics",
            "target_version": "5.5.4",
            "config_file": str(hub_dir / "jupyterhub_config.py"),
            "db_url": f"sqlite:///{hub_dir}/jupyterhub.sqlite",
            "api_url": "http://127.0.0.1:9/hub/api",
            "api_token": TOKEN,
            "install": {"kind": "venv", "venv": str(hub_dir / "venv")},
            "runtime": {"kind": "process", "workdir": str(hub_dir)},
        }],
    }


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `roots`: size and mtime (what "touched" would change)."""
    seen = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            info = path.lstat()
            seen[str(path)] = (info.st_size, info.st_mtime_ns)
    return seen


def _objects(storage: StorageConfig) -> list[str]:
    """Every object of the bucket, whatever its prefix."""
    whole = BackupStore(storage.model_copy(update={"url": f"s3://{storage.bucket}"}))
    return sorted(o.key for o in whole.list(""))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_2_in_one_line_and_touches_nothing(case: Case, storage_config,
                                                           tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    document = _good_document(site, storage_config)
    if case.edit is not None:
        case.edit(document)
    fleet = site / "fleet.yaml"
    if case.text is not None:
        fleet.write_bytes(case.text.encode("utf-8", "surrogateescape"))
    else:
        fleet.write_text(yaml.safe_dump(document, sort_keys=False))
    home, prefect = tmp_path / "hubshift-home", tmp_path / "prefect-home"
    env = {"HUBSHIFT_HOME": str(home), "HUBSHIFT_WHEELHOUSE": None, "PREFECT_HOME": str(prefect),
           # A case that got as far as Prefect would fail, not wait for a server.
           "PREFECT_API_URL": "http://127.0.0.1:9/api", "HUBSHIFT_DEBUG": None, **case.env}
    before = _snapshot(site, home, prefect)
    objects = _objects(storage_config)

    args = [a.replace("{fleet}", str(fleet)).replace("{dir}", str(site)) for a in case.args]
    done = run_cli(args, env_changes=env, timeout=120)

    output = done.stdout + done.stderr
    assert done.returncode == 2, (done.returncode, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and not done.stdout.strip(), output[-3000:]
    line = lines[0]
    assert line.startswith("error: "), line
    breaks_the_file = case.edit is not None or case.text is not None
    for word in (*case.words, *(["fleet.yaml"] if breaks_the_file else [])):
        assert word in line, (word, line)
    for secret in SECRETS:
        assert secret not in output, (secret, line)
    assert _snapshot(site, home, prefect) == before
    assert _objects(storage_config) == objects


def test_the_corpus_is_large_and_names_each_case_once() -> None:
    names = [c.name for c in CASES]
    assert len(names) >= 50 and len(set(names)) == len(names)
    assert all(c.words for c in CASES)
    assert os.sep not in "".join(names)


def test_a_listing_whose_store_is_down_exits_2_in_one_line(storage_config,
                                                          tmp_path: Path) -> None:
    """Not bad input, but nothing was touched either: exit 2, never 1 (a rolled-back upgrade)."""
    site = tmp_path / "site"
    site.mkdir()
    document = _good_document(site, storage_config)
    document["storage"]["endpoint_url"] = "http://127.0.0.1:9"
    fleet = site / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(document, sort_keys=False))

    done = run_cli(["backups", "-f", fleet], timeout=120)

    assert done.returncode == 2, done.stderr[-3000:]
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ") and "cannot connect to http://127.0.0.1:9" in line, line
