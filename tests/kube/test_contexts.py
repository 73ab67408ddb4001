"""Contexts are read as kubectl reads them, and a broken piece costs only itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kube_helpers import kubeconfig, write_yaml

from netsight.kube.client import api_client_for
from netsight.kube.contexts import load_contexts
from netsight.kube.errors import ConfigError

pytestmark = pytest.mark.usefixtures("isolated_env", "no_login_shell")


def _by_name(infos):
    return {i.name: i for i in infos}


def test_kubeconfig_list_merges_first_file_wins(tmp_path: Path, monkeypatch) -> None:
    first = tmp_path / "a" / "config"
    second = tmp_path / "b" / "config"
    first.parent.mkdir()
    second.parent.mkdir()
    (second.parent / "ca.pem").write_text("not really a CA")
    write_yaml(
        first,
        kubeconfig(
            [("shared", "c1", "u1", "from-first"), ("alpha", "c2", "u1", None)],
            {"c1": {"server": "https://127.0.0.1:1"}},
            {"u1": {"token": "t1"}},
            current="alpha",
        ),
    )
    write_yaml(
        second,
        kubeconfig(
            [("shared", "c2", "u2", "from-second"), ("beta", "c2", "u2", "team")],
            {
                "c1": {"server": "https://127.0.0.1:2"},
                "c2": {"server": "https://127.0.0.1:3", "certificate-authority": "ca.pem"},
            },
            {"u1": {"token": "other"}, "u2": {"token": "t2"}},
            current="beta",
        ),
    )
    monkeypatch.setenv(
        "KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "nope"), str(second)])
    )

    infos = load_contexts(None)
    names = [i.name for i in infos]
    assert names[0] == "alpha"  # current first; from the first file that sets it
    by = _by_name(infos)
    assert set(names) == {"alpha", "shared", "beta"}
    assert by["shared"].namespace == "from-first" and by["shared"].cluster == "c1"
    assert by["alpha"].namespace == "default"
    assert by["beta"].namespace == "team" and not by["beta"].is_current
    assert all(i.error is None for i in infos), infos

    # The cluster c1 of the first file wins; the relative CA of c2 is read from b/.
    client = api_client_for("shared", None)
    assert client.configuration.host == "https://127.0.0.1:1"
    assert client.configuration.api_key["BearerToken"] == "Bearer t1"
    client_b = api_client_for("beta", None)
    assert client_b.configuration.ssl_ca_cert == str(second.parent / "ca.pem")
    client.close()
    client_b.close()


def test_broken_file_and_broken_context_hide_nothing_else(tmp_path: Path, monkeypatch) -> None:
    good = write_yaml(
        tmp_path / "good",
        kubeconfig(
            [
                ("ok", "c", "u", None),
                ("lost", "missing-cluster", "u", None),
                ("nouser", "c", "ghost", None),
            ],
            {"c": {"server": "https://127.0.0.1:1"}},
            {"u": {"token": "t"}},
            current="ok",
        ),
    )
    broken = tmp_path / "broken"
    broken.write_text("clusters: [unclosed\n  - : :\n")
    not_a_map = tmp_path / "list"
    not_a_map.write_text("- just\n- a list\n")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, [broken, good, not_a_map])))

    by = _by_name(load_contexts(None))
    assert by["ok"].error is None and by["ok"].is_current
    assert "missing-cluster" in (by["lost"].error or "")
    assert "ghost" in (by["nouser"].error or "")
    assert "not valid YAML" in (by[str(broken)].error or "")
    assert "not a kubeconfig" in (by[str(not_a_map)].error or "")
    with pytest.raises(ConfigError, match="missing-cluster"):
        api_client_for("lost", None)
    with pytest.raises(ConfigError, match="not in the kubeconfig"):
        api_client_for("nowhere", None)


def test_explicit_path_wins_over_env_and_missing_file_is_reported(
    tmp_path: Path, monkeypatch
) -> None:
    env_file = write_yaml(
        tmp_path / "env",
        kubeconfig([("from-env", "c", "u", None)], {"c": {"server": "https://h:1"}}, {"u": {}}),
    )
    explicit = write_yaml(
        tmp_path / "explicit",
        kubeconfig(
            [("from-flag", "c", "u", "ns1")],
            {"c": {"server": "https://h:2"}},
            {"u": {}},
            current="from-flag",
        ),
    )
    monkeypatch.setenv("KUBECONFIG", str(env_file))

    assert [i.name for i in load_contexts(str(explicit))] == ["from-flag"]
    missing = load_contexts(str(tmp_path / "does-not-exist"))
    assert len(missing) == 1 and "does not exist" in (missing[0].error or "")
    with pytest.raises(ConfigError, match="does not exist"):
        api_client_for(None, str(tmp_path / "does-not-exist"))


def test_no_kubeconfig_at_all_says_so() -> None:
    infos = load_contexts(None)
    assert len(infos) == 1 and "no kubeconfig found" in (infos[0].error or "")
