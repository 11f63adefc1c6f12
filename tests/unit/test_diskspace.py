"""The disk-space check: sizes of real trees, and shortfalls against real file systems."""

from __future__ import annotations

import shutil
from pathlib import Path

from hubshift.system.diskspace import MARGIN, shortfalls, tree_size


def test_tree_size_counts_files_and_not_links(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 24)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert tree_size(tmp_path) == 1000 + 24 + len(str(tmp_path / "a"))
    assert tree_size(tmp_path / "missing") == 0


def test_shortfalls_name_the_folder_and_the_sizes(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    assert shortfalls({tmp_path: 1024}) == []
    [problem] = shortfalls({tmp_path / "not" / "made" / "yet": int(free / MARGIN) + 2**30})
    assert str(tmp_path / "not" / "made" / "yet") in problem and "MiB free" in problem
