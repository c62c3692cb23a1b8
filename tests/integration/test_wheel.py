"""The package as a user gets it: the wheel, built from what the Dockerfile copies, holds
one top-level name (``accessdrift``) with its Avro schemas and migrations; installed in a
fresh virtualenv its command runs from anywhere and writes nothing beside the installed
code. No Kafka: ``migrate`` runs against the embedded engine.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import pytest

import accessdrift

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(path.name for path in (ROOT / "accessdrift/sinks/migrations").glob("*.sql"))
SCHEMAS = sorted(path.name for path in (ROOT / "accessdrift/schemas").glob("*.avsc"))


# --- .dockerignore, as Docker reads it --------------------------------------------------


def _pattern(line: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over a context-relative path: Go's
    filepath.Match (``*`` and ``?`` stop at ``/``) plus ``**``, any number of folders."""
    parts = []
    index = 0
    text = line.strip("/")
    while index < len(text):
        if text.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif text.startswith("**", index):
            parts.append(".*")
            index += 2
        elif text[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif text[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(text[index]))
            index += 1
    return re.compile("".join(parts))


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) per line, in order; ``!`` lines take back what came before."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        rules.append((excludes, _pattern(line.removeprefix("!").strip())))
    return rules


def ignored(rules: list[tuple[bool, re.Pattern[str]]], path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last rule matching it or
    one of its folders decides (a folder left out takes its contents with it)."""
    pure = PurePosixPath(path)
    candidates = [str(pure), *(str(parent) for parent in pure.parents if str(parent) != ".")]
    verdict = False
    for excludes, pattern in rules:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            verdict = excludes
    return verdict


def build_context(destination: Path) -> Path:
    """A copy of the checkout as ``docker build .`` would send it (.dockerignore applied)."""
    rules = dockerignore_rules((ROOT / ".dockerignore").read_text())
    for folder, folders, files in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT)
        # Pruned in place: .venv and .accessdrift are large, and left out anyway.
        folders[:] = [name for name in folders if not ignored(rules, str(relative / name))]
        for name in files:
            if not ignored(rules, str(relative / name)):
                target = destination / relative / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(folder) / name, target)
    return destination


# --- the Dockerfile's COPY lines ---------------------------------------------------------


def copy_lines(dockerfile: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY, in the build stage (no --from)."""
    found = []
    for line in dockerfile.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        arguments = [word for word in words[1:] if not word.startswith("--")]
        assert not any(word.startswith("--from") for word in words), line
        found.append((arguments[:-1], arguments[-1]))
    return found


def copied_tree(context: Path, destination: Path) -> Path:
    """What the Dockerfile's COPY lines put in its WORKDIR, taken from the build context."""
    for sources, target in copy_lines((ROOT / "Dockerfile").read_text()):
        for source in sources:
            origin = context / source
            if origin.is_dir():
                # Docker copies a folder's contents, not the folder, into the destination.
                shutil.copytree(origin, destination / target, dirs_exist_ok=True)
            else:
                into = destination / target
                if target.endswith("/"):
                    into = into / origin.name
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, into)
    return destination


def build_wheel(source: Path, output: Path) -> Path:
    # pip wheel builds in an isolated environment with the setuptools pyproject.toml asks
    # for (the project's virtualenv may hold an older one), from the same index pip uses.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(output), "."],
        cwd=source,
        check=True,
    )
    (wheel,) = output.glob("accessdrift-*.whl")
    return wheel


def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(archive.namelist())


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_context(tmp_path_factory.mktemp("context"))


@pytest.fixture(scope="module")
def wheel(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the Dockerfile's COPY lines alone, as the image builds it."""
    tree = copied_tree(context, tmp_path_factory.mktemp("image"))
    return build_wheel(tree, tmp_path_factory.mktemp("wheel"))


# --- the wheel ---------------------------------------------------------------------------


def test_the_wheel_has_one_top_level_name_and_its_data(wheel: Path) -> None:
    inside = names(wheel)
    dist_info = f"accessdrift-{accessdrift.__version__}.dist-info"
    assert {name.split("/")[0] for name in inside} == {"accessdrift", dist_info}
    assert [
        n.split("/")[-1]
        for n in inside
        if n.startswith("accessdrift/schemas/") and n.endswith(".avsc")
    ] == SCHEMAS
    assert [
        n.split("/")[-1] for n in inside if n.startswith("accessdrift/sinks/migrations/")
    ] == MIGRATIONS
    assert "accessdrift/kafka_dist/pom.xml" in inside
    assert "accessdrift/dashboard/templates/dashboard.html.jinja" in inside
    assert "accessdrift/evidence/templates/report.html.jinja" in inside
    assert f"{dist_info}/licenses/LICENSE" in inside
    assert not [name for name in inside if "__pycache__" in name or name.endswith(".pyc")]
    assert len(SCHEMAS) >= 10 and len(MIGRATIONS) >= 9, "the checkout's own files were found"


def test_one_version(wheel: Path) -> None:
    """The version is written once, in accessdrift/__init__.py; the wheel's metadata
    takes it from there."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"accessdrift-{accessdrift.__version__}.dist-info/METADATA")
    assert f"Version: {accessdrift.__version__}\n" in metadata.decode()
    assert "License-Expression: Apache-2.0\n" in metadata.decode()
    assert (
        "Apache License\n                           Version 2.0" in (ROOT / "LICENSE").read_text()
    )


# --- the Dockerfile and the build context ------------------------------------------------


def test_the_dockerfile_copies_what_the_wheel_needs_and_nothing_else(
    context: Path, wheel: Path, tmp_path: Path
) -> None:
    """The COPY lines take pyproject.toml, the files it names and the package; a wheel of
    the whole build context has nothing more than the one of those alone."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", project["readme"], *project["license-files"], "accessdrift"}
    copied = {
        source for sources, _ in copy_lines((ROOT / "Dockerfile").read_text()) for source in sources
    }
    assert copied == needed
    assert names(build_wheel(context, tmp_path)) == names(wheel)


def test_the_build_context_leaves_out_local_state() -> None:
    rules = dockerignore_rules((ROOT / ".dockerignore").read_text())
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".accessdrift/clickhouse/data",
        ".accessdrift",
        "bench/results/latest.json",
        "accessdrift/__pycache__/cli.cpython-311.pyc",
        "deploy/kubernetes/overlays/example/secrets/worker.env",
        ".env",
    ):
        assert ignored(rules, path), path
    for path in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "accessdrift/cli.py",
        "accessdrift/schemas/Alert.avsc",
        "accessdrift/sinks/migrations/0001_events.sql",
    ):
        assert not ignored(rules, path), path


def test_the_dockerignore_reader() -> None:
    """The reader the test above relies on, on rules whose answer is known."""
    rules = dockerignore_rules(
        "# comment\n.venv\n**/*.pyc\nbench/results\n!bench/results/keep.json\n"
    )
    assert ignored(rules, ".venv/lib/x.py") and ignored(rules, "a/b/c.pyc")
    assert ignored(rules, "bench/results/latest.json")
    assert not ignored(rules, "bench/results/keep.json")
    assert not ignored(rules, "bench/run.py") and not ignored(rules, "x.venv")
    assert not ignored(dockerignore_rules("*.pyc\n"), "a/b.pyc"), "* stops at /"


# --- installed in a fresh virtualenv -----------------------------------------------------


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def _run(command: Iterable[str], cwd: Path, **environment: str) -> str:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("ACCESSDRIFT_")}
    # No .pyc written at run time either: site-packages must stay as pip left it.
    clean.update(PYTHONDONTWRITEBYTECODE="1", **environment)
    clean.pop("PYTHONPATH", None)
    run = subprocess.run(
        list(command), cwd=cwd, env=clean, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, f"{command}: {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run.stdout


def test_installed_it_runs_from_anywhere_and_writes_nothing_beside_its_code(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies, offline: the project's own virtualenv's site-packages, appended to
    # the new one's path by a .pth file (after its own site-packages, so the wheel's
    # accessdrift, not the checkout's editable one, is what imports; .pth files inside it
    # are not run, so the editable install's finder stays out). Hence --no-deps below: the
    # commands still find every dependency, without downloading them again.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "project_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            str(wheel),
        ],
        check=True,
    )
    before = _files(venv)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = venv / "bin" / "accessdrift"

    assert (
        _run([str(command), "--version"], elsewhere) == f"accessdrift {accessdrift.__version__}\n"
    )
    where = _run([str(python), "-c", "import accessdrift; print(accessdrift.__file__)"], elsewhere)
    assert Path(where.strip()).is_relative_to(site_packages), "the wheel's code, not the checkout's"
    # Every record's .avsc file, read through importlib.resources from the installed package.
    _run(
        [
            str(python),
            "-c",
            "from accessdrift.catalog import RECORD\n"
            "from accessdrift.schemas.codec import Codec\n[Codec(name) for name in RECORD]",
        ],
        elsewhere,
    )

    data = tmp_path / "data"
    migrated = _run([str(command), "migrate"], elsewhere, ACCESSDRIFT_DATA_DIR=str(data))
    assert Path(MIGRATIONS[-1]).stem in migrated, migrated
    assert (data / "clickhouse").is_dir()
    # Without the setting: .accessdrift in the working directory.
    _run([str(command), "migrate"], elsewhere)
    assert (elsewhere / ".accessdrift" / "clickhouse").is_dir()

    assert _files(venv) == before, "written beside the installed code"
