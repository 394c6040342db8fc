"""Downloads that survive a dead site: mirrors in order, one checksum, one-line failure.

A local HTTP server on 127.0.0.1 plays every site (no internet); a dead site is a port nobody
listens on, an HTTP error or a copy with the wrong bytes.  The offline case replaces
``requests.get`` with what it raises when no name resolves.
"""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from facecluster.config import LfwDataset, MuctDataset
from facecluster.data import download as dl
from facecluster.data import lfw
from facecluster.data.catalog import collect_dataset
from facecluster.errors import UserError, one_line
from facecluster.paths import ProjectPaths

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
MD5 = hashlib.md5(PAYLOAD).hexdigest()


# --------------------------------------------------------------------------------------------
# sites: a local server (files by path, optional cut-off bodies, Range) and a dead port
# --------------------------------------------------------------------------------------------
@dataclass
class Site:
    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)  # paths whose body stops half-way
    requests: list[str] = field(default_factory=list)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            site.requests.append(self.path)
            body = site.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            rng = self.headers.get("Range")
            if rng:
                start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if self.path in site.cut:
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture()
def site(serve_http) -> Site:
    state = Site(base="")
    state.base = serve_http(_handler(state))
    return state


@pytest.fixture()
def dead() -> str:
    """The base URL of a site that is gone: a local port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --------------------------------------------------------------------------------------------
# download_any: mirrors in order, the same checksum for all
# --------------------------------------------------------------------------------------------
def test_a_dead_first_mirror_falls_through_to_the_second(
    site: Site, dead: str, tmp_path: Path
) -> None:
    site.files["/copy/f.bin"] = PAYLOAD
    remote = dl.RemoteFile(
        "f.bin", (dead + "/f.bin", site.base + "/gone/f.bin", site.base + "/copy/f.bin"), md5=MD5
    )
    dest = tmp_path / "raw" / "f.bin"
    assert dl.download_any("toy", remote, dest, mirror_hint="toy/") == dest
    assert dest.read_bytes() == PAYLOAD
    assert _files(dest.parent) == ["f.bin"]  # no .part left
    assert site.requests == ["/gone/f.bin", "/copy/f.bin"]
    # verified and in place: asked again, nothing is downloaded
    assert dl.download_any("toy", remote, dest, mirror_hint="toy/") == dest
    assert len(site.requests) == 2


def test_a_bad_checksum_on_the_first_mirror_moves_on_to_the_second(
    site: Site, tmp_path: Path
) -> None:
    site.files["/bad/f.bin"] = b"<html>we moved</html>"  # served with status 200
    site.files["/good/f.bin"] = PAYLOAD
    remote = dl.RemoteFile("f.bin", (site.base + "/bad/f.bin", site.base + "/good/f.bin"), md5=MD5)
    dest = dl.download_any("toy", remote, tmp_path / "f.bin", mirror_hint="toy/")
    assert dest.read_bytes() == PAYLOAD
    assert _files(tmp_path) == ["f.bin"]


def test_a_cut_download_is_never_left_as_if_complete(site: Site, tmp_path: Path) -> None:
    site.files["/a/f.bin"] = PAYLOAD
    site.files["/b/f.bin"] = PAYLOAD
    site.cut.add("/a/f.bin")
    only_a = dl.RemoteFile("f.bin", (site.base + "/a/f.bin",), md5=MD5)
    with pytest.raises(dl.SourcesExhaustedError, match="closed the connection before the end"):
        dl.download_any("toy", only_a, tmp_path / "f.bin", mirror_hint="toy/")
    assert _files(tmp_path) == ["f.bin.part"]  # kept to resume, never renamed into place
    both = dl.RemoteFile("f.bin", (site.base + "/a/f.bin", site.base + "/b/f.bin"), md5=MD5)
    dest = dl.download_any("toy", both, tmp_path / "f.bin", mirror_hint="toy/")
    assert dest.read_bytes() == PAYLOAD and _files(tmp_path) == ["f.bin"]


def test_a_bad_partial_from_another_mirror_is_downloaded_again_whole(
    site: Site, tmp_path: Path
) -> None:
    (tmp_path / "f.bin.part").write_bytes(b"\0" * 1000)  # not the file's first bytes
    site.files["/f.bin"] = PAYLOAD
    remote = dl.RemoteFile("f.bin", (site.base + "/f.bin",), md5=MD5)
    dest = dl.download_any("toy", remote, tmp_path / "f.bin", mirror_hint="toy/")
    assert dest.read_bytes() == PAYLOAD and _files(tmp_path) == ["f.bin"]
    assert site.requests == ["/f.bin", "/f.bin"]  # resumed, refused, then fetched whole


def test_every_mirror_failing_is_one_line_naming_dataset_urls_and_mirror(
    site: Site, dead: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    site.files["/bad/f.bin"] = PAYLOAD[:-1] + b"!"
    urls = (dead + "/f.bin", site.base + "/missing/f.bin", site.base + "/bad/f.bin")
    remote = dl.RemoteFile("f.bin", urls, md5=MD5)
    with pytest.raises(dl.SourcesExhaustedError) as err:
        dl.download_any("toy-set", remote, tmp_path / "f.bin", mirror_hint="toy/f.bin")
    exc = err.value
    assert isinstance(exc, UserError)
    message = str(exc)
    assert "\n" not in message and one_line(exc) == message
    assert message.startswith("toy-set: cannot download f.bin")
    assert [url for url, _ in exc.failures] == list(urls)
    reasons = dict(exc.failures)
    assert reasons[urls[0]].startswith("connection refused")
    assert reasons[urls[1]].startswith("HTTP 404")
    assert reasons[urls[2]].startswith("md5 mismatch")
    for url, reason in exc.failures:
        assert f"{url} ({reason})" in message
    assert "FACECLUSTER_MIRROR is not set" in message and "toy/f.bin" in message
    assert "Traceback" not in message and "HTTPConnectionPool" not in message
    assert _files(tmp_path) == []  # the bad copy is deleted, nothing poses as the file


# --------------------------------------------------------------------------------------------
# LFW: the official site, then the copies scikit-learn uses
# --------------------------------------------------------------------------------------------
PAIRS_TXT = "1\t1\nAnn_Bee\t1\t2\nAnn_Bee\t1\tCid_Dee\t1\n"


def _archive(folder: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for rel in (
            "Ann_Bee/Ann_Bee_0001.jpg",
            "Ann_Bee/Ann_Bee_0002.jpg",
            "Cid_Dee/Cid_Dee_0001.jpg",
        ):
            info = tarfile.TarInfo(f"{folder}/{rel}")
            info.size = 4
            tf.addfile(info, io.BytesIO(b"jpeg"))
    return buf.getvalue()


def test_official_mirror_lists_share_one_checksum() -> None:
    """Every LFW file has its official md5 and, where a copy is known, the figshare URL."""
    assert lfw.LFW_ARCHIVES["original"].mirrors == (
        "https://ndownloader.figshare.com/files/5976018",
    )
    assert lfw.LFW_ARCHIVES["funneled"].mirrors == (
        "https://ndownloader.figshare.com/files/5976015",
    )
    assert lfw.LFW_PROTOCOL_MIRRORS["pairs.txt"] == (
        "https://ndownloader.figshare.com/files/5976006",
    )


def test_lfw_falls_back_to_the_copy_when_the_official_site_is_dead(
    site: Site, dead: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    archive = _archive("lfw")
    site.files["/figshare/1"] = archive
    site.files["/figshare/2"] = PAIRS_TXT.encode()
    spec = lfw.LfwArchive(
        "lfw.tgz", "lfw", hashlib.md5(archive).hexdigest(), (site.base + "/figshare/1",)
    )
    monkeypatch.setitem(lfw.LFW_ARCHIVES, "original", spec)
    monkeypatch.setitem(
        lfw.LFW_PROTOCOL_MD5, "pairs.txt", hashlib.md5(PAIRS_TXT.encode()).hexdigest()
    )
    monkeypatch.setitem(lfw.LFW_PROTOCOL_MIRRORS, "pairs.txt", (site.base + "/figshare/2",))
    raw = tmp_path / "raw"
    src = lfw.acquire_lfw("original", raw, base_url=dead + "/lfw/")
    assert src.origin == "download"
    assert src.images_root == raw / "original" / "lfw"
    assert (raw / "pairs.txt").read_text() == PAIRS_TXT
    assert src.people_txt is None  # no copy of people.txt exists; it is only recorded
    assert len(lfw.list_lfw(src.images_root, 1)) == 3


# --------------------------------------------------------------------------------------------
# offline, no mirror: what the faces stage calls raises the one-line UserError
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("variant", "mirror"), [("deepfunneled", None), ("original", "empty")])
def test_offline_lfw_without_a_mirror_is_one_line_user_error(
    variant: str,
    mirror: str | None,
    offline: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if mirror is None:
        monkeypatch.delenv("FACECLUSTER_MIRROR", raising=False)
    else:
        (tmp_path / mirror).mkdir()
        monkeypatch.setenv("FACECLUSTER_MIRROR", str(tmp_path / mirror))
    spec = LfwDataset(kind="lfw", variant=variant)  # type: ignore[arg-type]
    with pytest.raises(UserError) as err:
        collect_dataset("lfw", spec, ProjectPaths(tmp_path / "project"))
    exc = err.value
    assert not isinstance(exc, requests.RequestException)
    message = str(exc)
    assert "\n" not in message
    archive = lfw.LFW_ARCHIVES[variant]
    assert message.startswith(f"lfw-{variant}: cannot download {archive.filename}")
    urls = [lfw.LFW_BASE_URL + archive.filename, *archive.mirrors]
    assert offline == urls
    for url in urls:
        host = url.split("/")[2]
        assert f"{url} (cannot resolve host {host} (offline?))" in message
    assert "FACECLUSTER_MIRROR" in message and f"lfw/{archive.folder}/" in message
    assert "NameResolutionError" not in message and "Max retries" not in message
    raw = tmp_path / "project" / "data" / "raw" / "lfw"
    assert not (raw / archive.filename).exists() and not (raw / variant).exists()


def test_offline_muct_without_a_mirror_is_one_line_user_error(
    offline: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACECLUSTER_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as err:
        collect_dataset("muct", MuctDataset(kind="muct"), ProjectPaths(tmp_path / "project"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("muct: cannot download muct-a-jpg-v1")
    assert offline and f"{offline[0]} (cannot resolve host raw.githubusercontent.com" in message
    assert "FACECLUSTER_MIRROR" in message and "muct/resize_32x24/" in message
