"""The worker's Dockerfile, checked without Docker: an exact base image, and a state folder
the worker can write when a new named volume is mounted on it.

Docker fills a new named volume from the image's folder at the mount point, owner and mode
included; a folder that VOLUME alone brings into being is root's (755), and the worker, uid
10001, could not write its state there. Each rule is a function over the parsed Dockerfile
with a negative case that plants the fault it looks for.
"""

import re
import shlex
from pathlib import Path

from tests.unit.test_compose import exact_image

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
STATE = "/var/lib/accessdrift"

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(INSTRUCTION, arguments) in order: comments dropped, continued lines joined."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, f"a continued line ends the Dockerfile: {pending!r}"
    return found


def shell_commands(script: str) -> list[list[str]]:
    """A RUN line's simple commands, split at &&, ||, ; and |."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def volumes(arguments: str) -> list[str]:
    """VOLUME's folders, from its JSON form or its plain one."""
    stripped = arguments.strip()
    if stripped.startswith("["):
        return re.findall(r'"([^"]+)"', stripped)
    return stripped.split()


def user_and_uid(steps: list[Instruction]) -> tuple[str, str] | None:
    for keyword, arguments in steps:
        if keyword != "RUN":
            continue
        for command in shell_commands(arguments):
            if command[0] == "useradd" and "--uid" in command:
                return command[-1], command[command.index("--uid") + 1]
    return None


# --- the rules ------------------------------------------------------------------------


def unpinned_bases(steps: list[Instruction]) -> list[str]:
    bases = [
        next(word for word in arguments.split() if not word.startswith("--"))
        for keyword, arguments in steps
        if keyword == "FROM"
    ]
    if not bases:
        return ["no FROM"]
    return [base for base in bases if not exact_image(base)]


def state_folder_problems(steps: list[Instruction]) -> list[str]:
    """The worker's state folder is created and given to the worker's user by a RUN
    before VOLUME declares it, and the image runs as that user."""
    account = user_and_uid(steps)
    if account is None:
        return ["no useradd --uid creates the worker's user"]
    name, uid = account
    owners = {name, uid}
    declared = [
        index
        for index, (keyword, arguments) in enumerate(steps)
        if keyword == "VOLUME" and STATE in volumes(arguments)
    ]
    if not declared:
        return [f"no VOLUME declares {STATE}"]
    problems: list[str] = []
    env = [arguments for keyword, arguments in steps if keyword == "ENV"]
    if not any(f"ACCESSDRIFT_DATA_DIR={STATE}" in arguments.split() for arguments in env):
        problems.append(f"ACCESSDRIFT_DATA_DIR is not {STATE}")
    created = owned = False
    for keyword, arguments in steps[: declared[0]]:
        if keyword != "RUN":
            continue
        for command in shell_commands(arguments):
            if STATE not in command[1:]:
                continue
            if command[0] == "mkdir":
                created = True
            elif command[0] == "chown" and created:
                owner = next(word for word in command[1:] if not word.startswith("-"))
                owned = re.split(r"[:.]", owner)[0] in owners
    if not created:
        problems.append(f"no RUN creates {STATE} before VOLUME")
    elif not owned:
        problems.append(f"no RUN gives {STATE} to {name} ({uid}) before VOLUME")
    users = [arguments.split(":")[0] for keyword, arguments in steps if keyword == "USER"]
    if not users or users[-1] not in owners:
        problems.append(f"the image does not run as {name} ({uid})")
    return problems


# --- the tests ------------------------------------------------------------------------


def dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_the_base_image_is_an_exact_release() -> None:
    assert unpinned_bases(instructions(dockerfile())) == []
    for loose in ["python:3.11-slim", "python", "python:latest", "python:3.11-slim-bookworm"]:
        planted = re.sub(r"^FROM \S+", f"FROM {loose}", dockerfile(), flags=re.MULTILINE)
        assert unpinned_bases(instructions(planted)) == [loose]


def test_the_state_folder_is_the_workers_before_volume_declares_it() -> None:
    assert state_folder_problems(instructions(dockerfile())) == []


def test_a_state_folder_the_worker_cannot_write_is_reported() -> None:
    text = dockerfile()
    assert text.count(f"mkdir -p {STATE}") == 1
    uncreated = text.replace(f"mkdir -p {STATE}", "true")
    assert state_folder_problems(instructions(uncreated)) == [
        f"no RUN creates {STATE} before VOLUME"
    ]
    roots = text.replace(f"chown accessdrift:accessdrift {STATE}", f"chown root:root {STATE}")
    assert state_folder_problems(instructions(roots)) == [
        f"no RUN gives {STATE} to accessdrift (10001) before VOLUME"
    ]
    # The folder VOLUME creates before the RUN: root's, and the RUN's change is lost.
    volume = f'VOLUME ["{STATE}"]\n'
    early = text.replace(volume, "").replace("WORKDIR /app\n", f"WORKDIR /app\n{volume}")
    assert state_folder_problems(instructions(early)) == [f"no RUN creates {STATE} before VOLUME"]
    as_root = text.replace("USER accessdrift", "USER root")
    assert state_folder_problems(instructions(as_root)) == [
        "the image does not run as accessdrift (10001)"
    ]


def test_the_parser_reads_continued_lines_and_both_volume_forms() -> None:
    text = "# c\nFROM a:1.2.3 AS b\nRUN x \\\n    # inside\n    && y\nVOLUME /v /w\n"
    assert instructions(text) == [("FROM", "a:1.2.3 AS b"), ("RUN", "x  && y"), ("VOLUME", "/v /w")]
    assert shell_commands("a -b 'c d' && e; f | g") == [["a", "-b", "c d"], ["e"], ["f"], ["g"]]
    assert volumes('["/v", "/w"]') == volumes("/v /w") == ["/v", "/w"]
