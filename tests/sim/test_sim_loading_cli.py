"""Loading dumps in every format kubectl writes, and `netsight sim serve` as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sim_helpers import CLUSTER_JSON, PODS_JSON, REAL, run_kubectl

from netsight.sim.loading import LoadError, load_objects, parse_text


def test_json_list_and_the_same_list_as_yaml_load_alike(tmp_path: Path) -> None:
    from_json = load_objects([CLUSTER_JSON])
    as_yaml = tmp_path / "cluster.yaml"
    as_yaml.write_text(yaml.dump(json.loads(CLUSTER_JSON.read_text()), Dumper=yaml.CSafeDumper))
    from_yaml = load_objects([as_yaml])
    assert from_yaml == from_json
    document = json.loads(CLUSTER_JSON.read_text())
    assert len(from_json) == len(document["items"])


def test_several_files_merge_and_yaml_streams_load(tmp_path: Path) -> None:
    merged = load_objects(
        [PODS_JSON, CLUSTER_JSON, REAL / "online-boutique-kubernetes-manifests.yaml"]
    )
    pods = json.loads(PODS_JSON.read_text())["items"]
    cluster = json.loads(CLUSTER_JSON.read_text())["items"]
    stream = [
        d
        for d in yaml.safe_load_all(
            (REAL / "online-boutique-kubernetes-manifests.yaml").read_text()
        )
        if d
    ]
    assert len(merged) == len(pods) + len(cluster) + len(stream)
    assert {o["kind"] for o in stream} <= {o["kind"] for o in merged}

    # A later file's copy of the same object replaces the earlier one.
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: '1'}\n")
    second.write_text(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: '2'}\n---\n"
    )
    assert [o["data"]["v"] for o in load_objects([first, second])] == ["2"]


def test_typed_lists_give_items_their_kind() -> None:
    text = json.dumps(
        {"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "p"}}]}
    )
    assert parse_text(text)[0]["kind"] == "Pod"


@pytest.mark.parametrize(
    "content,complaint",
    [
        ("[1, 2]", "expected a Kubernetes object or list"),
        ("just words", "expected a Kubernetes object or list"),
        ("{not json", "not valid JSON"),
        ("a: [", "not valid YAML"),
        ("kind: List\napiVersion: v1\nitems: {}", "'items' is not a list"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {}", "has no metadata.name"),
        ("metadata: {name: x}", "no kind or apiVersion"),
    ],
)
def test_bad_dumps_name_the_file_and_the_problem(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(LoadError) as caught:
        load_objects([path])
    assert str(path) in str(caught.value) and complaint in str(caught.value)


def run_netsight(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "netsight", "sim", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_cli_serves_prints_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = run_netsight(
        "--objects",
        str(PODS_JSON),
        str(CLUSTER_JSON),
        "--kubeconfig",
        str(kubeconfig),
        "--deny",
        "list:secrets:",
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready https://127.0.0.1:"), line
        url = line.split()[1]
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert {c["name"] for c in config["contexts"]} == {"sim", "sim-restricted"}
        assert kubeconfig.stat().st_mode & 0o077 == 0

        done = run_kubectl(kubeconfig, "get", "nodes", "--no-headers")
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 6
        denied = run_kubectl(kubeconfig, "--context", "sim-restricted", "get", "secrets", "-A")
        assert denied.returncode != 0 and "forbidden" in denied.stderr

        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - began < 5
        assert process.stdout.read() == ""  # exactly one line on stdout
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # reaps it and closes the pipes


def test_cli_rejects_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    for args in (
        ["--objects", str(bad)],
        ["--objects", str(PODS_JSON), "--agent", "w1"],
        ["--objects", str(PODS_JSON), "--deny", "list"],
        ["--objects", str(PODS_JSON), "--timeline", str(bad)],
    ):
        process = run_netsight(*args, "--kubeconfig", str(tmp_path / "kc"))
        out, err = process.communicate(timeout=30)
        assert process.returncode == 2, (args, err)
        assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert err.startswith("netsight sim: ")


def test_unquoted_yaml_timestamps_stay_strings_as_the_api_serves_them() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\n"
        "metadata:\n  name: c\n  creationTimestamp: 2025-01-01T00:00:00Z\n"
    )
    (obj,) = parse_text(text)
    assert obj["metadata"]["creationTimestamp"] == "2025-01-01T00:00:00Z"
    json.dumps(obj)  # servable as JSON
