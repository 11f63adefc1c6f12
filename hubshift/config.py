"""The fleet file, read into validated models.

Every error names the file, the hub and the key, because an operator reading it at 3 a.m.
should not have to guess which of fifty hubs has the typo. Secrets (`${VAR}` expansions and
every `SecretStr` field) are registered with `hubshift.system.redact` as soon as they are read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args
from urllib.parse import quote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hubshift import blocks
from hubshift.backends.databases import BACKENDS as DATABASES
from hubshift.backends.databases.urls import engine_of, parse_server_url
from hubshift.backends.installers import INSTALLERS
from hubshift.backends.notify import NotifyConfig
from hubshift.backends.runtimes import RUNTIMES
from hubshift.backends.storage import StorageConfig
from hubshift.backup.prune import RetentionConfig
from hubshift.errors import ConfigError, HubshiftError, PreflightError
from hubshift.fleet.rollout import RolloutConfig
from hubshift.model import StrictModel
from hubshift.plan.hops import parse_via
from hubshift.system.redact import register_secret
from hubshift.tljh import TljhConfig, implied

DEFAULT_FLEET_FILE = Path("fleet.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Where a `${` starts that is not a well-formed `${NAME}`.
_BAD_VAR = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")
_HUB_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
#: The ranges of a cron expression's five fields (minute, hour, day, month, weekday).
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?LW#-]+")
_DURATION = re.compile(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?")
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                "@hourly"}
#: An exact release (6.1.1, 6.0.0b2), a major version (6: its newest release) or `latest`,
#: both resolved in preflight (hubshift.plan.releases).
_VERSION = re.compile(r"\d+(\.\d+){0,2}((a|b|rc)\d+)?|latest")


def check_hub_name(value: str, *, where: str = "--hub") -> str:
    """`value` if it can name a hub (it names folders and store keys: no `/`, no `..`
    alone); else ConfigError naming `where`."""
    if not _HUB_NAME.fullmatch(value):
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}{value!r} is not a hub name: lowercase letters, digits, "
                          "'.', '_' and '-', starting with a letter or digit, at most 63")
    return value


def check_version(value: str, *, where: str) -> str:
    """`value` if it reads as a JupyterHub version (6.1.1, 6.0.0b2, 6, latest); else
    ConfigError."""
    if not _VERSION.fullmatch(value):
        raise ConfigError(f"{where}: {value!r} is not a JupyterHub version number "
                          "(nor latest, nor a major version like 6)")
    return value


class Schedule(StrictModel):
    cron: str = Field(description="Maintenance window as a cron expression")
    timezone: str = Field("UTC", description="IANA time zone of the cron expression")
    duration: dt.timedelta | None = Field(
        None, description="How long each window stays open (2h, 90m, 1h30m, seconds or "
        "ISO 8601 PT2H): a run that cannot finish before it closes is deferred before the "
        "stop, hub untouched; empty: no limit")
    margin: dt.timedelta = Field(
        dt.timedelta(minutes=5), description="Added to the estimated downtime when judging "
        "whether a run fits in its window (the stop, the backup, the unforeseen)")

    @field_validator("duration", "margin", mode="before")
    @classmethod
    def _hours_minutes(cls, value: Any) -> Any:
        """`2h`, `90m`, `1h30m`, `45s` as well as what pydantic reads (seconds, PT2H)."""
        match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
        if match and any(match.groups()):
            hours, minutes, seconds = (int(part or 0) for part in match.groups())
            return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: dt.timedelta | None) -> dt.timedelta | None:
        if value is not None and value <= dt.timedelta(0):
            raise ValueError("must be longer than 0 (e.g. 2h)")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Five fields (minute hour day month weekday) or a macro like @daily: a schedule
        Prefect cannot read would only fail when the deployments are registered."""
        fields = value.split()
        if len(fields) == 1 and fields[0] in _CRON_MACROS:
            return value
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(f"{value!r} is not a cron expression of five fields (minute "
                             "hour day month weekday), e.g. '0 3 * * 0'")
        for field, (low, high) in zip(fields, _CRON_RANGES, strict=True):
            for number in re.findall(r"\d+", field.split("/")[0]):
                if not low <= int(number) <= high:
                    raise ValueError(f"{value!r}: {number} is outside {low}-{high} in "
                                     f"{field!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris, "
                             "UTC)") from None
        return value


def _union(backends: Iterable[type]) -> Any:
    """The discriminated union of the `config_model`s of `backends`, tagged by `kind`."""
    models = tuple(backend.config_model for backend in backends)
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - built at runtime


InstallConfig = _union(INSTALLERS.values())
RuntimeConfig = _union(RUNTIMES.values())


class HubConfig(StrictModel):
    name: str = Field(description="Unique name of the hub in the fleet: lowercase letters, "
                      "digits, '.', '_' and '-' (it names folders and keys in the store)")
    environment: Literal["staging", "production"] = Field(
        "production", description="Staging hubs go first in a fleet upgrade"
    )
    target_version: str | None = Field(
        None, description="JupyterHub version to upgrade to: exact (6.1.1), a major version "
        "(6: its newest release) or latest, resolved at the start of each upgrade")
    rehearse: bool = Field(
        True, description="Rehearse every upgrade on a copy of the hub's database before the "
        "window (hub up; a failure is a refusal with the hub untouched); false turns it off")
    via: str | None = Field(
        None, description="Stepping stones: direct (default), auto (the newest release of each "
        "major version in between) or versions like 3.1.1,4.1.6")
    config_file: Path = Field(description="The hub's jupyterhub_config.py")
    config_files: list[Path] = Field(
        default_factory=list,
        description="More configuration the hub reads, files or folders (e.g. TLJH's "
        "/opt/tljh/config): backed up with the database and put back exactly by a rollback "
        "(a folder as a whole: files added since the backup are removed)")
    tljh: TljhConfig | None = Field(
        None, description="A The Littlest JupyterHub install: fills in what its layout "
        "implies (keys given beside it win)")
    db_url: SecretStr = Field(description="The hub's database URL (may hold a password)")
    api_url: str = Field(description="The hub's REST API as users reach it, through the "
                         "proxy, e.g. http://127.0.0.1:8000/hub/api")
    hub_api_url: str | None = Field(
        None, description="The hub's own REST API, not through the proxy: "
        "http://<hub_ip>:<hub_port>/hub/api. Needed when the proxy runs on its own "
        "(ConfigurableHTTPProxy.should_start = False): its port stays open while the hub is "
        "down, so hubshift judges the hub down, up and its version here")
    api_token: SecretStr = Field(description="An admin API token of the hub: ${VAR}, or "
                                 "{secret_block: NAME} for a Prefect Secret block")
    db_password: SecretStr | None = Field(
        None, description="The database password, put into db_url (which then names only "
        "the user): ${VAR} or {secret_block: NAME}")
    install: InstallConfig
    runtime: RuntimeConfig
    schedule: Schedule | None = None
    queue: str | None = Field(
        None, description="Prefect work queue whose worker runs on the hub's host (deploy mode)"
    )
    retention: RetentionConfig | None = Field(
        None, description="This hub's own backups to keep (`hubshift prune`), instead of the "
        "fleet's retention")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """What `tljh:` implies, under the keys given beside it; then `install` and
        `runtime` may leave out `kind` while each has one obvious default."""
        tljh = data.get("tljh") if isinstance(data, dict) else None
        prefix = tljh.get("prefix") if isinstance(tljh, dict) else None
        if isinstance(prefix, (str, Path)):
            try:
                data = {**implied(Path(prefix), find_config_file="config_file" not in data),
                        **data}
            except ValueError as err:
                raise PydanticCustomError("tljh_layout", str(err)) from None
        if isinstance(data, dict):
            for section, kind in (("install", "venv"), ("runtime", "process")):
                if isinstance(data.get(section), dict) and "kind" not in data[section]:
                    data = {**data, section: {"kind": kind, **data[section]}}
        return data

    @property
    def own_api_url(self) -> str:
        """Where the hub itself answers: `hub_api_url`, else `api_url` (the proxy is the
        hub's own, so it is up exactly when the hub is)."""
        return self.hub_api_url or self.api_url

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_hub_name(value, where="")
        except ConfigError as err:  # pydantic reports ValueErrors with their key
            raise ValueError(err.message) from None

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty: an admin API token of the hub is needed")
        return value

    @field_validator("api_url", "hub_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("db_url")
    @classmethod
    def _db_url(cls, value: SecretStr) -> SecretStr:
        """A URL of a supported engine that parses; the messages never quote it (it may hold
        a password)."""
        url = value.get_secret_value()
        scheme = url.split("://", 1)[0]
        if "://" not in url or not scheme:
            raise ValueError("must be a database URL such as sqlite:////srv/hub/jupyterhub.sqlite")
        supported = [s for backend in DATABASES for s in backend.schemes]
        if scheme.split("+", 1)[0].lower() not in supported:
            raise ValueError(f"database scheme {scheme!r} is not supported (supported: "
                             f"{', '.join(supported)})")
        if engine_of(url) is not None:
            try:
                parse_server_url(url)
            except HubshiftError as err:
                raise ValueError(err.message) from None
            except ValueError:  # a port that is not a number
                raise ValueError("cannot parse the database URL (password hidden): is its "
                                 "port a number?") from None
        return value

    @field_validator("target_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.fullmatch(value):
            raise ValueError(f"is not a JupyterHub version number (nor latest, nor a major "
                             f"version like 6): {value!r}")
        return value

    @field_validator("via")
    @classmethod
    def _via(cls, value: str | None) -> str | None:
        try:
            parse_via(value, where="via")
        except PreflightError as err:
            raise ValueError(f"must be direct, auto or versions like 3.1.1,4.1.6: "
                             f"{err.message}") from err
        return value


class FleetConfig(StrictModel):
    storage: StorageConfig
    notify: NotifyConfig = NotifyConfig()
    hubs: list[HubConfig] = Field(min_length=1)
    retention: RetentionConfig | None = Field(
        None, description="Backups to keep (`hubshift prune`): keep_last N, keep_days D")
    disk_reserve_mb: int = Field(
        0, ge=0, description="MiB that must stay free on each disk after the upgrade wrote "
        "its venvs and backup copy (room the rest of the machine needs)")
    rollout: RolloutConfig = Field(
        RolloutConfig(), description="How a fleet upgrade goes from wave to wave: approval "
        "gates, soak time, what a hub that fails its soak means")
    #: The file this fleet was read from (not part of the YAML).
    source: Path = Field(Path("fleet.yaml"), exclude=True)

    @field_validator("hubs")
    @classmethod
    def _unique_names(cls, hubs: list[HubConfig]) -> list[HubConfig]:
        seen: set[str] = set()
        for i, hub in enumerate(hubs):
            if hub.name in seen:
                raise PydanticCustomError(
                    "duplicate_hub", "hub name '{name}' is used twice (each hub needs its own)",
                    {"index": i, "name": hub.name})
            seen.add(hub.name)
        return hubs

    def retention_of(self, hub: HubConfig) -> RetentionConfig:
        """`hub`'s own retention, else the fleet's; ConfigError naming the key when there is
        neither (prune deletes nothing by a default)."""
        found = hub.retention or self.retention
        if found is None:
            raise ConfigError(
                f"{self.source}: key retention: required by hubshift prune, e.g. retention: "
                "{keep_last: 5, keep_days: 30} (or hubs[].retention for one hub)", hub=hub.name)
        return found

    def hub(self, name: str) -> HubConfig:
        """The hub called `name`; raises ConfigError listing the known names."""
        for hub in self.hubs:
            if hub.name == name:
                return hub
        known = ", ".join(h.name for h in self.hubs)
        raise ConfigError(
            f"{self.source}: no hub named {name!r} (the fleet has: {known})", hub=name
        )


def _expand(value: Any, where: str, env: dict[str, str], file: Path) -> Any:
    """Expand ${VAR} in every string; a missing variable is an error naming where it is."""
    if isinstance(value, dict):
        return {
            k: _expand(v, f"{where}.{k}" if where else str(k), env, file)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", env, file) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    bad = _BAD_VAR.search(value)
    if bad is not None:  # the text around it is not shown: it may be part of a secret
        raise ConfigError(f"{file}: key {where}: the ${{ at character {bad.start() + 1} does "
                          "not start a variable like ${PHYSICS_HUB_TOKEN} (letters, digits "
                          "and _, closed by })")

    def substitute(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in env:
            raise ConfigError(f"{file}: key {where}: environment variable ${{{var}}} is not set")
        register_secret(env[var])
        if "${" in env[var]:
            # Expanded once: a value that refers to another variable is a mistake, and
            # taken literally it would become a password nobody meant.
            raise ConfigError(f"{file}: key {where}: environment variable ${{{var}}} holds "
                              "another ${...}: variables are expanded once, not recursively")
        return env[var]

    return _VAR.sub(substitute, value)



def _resolve_blocks(value: Any, where: str, file: Path) -> Any:
    """Replace every `{secret_block: NAME}` with the Secret block's value, and fill in
    `storage:`'s keys from its `credentials_block` (an AwsCredentials block)."""
    if isinstance(value, list):
        return [_resolve_blocks(v, f"{where}[{i}]", file) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if list(value) == ["secret_block"]:
        return blocks.fetch_secret(value["secret_block"], f"{file}: key {where}")
    resolved = {k: _resolve_blocks(v, f"{where}.{k}" if where else str(k), file)
                for k, v in value.items()}
    name = resolved.get("credentials_block") if where == "storage" else None
    if name is not None:
        given = [k for k in ("access_key_id", "secret_access_key") if resolved.get(k)]
        if given:
            raise ConfigError(f"{file}: key storage.{given[0]}: give the keys or "
                              "storage.credentials_block, not both")
        held = blocks.fetch_aws_credentials(name, f"{file}: key storage.credentials_block")
        resolved |= {k: v for k, v in held.items()
                     if v is not None and resolved.get(k) is None}
    return resolved


def _merge_db_passwords(raw: dict[str, Any], file: Path) -> None:
    """Put each hub's `db_password` into its `db_url` (quoted as a URL needs it)."""
    for i, hub in enumerate(raw.get("hubs") or []):
        if not isinstance(hub, dict) or not isinstance(hub.get("db_password"), str):
            continue
        password, url = hub["db_password"], hub.get("db_url")
        register_secret(password)
        where = f"{file}: hub {hub.get('name') or f'#{i + 1}'!s}: key db_password"
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            user = parts.username if parts else None
        except ValueError:
            parts = user = None
        if parts is None or not parts.hostname or not user:
            raise ConfigError(f"{where}: db_url must name a server and a user "
                              "(postgresql://hub@db.example.org/jupyterhub) for its password")
        if parts.password is not None:
            raise ConfigError(f"{where}: db_url holds a password already: give one or the other")
        secret = quote(password, safe="")
        register_secret(secret)
        hub["db_url"] = parts._replace(
            netloc=f"{parts.netloc.rsplit('@', 1)[0]}:{secret}@"
                   f"{parts.netloc.rsplit('@', 1)[1]}").geturl()


def _path_fields(model: type[BaseModel]) -> list[str]:
    """The fields of `model` that hold a path (Path or Path | None)."""
    return [name for name, field in model.model_fields.items()
            if field.annotation is Path or Path in get_args(field.annotation)]


def _backend_model(registry: dict[str, Any], section: Any) -> type[BaseModel] | None:
    kind = section.get("kind") if isinstance(section, dict) else None
    backend = registry.get(kind) if isinstance(kind, str) else None
    return backend.config_model if backend is not None else None


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make relative paths relative to the fleet file, not to wherever hubshift runs."""
    for hub in raw.get("hubs") or []:
        if not isinstance(hub, dict):
            continue
        sections: list[tuple[Any, list[str]]] = [(hub, ["config_file"])]
        if isinstance(hub.get("tljh"), dict):
            sections.append((hub["tljh"], ["prefix"]))
        if isinstance(hub.get("config_files"), list):
            hub["config_files"] = [
                str(base / item) if isinstance(item, str) and not os.path.isabs(item) else item
                for item in hub["config_files"]]
        for key, registry in (("install", INSTALLERS), ("runtime", RUNTIMES)):
            model = _backend_model(registry, hub.get(key))
            if model is not None:
                sections.append((hub[key], _path_fields(model)))
        for section, keys in sections:
            for key in keys:
                if isinstance(section.get(key), str) and not os.path.isabs(section[key]):
                    section[key] = str(base / section[key])
        db_url = hub.get("db_url")
        # sqlite:///relative.sqlite -> absolute, so the hub and hubshift agree on the file.
        if isinstance(db_url, str) and db_url.startswith("sqlite:///") and not db_url.startswith(
            "sqlite:////"
        ):
            hub["db_url"] = "sqlite:///" + str(base / db_url[len("sqlite:///"):])


def _describe(err: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = list(err["loc"])
    hub = ""
    if len(loc) >= 2 and loc[0] == "hubs" and isinstance(loc[1], int):
        hubs = raw.get("hubs") or []
        entry = hubs[loc[1]] if loc[1] < len(hubs) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        hub = f"hub {name!r}: " if name else f"hub #{loc[1] + 1}: "
    key = ""
    for i, part in enumerate(loc):
        # A discriminated union puts its tag ('venv', 'process') in the path: not a key.
        tagged = i > 0 and loc[i - 1] in ("install", "runtime") and i < len(loc) - 1
        if tagged and part in (*INSTALLERS, *RUNTIMES):
            continue
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "duplicate_hub":
        key = f"hubs[{err['ctx']['index']}].name"
    elif err["type"] == "union_tag_invalid":
        section = loc[-1] if loc else "kind"
        kinds = INSTALLERS if section == "install" else RUNTIMES
        message = (f"unknown kind {err['input'].get('kind')!r} (kinds that exist: "
                   f"{', '.join(sorted(kinds))})" if isinstance(err["input"], dict)
                   else message)
        key += ".kind"
    elif err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    return f"{hub}key {key}: {message}"


def load_fleet(path: Path | str, env: dict[str, str] | None = None) -> FleetConfig:
    """Read and validate the fleet file at `path`; raises ConfigError naming file, hub and key."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{file}: cannot read the fleet file: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{file}: not a UTF-8 text file (byte {err.start + 1})") from err
    try:
        raw = yaml.load(text, Loader=_FleetLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML{_yaml_where(err)}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping with storage, notify and hubs")
    raw = _expand(raw, "", dict(os.environ if env is None else env), file)
    raw = _resolve_blocks(raw, "", file)
    _merge_db_passwords(raw, file)
    _resolve_paths(raw, file.resolve().parent)
    try:
        fleet = FleetConfig.model_validate({**raw, "source": file})
    except ValidationError as err:
        lines = [_describe(e, raw) for e in err.errors()]
        raise ConfigError(f"{file}: " + "; ".join(lines)) from None
    _register_secrets(fleet)
    return fleet


class _FleetLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping: PyYAML keeps the
    last one without a word, so a second `db_url:` pasted further down a hub would win
    unseen, and the hub upgraded would not be the one the operator reviewed."""


def _unique_keys(loader: _FleetLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (first at line "
                    f"{seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        except TypeError:
            continue  # an unhashable key: the mapping's own construction refuses it
    return loader.construct_mapping(node, deep=True)


_FleetLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)


def _yaml_where(err: yaml.YAMLError) -> str:
    """Where and what, on one line, without PyYAML's quote of the line (it may hold a
    secret)."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None)
    return f"{where}: {problem}" if problem else where


def _register_secrets(fleet: FleetConfig) -> None:
    for secret in (fleet.storage.access_key_id, fleet.storage.secret_access_key):
        if secret is not None:
            register_secret(secret.get_secret_value())
    for url in fleet.notify.urls:
        register_secret(url.get_secret_value())
    for hub in fleet.hubs:
        register_secret(hub.api_token.get_secret_value())
        password = urlsplit(hub.db_url.get_secret_value()).password
        register_secret(password)
