"""The command line lists its commands."""

import subprocess
import sys


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "mailfax", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "convert" in out.stdout
