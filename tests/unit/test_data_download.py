"""Downloads (local HTTP server on 127.0.0.1, no internet) and mirror lookup.

Safe extraction (archive attacks) is in tests/reliability/test_archives.py.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from facecluster.data.download import (
    DownloadError,
    download,
    find_in_mirror,
    git_blob_sha1,
)
from facecluster.integrity import ChecksumError

PAYLOAD = bytes(range(256)) * 97  # 24,832 bytes


# --------------------------------------------------------------------------------------------
# a tiny HTTP server with optional Range support and optional short responses
# --------------------------------------------------------------------------------------------
@dataclass
class Server:
    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    ranges: bool = True
    cut_after: int | None = None  # send only this many body bytes, then close
    requests: list[dict[str, str]] = field(default_factory=list)


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"path": self.path, **dict(self.headers.items())})
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start, status = 0, 200
            rng = self.headers.get("Range")
            if rng and state.ranges:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            chunk = body[start:]
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if state.cut_after is not None:
                self.wfile.write(chunk[: state.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

    return Handler


@pytest.fixture()
def server(serve_http) -> Server:
    state = Server(base="")
    state.base = serve_http(_handler(state))
    return state


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------
def test_download_verifies_and_renames(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "f.bin"
    out = download(
        server.base + "/f.bin",
        dest,
        md5=_md5(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
    )
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    assert server.requests[0]["Accept-Encoding"] == "identity"


@pytest.mark.reliability
def test_checksum_failure_leaves_nothing(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError, match="md5 mismatch"):
        download(server.base + "/f.bin", dest, md5="0" * 32)
    assert not dest.exists() and not (tmp_path / "f.bin.part").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.reliability
def test_http_error_leaves_no_dest(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "missing.bin"
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.base + "/missing.bin", dest)
    assert not dest.exists()


@pytest.mark.reliability
def test_resume_with_range(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:10_000])
    download(server.base + "/f.bin", dest, md5=_md5(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1]["Range"] == "bytes=10000-"


@pytest.mark.reliability
def test_restart_when_server_ignores_range(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    server.ranges = False
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"garbage" * 100)
    download(server.base + "/f.bin", dest, md5=_md5(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.reliability
def test_complete_part_file_answered_416(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    download(server.base + "/f.bin", tmp_path / "f.bin", md5=_md5(PAYLOAD))
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert len(server.requests) == 1


@pytest.mark.reliability
def test_interrupted_download_keeps_part_then_resumes(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    server.cut_after = 5_000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError):
        download(server.base + "/f.bin", dest, md5=_md5(PAYLOAD), timeout=5)
    part = tmp_path / "f.bin.part"
    assert not dest.exists()
    assert part.read_bytes() == PAYLOAD[:5_000]
    server.cut_after = None
    download(server.base + "/f.bin", dest, md5=_md5(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert server.requests[-1]["Range"] == "bytes=5000-"


@pytest.mark.reliability
def test_no_resume_removes_part_on_failure(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    server.cut_after = 100
    with pytest.raises(DownloadError):
        download(server.base + "/f.bin", tmp_path / "f.bin", resume=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.reliability
def test_existing_dest_is_checked_not_refetched(server: Server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    dest.write_bytes(PAYLOAD)
    download(server.base + "/f.bin", dest, md5=_md5(PAYLOAD))
    assert server.requests == []
    dest.write_bytes(b"stale")
    download(server.base + "/f.bin", dest)  # no digest: an existing dest is trusted
    assert dest.read_bytes() == b"stale" and server.requests == []
    download(server.base + "/f.bin", dest, md5=_md5(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 1


def test_git_blob_sha1_matches_git(tmp_path: Path) -> None:
    f = tmp_path / "hello"
    f.write_bytes(b"hello\n")
    assert git_blob_sha1(f) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object


@pytest.mark.reliability
def test_download_verifies_git_blob_id(server: Server, tmp_path: Path) -> None:
    server.files["/hello"] = b"hello\n"
    download(
        server.base + "/hello",
        tmp_path / "ok",
        git_sha1="ce013625030ba8dba906f756967f9e9ca394464a",
    )
    with pytest.raises(ChecksumError, match="git-blob-sha1"):
        download(server.base + "/hello", tmp_path / "bad", git_sha1="1" * 40)
    assert not (tmp_path / "bad").exists()


# --------------------------------------------------------------------------------------------
# mirror lookup
# --------------------------------------------------------------------------------------------
def test_find_in_mirror_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    assert find_in_mirror("lfw", ["lfw/lfw-deepfunneled"]) is None


def test_find_in_mirror_prefers_first_present_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "lfw" / "lfw-deepfunneled").mkdir(parents=True)  # empty folder: does not count
    (mirror / "lfw-deepfunneled.tgz").write_bytes(b"archive")
    (mirror / "lfw" / "empty.tgz").write_bytes(b"")
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(mirror))
    candidates = ["lfw/lfw-deepfunneled", "lfw/empty.tgz", "lfw-deepfunneled.tgz"]
    with caplog.at_level(logging.INFO, logger="facecluster.data.download"):
        found = find_in_mirror("lfw", candidates)
    assert found == mirror / "lfw-deepfunneled.tgz"
    assert f"using mirror {found}" in caplog.text

    (mirror / "lfw" / "lfw-deepfunneled" / "A").mkdir()
    assert find_in_mirror("lfw", candidates) == mirror / "lfw" / "lfw-deepfunneled"
    assert find_in_mirror("lfw", candidates, accept=lambda p: p.is_file()) == (
        mirror / "lfw-deepfunneled.tgz"
    )
    assert find_in_mirror("lfw", ["nothing/here"]) is None


def test_find_in_mirror_ignores_a_missing_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(tmp_path / "absent"))
    assert find_in_mirror("lfw", ["lfw"]) is None
