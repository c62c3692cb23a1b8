"""Two checkouts measured in one run: the core in process and the end-to-end throughput
(``make bench``'s ``core_events_per_second`` and ``throughput_eps``) of this one and of
another, alternated round by round (other then this, this then other, ...) so that a
machine that gets slower or faster during the run, or a second run of a pair that is
slower, weighs on both alike.

    python -m bench.compare /path/to/the/other/checkout [rounds] [memory]

The other checkout runs on this one's virtualenv (its tree first on ``PYTHONPATH``), so the
two differ in their code only. Needs the local Kafka (``make kafka-up``). Writes
``bench/results/compare-latest.json``: every round's figures, the medians and the ratios
this / other.
"""

import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

# The organisation of make bench's core and throughput phases (bench/run.py main).
MEASURE = """
import json
from accessdrift.simulate.organisation import SimulationOptions
from bench.run import SCALE, throughput
from bench.stages import stage_costs
size = int(500 * SCALE)
organisation = SimulationOptions(seed=11, identities=size, events_per_second=0.3 * SCALE)
core = stage_costs(organisation)["core_events_per_second"]
end_to_end = throughput(organisation)["throughput_eps"]
print("RESULT " + json.dumps({"core_events_per_second": core, "throughput_eps": end_to_end}))
"""

# ``memory`` as the third argument: make bench's memory phase instead (RSS of a worker at
# 1,000,000 tracked credentials, and its slope per 100k), about five minutes a run.
MEASURE_MEMORY = """
import json
from bench.run import SCALE, memory
found = memory(int(1_000_000 * SCALE))
print("RESULT " + json.dumps({"rss_mb": found["rss_mb"],
    "rss_mb_per_100k_credentials": found["rss_mb_per_100k_credentials"],
    "state_mb_on_disk": found["state_mb_on_disk"]}))
"""

FIGURES = ("core_events_per_second", "throughput_eps")
MEMORY_FIGURES = ("rss_mb", "rss_mb_per_100k_credentials", "state_mb_on_disk")


def measure(tree: Path, program: str = MEASURE) -> dict[str, float]:
    environment = dict(os.environ, PYTHONPATH=str(tree))
    run = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if run.returncode != 0 or not lines:
        raise SystemExit(f"bench.compare: {tree} failed ({run.returncode}):\n{run.stderr[-4000:]}")
    figures: dict[str, float] = json.loads(lines[-1].removeprefix("RESULT "))
    return figures


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    other = Path(sys.argv[1]).resolve()
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    of_memory = len(sys.argv) > 3 and sys.argv[3] == "memory"
    program, figures_measured = (
        (MEASURE_MEMORY, MEMORY_FIGURES) if of_memory else (MEASURE, FIGURES)
    )
    runs: dict[str, list[dict[str, float]]] = {"other": [], "this": []}
    for number in range(1, rounds + 1):
        # Each goes first every other round: the second run of a pair was measured
        # slower in the same order (the machine, not the code).
        pair = [("other", other), ("this", REPO)]
        for name, tree in pair if number % 2 else reversed(pair):
            figures = measure(tree, program)
            runs[name].append(figures)
            print(f"round {number} {name}: {json.dumps(figures)}", flush=True)
    medians = {
        name: {
            figure: statistics.median(run[figure] for run in done) for figure in figures_measured
        }
        for name, done in runs.items()
    }
    ratios = {
        figure: round(medians["this"][figure] / medians["other"][figure], 3)
        for figure in figures_measured
    }
    result: dict[str, Any] = {
        "finished": datetime.now(UTC).isoformat(),
        "this": str(REPO),
        "other": str(other),
        "other_commit": subprocess.run(
            ["git", "-C", str(other), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "this_commit": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "rounds": runs,
        "medians": medians,
        "ratio_this_to_other": ratios,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "compare-memory-latest.json" if of_memory else "compare-latest.json"
    (RESULTS / name).write_text(json.dumps(result, indent=1))
    print(json.dumps({"medians": medians, "ratio_this_to_other": ratios}, indent=1))


if __name__ == "__main__":
    main()
