"""Peak memory of face detection on phone-size photos, per batch setting (issue 10).

    FACECLUSTER_MIRROR=../shared/data python benchmarks/detection_memory.py \\
        [--n-images 64] [--settings 1,4,8,32,32@2,32@16] [--src /path/to/other/src]

Builds (once, in ``--workdir``) a folder of ``--n-images`` 4032×3024 JPEGs made from real LFW
faces (an LFW face upscaled to 600–2400 px, pasted on another LFW image stretched to the full
frame), lists it as a personal dataset and runs :func:`~facecluster.faces.pipeline.
detect_and_crop` with MTCNN on the CPU in a **fresh subprocess per setting**, so that each
figure is the peak resident memory (``ru_maxrss``) of that setting alone.  A setting is
``BATCH`` (``execution.detector_batch_size``) or ``BATCH@MP`` (with
``execution.detector_batch_megapixels``).

It also checks that images that already fit the cap are detected exactly as without it: the
original 250×250 LFW images, with ``detector.max_side`` at its default and None (and, with
``--fit-reference-src``, against another source tree, e.g. the code before the change).

``--src`` puts another checkout's ``src`` first on the subprocess's ``sys.path`` (e.g. the
code before the change, which has neither ``detector.max_side`` nor
``execution.detector_batch_megapixels``: they are then not passed).  Old code holds a whole
batch of full-size photos as float32 plus MTCNN's pyramid (about 0.65 GB per 12 MP photo), so a
setting whose estimate exceeds ``--max-estimate-gb`` is refused rather than run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTO = (4032, 3024)
BYTES_PER_PIXEL_OLD = 54  # measured: 1 → 1.0 GB, 4 → 2.8 GB, 8 → 5.2 GB at 12.2 MP


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def lfw_images(mirror: Path, n: int) -> list[Path]:
    """``n`` LFW images, one per person in name order (deterministic)."""
    root = mirror / "lfw" / "lfw-deepfunneled"
    if not root.is_dir():
        sys.exit(f"LFW not found at {root}: set FACECLUSTER_MIRROR (or --mirror)")
    out = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        jpgs = sorted(person.glob("*.jpg"))
        if jpgs:
            out.append(jpgs[0])
        if len(out) == n:
            break
    return out


def build_photos(folder: Path, sources: list[Path], n: int) -> None:
    """``n`` 4032×3024 JPEGs in ``folder/<person>/``: a face on a stretched background."""
    import numpy as np
    from PIL import Image

    marker = folder / ".complete"
    if marker.is_file() and marker.read_text() == str(n):
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(10)
    w, h = PHOTO
    for i in range(n):
        face = Image.open(sources[i % len(sources)]).convert("RGB")
        back = Image.open(sources[(i + 7) % len(sources)]).convert("RGB")
        canvas = back.resize(PHOTO, Image.Resampling.BILINEAR)
        side = int(rng.integers(600, 2400))
        face = face.resize((side, side), Image.Resampling.BICUBIC)
        x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        canvas.paste(face, (x, y))
        out = folder / f"person_{i % 8}" / f"photo_{i:03d}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(out, quality=90)
    marker.write_text(str(n))


def build_fitting(folder: Path, sources: list[Path]) -> None:
    """The original LFW images (250×250), one folder per person."""
    shutil.rmtree(folder, ignore_errors=True)
    for src in sources:
        (folder / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / src.parent.name / src.name)


# --------------------------------------------------------------------------------------------
# the subprocess
# --------------------------------------------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    """Run detect_and_crop once and print one JSON line (peak RSS of this process)."""
    if args.src:
        sys.path.insert(0, str(Path(args.src).resolve()))
    import facecluster
    from facecluster.config import (
        CropSettings,
        DetectorSettings,
        ExecutionSettings,
        PersonalDataset,
    )
    from facecluster.data.catalog import collect_dataset
    from facecluster.faces.pipeline import detect_and_crop
    from facecluster.paths import ProjectPaths

    new_api = "max_side" in DetectorSettings.model_fields
    det_kw: dict = {}
    if new_api and args.max_side != "default":
        det_kw["max_side"] = None if args.max_side == "none" else int(args.max_side)
    exe_kw: dict = {"progress": False, "device": "cpu", "detector_batch_size": args.batch}
    if (
        args.megapixels is not None
        and "detector_batch_megapixels" in ExecutionSettings.model_fields
    ):
        exe_kw["detector_batch_megapixels"] = args.megapixels
    detector = DetectorSettings(**det_kw)
    execution = ExecutionSettings(**exe_kw)
    with tempfile.TemporaryDirectory() as tmp:
        spec = PersonalDataset(kind="personal", path=str(args.folder))
        listing = collect_dataset("bench", spec, ProjectPaths(Path(tmp)))
        t0 = time.perf_counter()
        faces = detect_and_crop(
            listing,
            detector_name="mtcnn",
            face_select="score",
            detector=detector,
            crops=CropSettings(),
            execution=execution,
            name="bench",
        )
        seconds = time.perf_counter() - t0
    rows = [
        {k: r[k] for k in ("relpath", "status", "n_faces", "score", "bbox", "landmarks")}
        for r in faces.rows
    ]
    result = {
        "src": str(Path(facecluster.__file__).parents[1]),
        "new_api": new_api,
        "max_side": getattr(detector, "max_side", "n/a"),
        "batch": execution.detector_batch_size,
        "megapixels": getattr(execution, "detector_batch_megapixels", "n/a"),
        "images": len(listing.records),
        "faces": faces.n_crops,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
    }
    if args.rows_out:
        Path(args.rows_out).write_text(json.dumps(rows))
    print("RESULT " + json.dumps(result), flush=True)


def run_child(
    folder: Path,
    batch: int,
    megapixels: float | None,
    src: str | None,
    max_side: str = "default",
    rows_out: Path | None = None,
) -> dict:
    cmd = [sys.executable, __file__, "--child", "--folder", str(folder), "--batch", str(batch)]
    cmd += ["--max-side", max_side]
    if megapixels is not None:
        cmd += ["--megapixels", str(megapixels)]
    if src:
        cmd += ["--src", src]
    if rows_out:
        cmd += ["--rows-out", str(rows_out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    sys.exit(f"subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def supports_cap(src: str | None) -> bool:
    """Whether the source tree has ``detector.max_side`` (the new code)."""
    root = Path(src) if src else Path(__file__).resolve().parents[1] / "src"
    return "max_side" in (root / "facecluster" / "config.py").read_text()


def parse_setting(text: str) -> tuple[int, float | None]:
    batch, _, mp = text.partition("@")
    return int(batch), (float(mp) if mp else None)


def same_rows(a: list[dict], b: list[dict]) -> tuple[int, int]:
    """(rows identical, rows compared): relpath, status, n_faces, score, bbox, landmarks."""
    return sum(x == y for x, y in zip(a, b, strict=True)), len(a)


# --------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n-images", type=int, default=64, help="4032×3024 photos to detect on")
    ap.add_argument(
        "--settings", default="1,4,8,32", help="comma list of BATCH or BATCH@MEGAPIXELS"
    )
    ap.add_argument("--src", default=None, help="another checkout's src/ to benchmark")
    ap.add_argument("--mirror", default=os.environ.get("FACECLUSTER_MIRROR"))
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "facecluster-detmem"))
    ap.add_argument("--fit-images", type=int, default=32, help="250×250 images (0: no check)")
    ap.add_argument("--fit-reference-src", default=None, help="also compare fitting images")
    ap.add_argument("--max-estimate-gb", type=float, default=6.0)
    # the subprocess
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--megapixels", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--max-side", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--rows-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if not args.mirror:
        sys.exit("set FACECLUSTER_MIRROR (or --mirror) to the shared data folder")
    work = Path(args.workdir)
    settings = [parse_setting(s) for s in args.settings.split(",") if s]
    capped = supports_cap(args.src)
    sources = lfw_images(Path(args.mirror), max(args.n_images, args.fit_images, 16))
    photos = work / f"photos_{args.n_images}"
    t0 = time.perf_counter()
    build_photos(photos, sources, args.n_images)
    print(f"{args.n_images} photos {PHOTO[0]}×{PHOTO[1]} in {photos} "
          f"({time.perf_counter() - t0:.0f} s to build)")  # fmt: skip
    print(f"code: {args.src or 'this checkout'} ({'with' if capped else 'without'} the cap)")
    print(f"{'batch':>5} {'MP':>6} {'images':>6} {'faces':>5} {'seconds':>7} {'peak RSS':>9}")
    for batch, mp in settings:
        per_batch = min(batch, args.n_images) * PHOTO[0] * PHOTO[1]
        estimate = BYTES_PER_PIXEL_OLD * per_batch / 1e9
        if not capped and estimate > args.max_estimate_gb:
            print(f"{batch:>5} {'-':>6} refused: old code would need about {estimate:.1f} GB")
            continue
        r = run_child(photos, batch, mp, args.src)
        mp_text = f"{r['megapixels']}" if r["new_api"] else "-"
        print(f"{batch:>5} {mp_text:>6} {r['images']:>6} {r['faces']:>5} {r['seconds']:>7} "
              f"{r['peak_rss_mb'] / 1024:>7.2f} GB", flush=True)  # fmt: skip
    if args.fit_images:
        fit = work / "fitting"
        build_fitting(fit, sources[: args.fit_images])
        runs = {}
        if capped:
            runs["capped (default max_side)"] = ("default", args.src)
            runs["uncapped (max_side None)"] = ("none", args.src)
        else:
            runs["this code"] = ("default", args.src)
        if args.fit_reference_src:
            runs[f"reference {args.fit_reference_src}"] = ("default", args.fit_reference_src)
        results = {}
        for label, (max_side, src) in runs.items():
            out = work / f"rows_{len(results)}.json"
            r = run_child(fit, 32, None, src, max_side, out)
            results[label] = json.loads(out.read_text())
            print(f"fitting 250×250: {label}: {r['faces']}/{r['images']} faces, "
                  f"max_side={r['max_side']}, {r['seconds']} s")  # fmt: skip
        labels = list(results)
        for other in labels[1:]:
            same, n = same_rows(results[labels[0]], results[other])
            print(f"identical rows (box, landmarks, score, status) {labels[0]} vs {other}: "
                  f"{same}/{n}")  # fmt: skip


if __name__ == "__main__":
    main()
