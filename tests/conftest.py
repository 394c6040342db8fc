"""Shared fixtures: the project root, the shared data mirror (skips when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FACECLUSTER_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip with the reason."""
    if not (SHARED_DATA / "lfw").is_dir():
        pytest.skip(
            f"needs the real face data at {SHARED_DATA} (../shared/data beside the checkout; "
            "absent in a user's clone) — set FACECLUSTER_SHARED_DATA to point elsewhere"
        )
    return SHARED_DATA


@pytest.fixture()
def mirror(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared data as the offline mirror ($FACECLUSTER_MIRROR)."""
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(shared_data))
    return shared_data


@pytest.fixture(autouse=True)
def _restore_facecluster_logging():
    """CLI/stage entry points call setup_logging(); undo it so caplog sees records again."""
    import logging

    logger = logging.getLogger("facecluster")
    state = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(state[0])
    logger.handlers[:] = state[1]
    logger.propagate = state[2]


@pytest.fixture(scope="module")
def data():
    """90 unit vectors (float32), 6 well-separated identities of 15 (string labels)."""
    import numpy as np
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=90, n_features=16, centers=6, cluster_std=0.02, center_box=(-1, 1),
        random_state=5,
    )  # fmt: skip
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.array([f"person_{i}" for i in y])


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``requests.get`` of the downloader fails as it does without DNS; returns the URLs asked
    for (the tests' model of this machine's closed network)."""
    import socket

    import requests
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    from facecluster.data import download as dl

    asked: list[str] = []

    def no_dns(url: str, *args: object, **kwargs: object) -> requests.Response:
        asked.append(url)
        host = url.split("/")[2]
        gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        cause = NameResolutionError(host, f"HTTPConnection(host={host!r})", gai)  # type: ignore[arg-type]
        raise requests.exceptions.ConnectionError(MaxRetryError(None, url, cause))  # type: ignore[arg-type]

    monkeypatch.setattr(dl.requests, "get", no_dns)
    return asked


@pytest.fixture()
def serve_http(monkeypatch: pytest.MonkeyPatch):
    """``serve_http(handler_class) -> "http://127.0.0.1:PORT"``: a local HTTP server for the
    test (proxies off for it), shut down afterwards; the downloads' offline stand-in."""
    import threading
    from http.server import ThreadingHTTPServer

    for var in (
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    servers = []

    def serve(handler) -> str:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def serve_folder(serve_http):
    """``serve_folder(path) -> "http://127.0.0.1:PORT/"``: :func:`serve_http` of a folder."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    def serve(folder: Path) -> str:
        handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
        return serve_http(handler) + "/"

    return serve
