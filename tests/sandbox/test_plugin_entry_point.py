"""Users get the runcomfy_sandbox fixture from the installed package, with no conftest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_fixture_is_available_through_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        "def test_uses_it(runcomfy_sandbox):\n"
        "    assert runcomfy_sandbox.base_url.startswith('http://127.0.0.1:')\n"
        "    assert runcomfy_sandbox.base_url.endswith('/v1')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
