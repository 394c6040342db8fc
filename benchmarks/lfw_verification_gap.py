"""Where does the CASIA model's half point of LFW verification go?  Ours against Sandberg's.

    python benchmarks/lfw_verification_gap.py [--root DIR] [--model facenet] [--stride N]

Sandberg lists 99.05% for FaceNet 20180408-102900 (CASIA-WebFace); the study's embed stage
measures less.  This script separates the two places where the protocols differ, on the
images of ``pairs.txt``, from the study's own faces-stage output (manifest, boxes, crops):

* **crops**: the study's (MTCNN box + a margin of ``detector.mtcnn.margin`` *output* pixels,
  facenet-pytorch's convention, square-ish) against Sandberg's ``align_dataset_mtcnn``
  (the same box grown by 32 *source* pixels, ±16 a side, truncated to int and clipped, the
  rectangle resized to 160×160 bilinearly, no aspect kept);
* **evaluation**: the study's (euclidean distance of the L2-normalised embedding, threshold
  chosen on nine folds) against ``validate_on_lfw --distance_metric 1 --use_flipped_images
  --subtract_mean``: the embeddings of the image and of its mirror image concatenated, the
  training folds' mean subtracted, angular distance; each step is also shown alone.

Needs the faces and weights stages' outputs under ``--root`` (the source images are read
again for Sandberg's crops).  Prints one accuracy per crops × evaluation, and the gap.
Raw LFW (Sandberg aligned the original images, the study the deep-funneled ones) cannot be
tried where only the deep-funneled variant is present.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from facecluster.config import load_params
from facecluster.data.lfw import read_pairs
from facecluster.embed.models import load_embedder
from facecluster.embed.verify import best_threshold
from facecluster.faces.align import crop_box
from facecluster.paths import ProjectPaths
from facecluster.stages.faces import read_crops, read_manifest, read_summary
from facecluster.stages.weights import read_weights

SANDBERG_MARGIN = 32  # align_dataset_mtcnn --margin 32 --image_size 160 (source pixels)


def sandberg_crop(path: str, box: np.ndarray, size: int = 160) -> np.ndarray:
    """``align_dataset_mtcnn``: box ± margin/2 in source pixels, int, clipped, resized."""
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    half = SANDBERG_MARGIN / 2
    bb = (
        int(max(box[0] - half, 0)),
        int(max(box[1] - half, 0)),
        int(min(box[2] + half, w)),
        int(min(box[3] + half, h)),
    )
    return crop_box(img, bb, size)


@torch.inference_mode()
def embed(embedder, crops: np.ndarray, batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(crops), batch):
        x = embedder.inputs(np.ascontiguousarray(crops[i : i + batch]))
        z = embedder.module(x)
        out.append(torch.nn.functional.normalize(z, dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def stage_embeddings(paths, dataset: str, model: str, images: list[str]) -> np.ndarray | None:
    """The embed stage's vectors of ``images`` (so the first cell is the DVC metric), or None."""
    from facecluster.stages.embed import read_embeddings

    path = paths.embeddings(dataset, model)
    if not path.is_file():
        return None
    z = read_embeddings(path)
    rel = [*z.relpaths, *z.extra_relpaths]
    X = np.concatenate([z.X, z.extra_X.reshape(-1, z.X.shape[1])]).astype(np.float64)
    row = {r: i for i, r in enumerate(rel)}
    return X[[row[r] for r in images]] if all(r in row for r in images) else None


def accuracy(
    e: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    same: np.ndarray,
    folds: np.ndarray,
    *,
    subtract_mean: bool,
    angular: bool,
) -> float:
    """Ten-fold accuracy; with ``subtract_mean`` the training folds' mean is removed first."""
    accs = []
    for f in np.unique(folds):
        test = folds == f
        if subtract_mean:
            mean = np.concatenate([e[ia[~test]], e[ib[~test]]]).mean(axis=0)
        else:
            mean = np.zeros(e.shape[1])
        a, b = e[ia] - mean, e[ib] - mean
        if angular:
            cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            dist = np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
        else:
            dist = np.linalg.norm(a - b, axis=1)
        t, _ = best_threshold(dist[~test], same[~test])  # chosen on the other nine folds
        accs.append(float(np.mean((dist[test] < t) == same[test])))
    return float(np.mean(accs))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--root", default=None, help="project root holding the stage outputs")
    ap.add_argument("--dataset", default="lfw")
    ap.add_argument("--model", default="facenet")
    ap.add_argument("--stride", type=int, default=1, help="every N-th pair only (1 = all 6,000)")
    args = ap.parse_args()

    paths = ProjectPaths.from_root(args.root)
    params = load_params(paths.root / "params.yaml")
    spec = params.model(args.model)
    weights = read_weights(args.model, params, paths)
    embedder = load_embedder(args.model, spec, weights.path, weights.sha256, "cpu")
    if embedder.crop_family != "facenet":
        raise SystemExit(
            f"{args.model} is not a FaceNet model (crop family {embedder.crop_family})"
        )

    pairs = read_pairs(read_summary(paths, args.dataset).summary["pairs_txt"])
    pairs = pairs[:: args.stride]
    man = read_manifest(paths, args.dataset)
    ok = man[man["status"] == "ok"].set_index("relpath")
    keep = [p for p in pairs if p.relpath1 in ok.index and p.relpath2 in ok.index]
    images = sorted({p.relpath1 for p in keep} | {p.relpath2 for p in keep})
    pos = {r: i for i, r in enumerate(images)}
    ia = np.array([pos[p.relpath1] for p in keep])
    ib = np.array([pos[p.relpath2] for p in keep])
    same = np.array([p.same for p in keep], bool)
    folds = np.array([p.fold for p in keep])
    rows = ok.loc[images]
    print(
        f"{len(keep)} of {len(pairs)} pairs scored ({len(images)} images with a face); "
        f"study margin {params.detector.mtcnn.margin} output px, Sandberg {SANDBERG_MARGIN} "
        f"source px; {args.model} on cpu, {torch.get_num_threads()} threads"
    )

    t0 = time.perf_counter()
    ours = np.asarray(read_crops(paths, args.dataset, "facenet")[rows["crop_index"].to_numpy()])
    theirs = np.stack(
        [
            sandberg_crop(src, np.asarray(box))
            for src, box in zip(rows["source_path"], rows["bbox"], strict=True)
        ]
    )
    print(f"crops ready in {time.perf_counter() - t0:.0f} s")
    evaluations = {  # name: (flip, subtract_mean, angular)
        "study (euclidean)": (False, False, False),
        "+ angular": (False, False, True),
        "+ subtract mean": (False, True, True),
        "+ flipped images": (True, False, True),
        "Sandberg (flip + mean + angular)": (True, True, True),
    }
    table = {}
    stage = stage_embeddings(paths, args.dataset, args.model, images)
    for crop_name, crops in (("study crops", ours), ("Sandberg crops", theirs)):
        t0 = time.perf_counter()
        reuse = crop_name == "study crops" and stage is not None
        plain = stage if reuse else embed(embedder, crops)
        flipped = embed(embedder, crops[:, :, ::-1])
        secs = time.perf_counter() - t0
        done = len(crops) * (1 if reuse else 2)
        print(
            f"{crop_name}: {done} images embedded in {secs:.0f} s"
            + (" (unflipped: the embed stage's own vectors)" if reuse else "")
        )
        for name, (flip, sub, ang) in evaluations.items():
            e = np.concatenate([plain, flipped], axis=1) if flip else plain
            acc = accuracy(e, ia, ib, same, folds, subtract_mean=sub, angular=ang)
            table[crop_name, name] = acc
    width = max(len(n) for n in evaluations)
    print(f"\n{'evaluation':<{width}}  study crops  Sandberg crops")
    for name in evaluations:
        a, b = table["study crops", name], table["Sandberg crops", name]
        print(f"{name:<{width}}  {100 * a:10.2f}%  {100 * b:13.2f}%")
    base = table["study crops", "study (euclidean)"]
    full = table["Sandberg crops", "Sandberg (flip + mean + angular)"]
    print(
        f"\nstudy → Sandberg protocol: {100 * base:.2f}% → {100 * full:.2f}% "
        f"({100 * (full - base):+.2f} points; Sandberg lists 99.05% for CASIA)"
    )


if __name__ == "__main__":
    main()
