"""Asks a JupyterHub release about a hub's config and database, from inside that release.

Never imported by hubshift: `hubshift.plan.probe` runs this file's source with a release's
own interpreter (`python -c`), in the hub's working directory and environment, so that the
answers come from the code that runs (or will run) the hub, not from a table kept by hand:
the running release says what the hub's settings are, the target what it will refuse or
ignore. It must run on every JupyterHub release hubshift can upgrade from or to, so it uses
only the standard library, traitlets, SQLAlchemy and JupyterHub, and guards every newer API
it touches.

argv: <config file>. Prints one line `HUBSHIFT-PROBE <json>` last; exits 0 unless it crashed.
"""

import contextlib
import json
import sys
import traceback

#: Where the hub's config names its pluggable classes (JupyterHub imports each at start).
CLASS_TRAITS = ("authenticator_class", "spawner_class", "proxy_class")
MARKER = "HUBSHIFT-PROBE "


def _error(err):
    return f"{type(err).__name__}: {err}".strip()


def _import_error(configured, err):
    """Why a configured class could not be imported: the import's own error when the value
    is a dotted name (traitlets' wraps it in a TraitError naming an object address)."""
    if configured and "." in configured:
        from traitlets.utils.importstring import import_item

        try:
            import_item(configured)
        except (Exception, SystemExit) as cause:
            return _error(cause)
    return _error(err)


def _config_traits(cls):
    return set(cls.class_trait_names(config=True))


def _unknown_options(app, used):
    """Options set in the config that no class using that section knows, as traitlets
    itself warns about them when the class loads its config ("not recognized by ...")."""
    from traitlets.config import Configurable

    unknown = []
    for section, values in app.config.items():
        if not hasattr(values, "items"):
            continue
        # The classes JupyterHub instantiates that read this section (their MRO names it).
        readers = [cls for cls in used
                   if any(base.__name__ == section for base in cls.mro()
                          if isinstance(base, type) and issubclass(base, Configurable))]
        if not readers:
            continue  # a section of a class this hub does not use: JupyterHub ignores it too
        for key, value in values.items():
            if hasattr(value, "items"):
                continue  # a nested section, not an option
            if not any(key in _config_traits(cls) for cls in readers):
                unknown.append(f"{section}.{key}")
    return sorted(unknown)


def _load_config(config_file):
    """The hub's config as JupyterHub reads it (`-f <file>`: the .py file and a .json beside
    it), through traitlets' own loader but on a bare Application, so that no trait of
    JupyterHub is set yet and each configured class can be tried on its own."""
    from traitlets.config import Application

    loader = Application()
    loader.raise_config_file_errors = True
    loader.load_config_file(config_file)
    return loader.config


def _configured(config, trait):
    section = config.get("JupyterHub", {}) if "JupyterHub" in config else {}
    value = section.get(trait) if hasattr(section, "get") else None
    if value is None:
        return None
    return value if isinstance(value, str) else f"{value.__module__}.{value.__qualname__}"


def _settings(app):
    """The settings that decide what users feel of an upgrade, as this release reads them:
    whether the hub starts its proxy (and so takes it down with it) and stops its users'
    servers, and where the hub itself listens."""
    proxy_class = app.proxy_class
    try:
        should_start = bool(proxy_class(config=app.config, log=app.log).should_start)
    except Exception:  # a proxy that needs more to exist: its configured or default value
        section = app.config.get(proxy_class.__name__, {})
        should_start = bool(section.get("should_start",
                                        proxy_class.class_traits()["should_start"].default_value))
    spawner_class = app.spawner_class
    return {
        "version": __import__("jupyterhub").__version__,
        "cleanup_servers": bool(app.cleanup_servers),
        "proxy_class": f"{proxy_class.__module__}.{proxy_class.__name__}",
        "proxy_should_start": should_start,
        "spawner_class": f"{spawner_class.__module__}.{spawner_class.__name__}",
        "hub_ip": app.hub_ip,
        "hub_port": app.hub_port,
        "hub_bind_url": app.hub_bind_url or "",
    }


def _name_rule():
    """The target's own rule for named-server names (JupyterHub >= 6), or None."""
    try:
        from jupyterhub.slugs import is_valid_safe_slug
    except ImportError:
        return None
    return is_valid_safe_slug


def _named_servers(app):
    """(owner, name, running) of every named server in the hub's database, read with the
    target's SQLAlchemy from the URL the hub's config gives (the default server's name is
    '')."""
    from sqlalchemy import create_engine, text

    engine = create_engine(app.db_url, **dict(app.db_kwargs or {}))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT users.name, spawners.name, spawners.server_id FROM spawners "
                "JOIN users ON users.id = spawners.user_id "
                "WHERE spawners.name IS NOT NULL AND spawners.name != ''"))
            return [(str(owner), str(name), server_id is not None)
                    for owner, name, server_id in rows]
    finally:
        engine.dispose()


def probe(config_file):
    try:
        import jupyterhub
        from jupyterhub.app import JupyterHub
    except Exception as err:  # shadowed, or a dependency missing: the hub could not start
        return {"import_error": _error(err)}

    found = {"version": jupyterhub.__version__, "python": sys.version.split()[0],
             "config_error": None, "class_errors": [], "unknown_options": [],
             "database_error": None, "named_servers": None, "invalid_named_servers": None,
             "invalid_named_server_policy": None, "name_rule": None}
    app = JupyterHub()
    try:
        config = _load_config(config_file)
    except (Exception, SystemExit) as err:  # the whole file: nothing else can be asked
        found["config_error"] = _error(err)
        return found
    used = [type(app)]
    for trait in CLASS_TRAITS:
        configured = _configured(config, trait)
        try:
            if configured is not None:
                # Setting the trait imports the class, as the hub's start does.
                setattr(app, trait, config.JupyterHub[trait])
            cls = getattr(app, trait)
        except (Exception, SystemExit) as err:
            found["class_errors"].append(
                {"trait": trait, "class": configured, "error": _import_error(configured, err)})
            config.JupyterHub.pop(trait, None)
            continue
        if isinstance(cls, type):
            used.append(cls)
    try:
        app.update_config(config)
    except (Exception, SystemExit) as err:  # a value of the wrong type, say
        found["config_error"] = _error(err)
        return found
    # Other configurables JupyterHub always creates (CryptKeeper, ...), minus the pluggable
    # bases: only the configured authenticator, spawner and proxy read those sections.
    pluggable = tuple(cls for cls in used[1:])
    bases = []
    for module, name in (("jupyterhub.auth", "Authenticator"), ("jupyterhub.spawner", "Spawner"),
                         ("jupyterhub.proxy", "Proxy")):
        with contextlib.suppress(ImportError, AttributeError):
            bases.append(getattr(__import__(module, fromlist=[name]), name))
    for cls in getattr(app, "classes", []):
        if isinstance(cls, type) and not issubclass(cls, tuple(bases) + pluggable):
            used.append(cls)
    found["settings"] = _settings(app)
    found["unknown_options"] = _unknown_options(app, used)

    rule = _name_rule()
    if "allow_existing_invalid_named_servers" in _config_traits(type(app)):
        found["invalid_named_server_policy"] = app.allow_existing_invalid_named_servers
    try:
        servers = _named_servers(app)
    except Exception as err:
        found["database_error"] = _error(err)
        return found
    found["named_servers"] = len(servers)
    if rule is not None:
        found["name_rule"] = "jupyterhub.slugs.is_valid_safe_slug"
        invalid = [(owner, name, running) for owner, name, running in servers
                   if not rule(name)]
        found["invalid_named_servers"] = {
            "count": len(invalid), "running": sum(running for _, _, running in invalid),
            "running_names": sorted(f"{owner}/{name}" for owner, name, running in invalid
                                    if running)}
    return found


def main():
    # As for the hub's own console script, the working directory is not on sys.path.
    if sys.path and sys.path[0] in ("", "."):
        del sys.path[0]
    try:
        found = probe(sys.argv[1])
    except Exception:
        found = {"crash": traceback.format_exc(limit=8)}
    print(MARKER + json.dumps(found), flush=True)


main()
