"""Start-up time: process start to the first window shown, for `netsight` and `netsight --demo`.

Target (DESIGN.md): start to first window < 1.5 s. Each run is a fresh
process (imports included) on the offscreen platform; the app prints the
moment its window is shown when NETSIGHT_STARTUP_PROBE is set, then quits.
The plain app runs with an empty kubeconfig (no cluster to reach), the demo
with its built-in simulated cluster. Settings and databases go to a
temporary folder, never the user's.

    .venv/bin/python bench/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 1.5
NETSIGHT = Path(sys.executable).with_name("netsight")


def one_run(args: list[str], workdir: Path) -> float:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        NETSIGHT_STARTUP_PROBE="1",
        XDG_CONFIG_HOME=str(workdir / "config"),
        XDG_DATA_HOME=str(workdir / "data"),
        KUBECONFIG=str(workdir / "empty-kubeconfig"),
    )
    started = time.time()
    done = subprocess.run(
        [str(NETSIGHT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    shown = [line for line in done.stdout.splitlines() if line.startswith("shown ")]
    if not shown:
        raise SystemExit(f"netsight {' '.join(args)} showed no window:\n{done.stderr[-2000:]}")
    return float(shown[0].split()[1]) - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netsight-bench-startup-") as tmp:
        workdir = Path(tmp)
        (workdir / "empty-kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
        for label, args in (("netsight", []), ("netsight --demo", ["--demo"])):
            one_run(args, workdir)  # warm the file cache; not counted
            times = [one_run(args, workdir) for _ in range(options.runs)]
            median = statistics.median(times)
            verdict = "meets" if median < TARGET_S else "MISSES"
            print(
                f"{label:<16} start to first window: median {median:.2f} s "
                f"(min {min(times):.2f}, max {max(times):.2f}, {options.runs} runs); "
                f"target < {TARGET_S} s: {verdict}"
            )


if __name__ == "__main__":
    main()
