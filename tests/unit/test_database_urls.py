"""Database URLs as users write them: parsed, normalised to our drivers, never shown whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hubshift.backends.databases import database_for
from hubshift.backends.databases.mysql import MySQLDatabase, _option_value, scratch_names
from hubshift.backends.databases.postgres import PostgresDatabase, _pgpass_field
from hubshift.backends.databases.sqlite import SQLiteDatabase
from hubshift.backends.databases.urls import engine_of, normalise, parse_server_url
from hubshift.errors import ConfigError
from hubshift.integrity.digest import table_digest


@pytest.mark.parametrize(("url", "normal"), [
    ("postgresql://hub:s3cret@db.example.org/jupyterhub",
     "postgresql+psycopg2://hub:s3cret@db.example.org:5432/jupyterhub"),
    ("postgres://hub:s3cret@db.example.org:6432/jupyterhub",
     "postgresql+psycopg2://hub:s3cret@db.example.org:6432/jupyterhub"),
    ("postgresql+psycopg2://hub:s3cret@10.0.0.5/jupyterhub",
     "postgresql+psycopg2://hub:s3cret@10.0.0.5:5432/jupyterhub"),
    ("postgresql+psycopg://hub@db/jupyterhub?sslmode=require",
     "postgresql+psycopg2://hub@db:5432/jupyterhub?sslmode=require"),
    ("mysql://hub:s3cret@db.example.org/jupyterhub",
     "mysql+pymysql://hub:s3cret@db.example.org:3306/jupyterhub"),
    ("mysql+pymysql://hub:s3cret@db.example.org:3307/jupyterhub",
     "mysql+pymysql://hub:s3cret@db.example.org:3307/jupyterhub"),
    ("mariadb+mariadbconnector://hub:s3cret@db/jupyterhub",
     "mysql+pymysql://hub:s3cret@db:3306/jupyterhub"),
])
def test_every_spelling_users_write_is_normalised_to_our_driver(url: str, normal: str) -> None:
    assert normalise(url) == normal


def test_parts_are_decoded_and_the_password_stays_out_of_repr_and_messages() -> None:
    server = parse_server_url("postgresql://hub%40x:p%40ss%3Aw%2Fd@[::1]:5433/jupyter_hub")
    assert (server.engine, server.host, server.port) == ("postgres", "::1", 5433)
    assert (server.user, server.password, server.database) == ("hub@x", "p@ss:w/d", "jupyter_hub")
    assert "p@ss" not in repr(server) and "p@ss" not in server.where
    assert server.where == "::1:5433 as user 'hub@x'"
    # The password survives the round trip to SQLAlchemy's URL.
    assert server.sqlalchemy_url().password == "p@ss:w/d"
    assert server.with_database("other").password == "p@ss:w/d"


def test_a_url_without_host_means_the_local_socket() -> None:
    server = parse_server_url("postgresql:///jupyterhub?host=/var/run/postgresql")
    assert server.host is None and server.query == {"host": "/var/run/postgresql"}
    assert server.where.startswith("/var/run/postgresql:5432")


@pytest.mark.parametrize("url", [
    "postgresql://hub:secret-pw@db/",
    "mysql://hub:secret-pw@db",
])
def test_a_url_without_a_database_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="names no database") as caught:
        database_for(url, hub="physics")
    assert "secret-pw" not in str(caught.value) and caught.value.hub == "physics"


def test_the_scheme_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(database_for("postgres://hub@db/jh"), PostgresDatabase)
    assert isinstance(database_for("postgresql+psycopg2://hub@db/jh"), PostgresDatabase)
    assert isinstance(database_for("mysql+pymysql://hub@db/jh"), MySQLDatabase)
    assert isinstance(database_for("mariadb://hub@db/jh"), MySQLDatabase)
    assert isinstance(database_for(f"sqlite:///{tmp_path}/jh.sqlite"), SQLiteDatabase)
    assert engine_of("oracle://x@y/z") is None


def test_capabilities_and_driver_packages() -> None:
    pg, my = database_for("postgresql://h@d/jh"), database_for("mysql://h@d/jh")
    assert pg.transactional_ddl is True and my.transactional_ddl is False
    # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3: both drivers go in every venv.
    assert {"psycopg2-binary", "psycopg[binary]"} <= set(pg.driver_packages)
    assert my.driver_packages == ("pymysql",)
    assert pg.dump_name == "postgres.dump" and my.dump_name == "mysql.sql.gz"


def test_credential_files_escape_what_their_formats_treat_specially() -> None:
    assert _pgpass_field("a:b\\c") == "a\\:b\\\\c"
    assert _option_value("p w#'\"\\") == '"p w#\\\'\\"\\\\"'
    new, old = scratch_names("x" * 64)
    assert len(new) == len(old) == 64 and new.endswith("__hubshift_new")


def test_values_of_every_driver_digest_as_sqlite_stores_them() -> None:
    # SQLite (through sqlite3) gives 0/1 and SQLAlchemy's datetime text; PostgreSQL gives
    # bool and datetime; MySQL int and datetime. All must digest alike.
    sqlite_row = (1, "2026-01-01 12:00:00.000000", b"\x01")
    postgres_row = (True, dt.datetime(2026, 1, 1, 12), memoryview(b"\x01"))
    aware_row = (1, dt.datetime(2026, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                 bytearray(b"\x01"))
    columns = ["admin", "created", "blob"]
    digests = {str(table_digest(columns, [row])) for row in (sqlite_row, postgres_row, aware_row)}
    assert len(digests) == 1
