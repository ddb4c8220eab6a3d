"""The built wheel, installed into a fresh virtual environment, works on its own: `specc check` and
`specc explain` run from it, and it adds no generic top-level module such as `runtime` or `grammar`
(the wheel adds no generic top-level module)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
#: Folders of the repository that have no place in the build context.
NOT_SOURCES = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".venv", ".*_cache",
                                     ".hypothesis", ".specc")
#: Where a machine without the package index may keep wheels.
OFFLINE_WHEELS = Path("/opt/wheels")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


def clean_env() -> dict[str, str]:
    """The machine's environment, less whatever would let the venv see this checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}
    quiet = {"NO_COLOR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return {k: v for k, v in os.environ.items() if k not in drop} | quiet


def run(args: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env=clean_env())
    return result


def build_wheel(source: Path, outdir: Path) -> Path:
    attempts = [[sys.executable, "-m", "build", "--wheel", "--outdir", outdir, source],
                [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", outdir, source],
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", outdir, source]]
    failures = []
    for args in attempts:
        result = run(args, cwd=source)
        wheels = sorted(outdir.glob("specc-*.whl"))
        if result.returncode == 0 and wheels:
            return wheels[-1]
        failures.append(f"$ {' '.join(map(str, args))}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    pytest.fail("could not build the wheel:\n" + "\n".join(failures))


def install(wheel: Path, venv: Path) -> None:
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    online = run([*pip, wheel], cwd=venv)
    if online.returncode == 0:
        return
    offline = run([*pip, "--no-index", "--find-links", OFFLINE_WHEELS, wheel], cwd=venv)
    assert offline.returncode == 0, f"{online.stderr[-2000:]}\n{offline.stderr[-2000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    # a copy, so that building writes nothing into the checkout others are working in
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    wheel = build_wheel(source, work / "dist")
    venv = work / "venv"
    created = run([sys.executable, "-m", "venv", venv], cwd=work)
    assert created.returncode == 0, created.stderr
    install(wheel, venv)
    purelib = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  cwd=work)
    assert purelib.returncode == 0, purelib.stderr
    yield Installed(wheel, venv, Path(purelib.stdout.strip()))


def specs_to_check() -> Path:
    specs = ROOT / "specs"
    return specs if any(specs.glob("**/*.agent")) else FIXTURES / "clean.agent"


def test_the_venv_is_isolated(installed: Installed) -> None:
    """The venv sees the installed wheel, not this checkout nor the machine's site-packages."""
    machine = sysconfig.get_paths()["purelib"]
    result = run([installed.bin("python"), "-c", f"import specc, sys; print(specc.__file__, {machine!r} in sys.path)"],
                 cwd=installed.venv)
    assert result.returncode == 0, result.stderr
    location, sees_machine = result.stdout.split()
    assert Path(location).is_relative_to(installed.site_packages)
    assert sees_machine == "False"


def test_check_runs_from_the_wheel(installed: Installed) -> None:
    target = specs_to_check()
    result = run([installed.bin("specc"), "check", target], cwd=installed.venv)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout or "warning" in result.stdout


def test_check_reports_errors_from_the_wheel(installed: Installed) -> None:
    result = run([installed.bin("specc"), "check", FIXTURES / "several_errors.agent"], cwd=installed.venv)
    assert result.returncode == 1
    assert "error[SPC101]" in result.stdout


def test_explain_runs_from_the_wheel(installed: Installed) -> None:
    result = run([installed.bin("specc"), "explain", "SPC001"], cwd=installed.venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## SPC001 syntax")
    assert "### Fix" in result.stdout or "### Example" in result.stdout


def test_the_runtime_imports_from_the_wheel(installed: Installed) -> None:
    result = run([installed.bin("python"), "-c", "import specc.runtime, specc.grammar"], cwd=installed.venv)
    assert result.returncode == 0, result.stderr


def test_no_generic_top_level_module(installed: Installed) -> None:
    top_level = {p.name.removesuffix(".py") for p in installed.site_packages.iterdir()}
    for generic in ("runtime", "grammar", "tests", "bench", "specs", "passes"):
        assert generic not in top_level, generic
    assert "specc" in top_level


def test_the_wheel_holds_only_the_specc_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"specc", next(t for t in tops if t.endswith(".dist-info"))}
    for needed in ("specc/grammar/agent.lark", "specc/py.typed", "specc/cli.py", "specc/runtime/__init__.py",
                   "specc/runtime/launch.sh"):
        assert needed in names, needed
    top_level_txt = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    if top_level_txt:
        with zipfile.ZipFile(installed.wheel) as wheel:
            assert wheel.read(top_level_txt[0]).decode().split() == ["specc"]
