"""Measure CP-SAT deterministic time per wall second on this machine (for DTIME_PER_SECOND).

python -m benchmarks.calibrate [SECONDS]
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.generate import EstateSpec, generate
from stagger.instance import Instance, compile_instance
from stagger.solve.components import components, sub_instance
from stagger.solve.cpsat import build_model, solver_parameters
from stagger.solve.greedy import solve_greedy
from stagger.sources.yamlfile import load_policy, load_topology

ROOT = Path(__file__).resolve().parent.parent


def measure(inst: Instance, label: str, seconds: float) -> float:
    g = solve_greedy(inst)
    built = build_model(inst, g, not g.dropped)
    built.model.minimize(sum(built.objective_terms))
    solver = solver_parameters(1000, 0, 4)
    solver.parameters.max_deterministic_time = 1e9
    solver.parameters.max_time_in_seconds = seconds
    status = solver.solve(built.model)
    rate = solver.deterministic_time / max(solver.wall_time, 1e-9)
    print(f"{label}: {len(inst.jobs)} jobs, {rate:.3f} dtime/s ({solver.status_name(status)})")
    return rate


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    estate = ROOT / "examples" / "estate"
    topo = load_topology(estate / "topology.yaml")
    pol = load_policy(estate / "policy.yaml")
    measure(compile_instance(topo, pol), "example estate", seconds)
    for n, regime, cycle in [(10000, "datastore", "incremental"), (1000, "balanced", "full")]:
        t, p = generate(EstateSpec(n, regime, cycle))
        inst = compile_instance(t, p)
        biggest = max(components(inst), key=len)
        measure(sub_instance(inst, biggest), f"{n} {regime} {cycle}, largest component", seconds)


if __name__ == "__main__":
    main()
