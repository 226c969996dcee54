"""A new Django project made only from README.md's setup snippets, in a venv that has nothing but the wheel.

README.md marks each snippet with an HTML comment (`<!-- setup:NAME -->`): before a fenced block,
or on a line whose first inline code is the snippet. The test applies that text as it stands, so
README and test cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT

DIST = "django-durable-workflows"
# What tests/settings.py and this machine's shell could pass on to the project: none of it may.
LEAKS = ("DJANGO_", "DURABLE_", "DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
# The wheel is built from a copy of these alone: a stale build/ in the checkout cannot creep in.
PACKAGED = ("pyproject.toml", "README.md", "LICENSE", "durable")


def snippet(name: str) -> str:
    """The text README.md marks with `<!-- setup:NAME -->`: the next fenced block, or the line's first inline code."""
    lines = (ROOT / "README.md").read_text().splitlines()
    marker = f"<!-- setup:{name} -->"
    at = next((i for i, line in enumerate(lines) if marker in line), None)
    if at is None:
        raise AssertionError(f"README.md has no {marker}")
    if lines[at].strip() != marker:
        code = re.search(r"`([^`]+)`", lines[at])
        if not code:
            raise AssertionError(f"README.md's line with {marker} has no inline code")
        return code.group(1)
    fence = lines[at + 1].strip()
    if not fence.startswith("```"):
        raise AssertionError(f"README.md's {marker} is not followed by a code fence")
    end = next(i for i in range(at + 2, len(lines)) if lines[i].strip() == "```")
    return textwrap.dedent("\n".join(lines[at + 2 : end])) + "\n"


def commands(name: str) -> list[list[str]]:
    """A README snippet of shell commands, one per line, split into arguments."""
    return [shlex.split(line) for line in snippet(name).splitlines() if line.strip()]


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """This environment without anything that could carry the test suite's settings, with `venv` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKS)}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a command to its end; its output, or an AssertionError that shows it."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{shlex.join(args)} exited with {done.returncode}:\n{output}"
    return output


def build_wheel(into: Path) -> Path:
    """The project's wheel, built from a clean copy of what it packages."""
    source = into / "source"
    for name in PACKAGED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    out = into / "wheel"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)], into, dict(os.environ))
    (wheel,) = out.glob("*.whl")
    return wheel


def make_venv(path: Path, wheel: Path) -> Path:
    """A venv of its own (no system site-packages), with the README's install lines run against `wheel`."""
    run([sys.executable, "-m", "venv", str(path)], path.parent, clean_env(path))
    for line in commands("install"):
        assert line[:2] == ["pip", "install"], f"not a pip install: {line}"
        args = [re.sub(rf"^{re.escape(DIST)}(?=\[|$)", str(wheel), arg) for arg in line[2:]]
        assert args != line[2:], f"the README's install line names no {DIST}: {line}"
        run([str(path / "bin" / "pip"), "install", "-q", *args], path.parent, clean_env(path))
    return path


def readme_command(line: list[str], venv: Path) -> list[str]:
    """A README command line with `python` as the venv's interpreter."""
    assert line[0] == "python", f"not a python command: {line}"
    return [str(venv / "bin" / "python"), *line[1:]]


class Process:
    """A long-running command in its own session, its output in a log file."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.args, self.log = args, log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60) -> Process:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{shlex.join(self.args)} exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{shlex.join(self.args)} not ready after {timeout} s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def stop(self, grace: float = 30) -> None:
        """SIGTERM and wait, as an operator stops it; then SIGKILL whatever of its group is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(10)
        self._out.close()
