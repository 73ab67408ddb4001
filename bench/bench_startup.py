"""Start-up time: process start to the first window shown, for `netsight` and `netsight --demo`.

Target (DESIGN.md): start to first window < 1.5 s. Each run is a fresh
process (imports included) on the offscreen platform; with
NETSIGHT_STARTUP_PROBE set the app prints the moment its window has drawn
its first frame ("shown") and the moment it is usable ("ready": graph canvas
built, contexts read, the first context's database open), then quits. The
target is for "shown"; "ready" is reported beside it.
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
PROBES = ("shown", "ready")
NETSIGHT = Path(sys.executable).with_name("netsight")


def one_run(args: list[str], workdir: Path) -> tuple[float, float]:
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
    words = [line.split() for line in done.stdout.splitlines()]
    moments = {w[0]: w[1] for w in words if len(w) == 2 and w[0] in PROBES}
    if set(moments) != set(PROBES):
        raise SystemExit(f"netsight {' '.join(args)} never got ready:\n{done.stderr[-2000:]}")
    return float(moments["shown"]) - started, float(moments["ready"]) - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netsight-bench-startup-") as tmp:
        workdir = Path(tmp)
        (workdir / "empty-kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
        for label, args in (("netsight", []), ("netsight --demo", ["--demo"])):
            one_run(args, workdir)  # warm the file cache; not counted
            runs = [one_run(args, workdir) for _ in range(options.runs)]
            shown = [s for s, _ in runs]
            ready = [r for _, r in runs]
            median = statistics.median(shown)
            verdict = "meets" if median < TARGET_S else "MISSES"
            print(
                f"{label:<16} start to first window: median {median:.2f} s "
                f"(min {min(shown):.2f}, max {max(shown):.2f}, {options.runs} runs); "
                f"target < {TARGET_S} s: {verdict}; ready: median "
                f"{statistics.median(ready):.2f} s (max {max(ready):.2f})"
            )


if __name__ == "__main__":
    main()
