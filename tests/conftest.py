"""Fixtures shared by every test folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _nirvis_on_a_full_disk(argv, limit_bytes, cwd):
    """Run ``nirvis ARGV`` in a subprocess that may write at most ``limit_bytes`` per file (RLIMIT_FSIZE:
    a write past it fails with EFBIG, as on a full file system). Returns (completed process, the
    stderr lines that report an error or a traceback)."""
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
        from nirvis.cli import main
        sys.exit(main({[str(a) for a in argv]!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    return proc, lines


@pytest.fixture
def on_a_full_disk():
    """``run(argv, limit_bytes, cwd) -> (process, error lines)``: nirvis on a simulated full disk."""
    pytest.importorskip("resource")
    return _nirvis_on_a_full_disk
