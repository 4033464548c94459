"""The exact cross-check at length: the generator of tests/solve/test_exact_crosscheck.py run
for many more examples, every claim checked, counts printed (for benchmarks/RESULTS.md).

    python -m benchmarks.crosscheck --examples 400
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections import Counter

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from stagger.model.policy import Policy
from stagger.model.topology import Topology
from tests.solve.crosscheck import estates
from tests.solve.test_exact_crosscheck import check_against_exact


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    counts: Counter[str] = Counter()
    failures: list[str] = []

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(estates(), st.booleans())
    def run(case: tuple[Topology, Policy], decompose: bool) -> None:
        counts["instances"] += 1
        counts["decomposition path requested"] += decompose
        try:
            seen = check_against_exact(*case, decompose=decompose)
        except AssertionError:
            counts["failed"] += 1
            failures.append(traceback.format_exc(limit=2) + repr(case))
            return
        counts["passed"] += 1
        counts["claimed OPTIMAL (checked at the exact optimum)"] += seen["optimal"]
        counts["some VM unscheduled"] += not seen["complete"]

    t0 = time.perf_counter()
    seed(args.seed)(run)()
    for k, v in counts.items():
        print(f"| {k} | {v} |")
    print(f"| wall s | {time.perf_counter() - t0:.0f} |")
    for f in failures[:5]:
        print(f)


if __name__ == "__main__":
    main()
