"""docker-compose.yml, checked by a real compose implementation (no Docker engine runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.services import require

ROOT = Path(__file__).resolve().parents[2]


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    compose = shutil.which("docker-compose")
    require(compose is not None, "docker-compose (Debian package docker-compose)")
    return subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), *args],
                          capture_output=True, text=True, cwd=ROOT, check=False)


def test_the_compose_file_is_valid_and_holds_the_whole_picture() -> None:
    quiet = _compose("config", "-q")
    assert quiet.returncode == 0, quiet.stderr
    resolved = yaml.safe_load(_compose("config").stdout)
    services = resolved["services"]
    assert set(services) == {"prefect-db", "prefect-server", "minio", "minio-bucket",
                             "hub-host"}
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"][
        "PREFECT_API_DATABASE_CONNECTION_URL"]
    assert "jupyterhub-backups" in " ".join(services["minio-bucket"]["command"])
    host = services["hub-host"]
    assert Path(host["build"]["context"]) == ROOT
    assert host["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert host["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"


def test_the_dockerfile_copies_what_exists_and_runs_the_hub_host() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (ROOT / source).exists(), source
    assert (ROOT / "docker" / "hub_host.py").exists()
    assert 'CMD ["python", "docker/hub_host.py"]' in dockerfile
