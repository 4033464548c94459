"""Load time and memory of a large topology, one reader per process, one run.

    python -m benchmarks.generate --vms 50000 --regime balanced --out /tmp/est50k
    python -m benchmarks.inputs /tmp/est50k/topology.yaml

Readers: stagger's loader (C YAML via StrictLoader, then check_shape and the models), the
same with PyYAML's pure-Python SafeLoader (what stagger used before), and the same estate as
JSON. Each runs in a fresh process so that peak RSS is its own. Results: docs/inputs.md and
benchmarks/RESULTS-inputs.md.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _one(path: Path, mode: str) -> dict[str, object]:
    import yaml

    from stagger.model.topology import Topology
    from stagger.sources import reading, yamlfile

    wall0, cpu0 = time.perf_counter(), time.process_time()
    if mode == "pure":
        data = yaml.load(path.read_text(), Loader=yaml.SafeLoader)
        reading.check_shape(data, str(path))
        topo = yamlfile.parse_model(Topology, data, str(path))
    else:
        topo = yamlfile.load_topology(path)
    return {
        "mode": mode,
        "vms": len(topo.vms),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(_one(Path(sys.argv[2]), sys.argv[3])))
        return
    yaml_path = Path(sys.argv[1])
    json_path = yaml_path.with_suffix(".json")
    if not json_path.exists():
        import yaml

        data = yaml.load(yaml_path.read_text(), Loader=yaml.CSafeLoader)
        json_path.write_text(json.dumps(data, default=str))
    for path, mode in ((yaml_path, "c"), (yaml_path, "pure"), (json_path, "json")):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.inputs", "--one", str(path), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
