"""More kills than CI runs, by hand, on the local broker (`accessdrift kafka up` first):

    python -m tests.integration.crash_by_hand SEED IDENTITIES PARTS PART:SECONDS...

e.g. ``4242 300 3 1:2 2:3`` replays seed 4242's organisation (300 identities, 3 days)
in 3 parts and kills the worker with SIGKILL 2 s after part 1 and 3 s after part 2,
then prints `accessdrift evaluate`'s table and PERFECT or NOT PERFECT."""

import sys
import tempfile
from pathlib import Path

from accessdrift.kafka.admin import delete_topics
from accessdrift.settings import Settings
from tests.helpers import Isolated
from tests.integration.test_crash_recovery import Kill, run_crash_scenario


def main(arguments: list[str]) -> int:
    seed, identities, parts = int(arguments[0]), int(arguments[1]), int(arguments[2])
    kills = [
        Kill(int(part), float(seconds)) for part, seconds in (k.split(":") for k in arguments[3:])
    ]
    folder = Path(tempfile.mkdtemp(prefix="accessdrift-crash-"))
    isolated = Isolated(data_dir=folder / "data")
    try:
        figures = run_crash_scenario(
            isolated, folder, seed=seed, identities=identities, days=3, parts=parts, kills=kills
        )
    finally:
        delete_topics(Settings(), [isolated.prefix])
    perfect = bool(figures.get("perfect"))
    print("PERFECT" if perfect else "NOT PERFECT")
    return 0 if perfect else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
