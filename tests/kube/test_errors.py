"""No client or transport exception escapes kube/: failures arrive as KubeError subclasses."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import urllib3
from kube_helpers import closed_port, kubeconfig, write_yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from netsight.kube import errors
from netsight.kube.client import api_client_for
from netsight.kube.raw import get_json
from netsight.kube.watching import Inventory

pytestmark = pytest.mark.usefixtures("isolated_env", "no_login_shell")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, errors.AuthError),
        (403, errors.ForbiddenError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (410, errors.GoneError),
        (500, errors.UnavailableError),
        (503, errors.UnavailableError),
        (429, errors.UnavailableError),
        (400, errors.KubeError),
    ],
    ids=lambda v: str(v) if isinstance(v, int) else v.__name__,
)
def test_status_maps_to_error_class(status: int, expected: type) -> None:
    body = '{"kind":"Status","message":"pods is forbidden: ' + "x" * 1000 + '","reason":"R"}'
    err = errors.translate(ApiException(status=status, reason="r", body=body), "listing pods")
    assert type(err) is expected
    assert err.status == status and err.reason == "R"
    assert err.message.startswith(f"listing pods failed with HTTP {status}: pods is forbidden")
    assert len(err.message) < 400  # the server's text is truncated


def test_transport_and_config_errors_translate() -> None:
    refused = urllib3.exceptions.MaxRetryError(
        None, "/api", urllib3.exceptions.NewConnectionError(None, "Connection refused")
    )
    err = errors.translate(refused, "listing pods")
    assert isinstance(err, errors.UnavailableError) and "connection refused" in err.message
    assert isinstance(errors.translate(ConfigException("bad"), "x"), errors.ConfigError)


def _unreachable_client(tmp_path: Path):
    port = closed_port()
    path = write_yaml(
        tmp_path / "kc",
        kubeconfig(
            [("down", "c", "u", None)],
            {"c": {"server": f"https://127.0.0.1:{port}"}},
            {"u": {"token": "t"}},
        ),
    )
    return api_client_for("down", str(path))


def test_unreachable_server_raises_unavailable(tmp_path: Path) -> None:
    client = _unreachable_client(tmp_path)
    with pytest.raises(errors.UnavailableError, match="cannot reach the API server") as info:
        get_json(client, "/api/v1/pods", [], 5.0, "listing pods on down")
    assert not isinstance(info.value, ApiException | urllib3.exceptions.HTTPError)
    client.close()


def test_inventory_on_unreachable_server_reports_instead_of_failing(tmp_path: Path) -> None:
    client = _unreachable_client(tmp_path)
    before = set(threading.enumerate())
    inventory = Inventory(client, kinds=["Pod", "Node"])
    assert inventory.wait_synced(10)
    assert set(inventory.unavailable) == {"Pod", "Node"}
    assert "cannot reach the API server" in inventory.unavailable["Pod"]
    assert inventory.snapshot("Pod") == [] and inventory.events.empty()
    started = time.monotonic()
    inventory.stop()
    assert time.monotonic() - started < 3
    assert set(threading.enumerate()) <= before
    client.close()


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (
            b'{"kind":"PodList","metadata":{"continue":"ab\\"c=","resourceVersion":"9"},"items":[]}',
            'ab"c=',
        ),
        (
            b'{"kind":"PodList","metadata":{"resourceVersion":"9"},"items":[{"continue":"no"}]}',
            None,
        ),
        # items before metadata: the head cannot tell, so the whole answer is decoded
        (b'{"items":[{"metadata":{"continue":"no"}}],"metadata":{"continue":"yes"}}', "yes"),
    ],
    ids=["in-head", "last-page", "items-first"],
)
def test_continue_token_read_from_list_head(body: bytes, token: str | None) -> None:
    from netsight.kube.raw import continue_token

    assert continue_token(body, "listing") == token
