#!/usr/bin/env python3
"""The peer of `ign run`: the same denoising job in one Python process (pyvips + PyTorch).

What it mirrors (pipelines/peer-benchmark.yaml: pipelines/benchmark.yaml on JPEGs with `write: [output]`):

    model: fashion28          fit: resize   size: model   corrupt: [noise:0.2]
    corrupt-at: model         seed: 0       steps: 1      format: png
    write: [output]           metrics: [drift, distance, psnr, ssim, baseline]
    batch: 64 (ign's default)

For every image, as Sources/Pipeline does it:
  1. decode with libvips (strict: a JPEG warning fails the file), colour sources to sRGB, then
     ign's luminance (CIE Y of linear sRGB, Rec. 709 weights, re-encoded with the sRGB curve) on
     [-1, 1] floats (v = p/127.5 - 1);
  2. resize (libvips resize, Lanczos-3, on floats) to the model's 28x28: the clean sample;
  3. add the seeded noise at model size: N(0, (2*0.2)^2) on the [-1, 1] scale, clamped, drawn from
     ign's own generator (xoshiro256** seeded through SplitMix64 with FNV-1a 64 of the relative
     path mixed with the run seed; Box-Muller), so each image gets exactly ign's noise;
  4. f in eval mode with the file's projection BatchNorm statistics (scripts/torch_reference.py's
     load_model), batched 64 images per call under torch.no_grad(), and f once more (f(f(x)))
     for drift;
  5. metrics with numpy, as Sources/Imaging/Metrics.swift and ClassicalDenoisers.swift define
     them: drift = RMS(f(y) - y), relative drift, distance = RMS(y - x); PSNR and SSIM (11x11
     gaussian, sigma 1.5, valid) of the 8-bit corrupted input and of the 8-bit output against the
     clean float sample; baseline = the best of 12 gaussian blurs (libvips' gaussmat masks,
     edges copied, sigma tuned on the image) and medians 3x3, 5x5 of the 8-bit corrupted input;
  6. the 8-bit output written as a 28x28 grey PNG (a/b/c.jpg -> OUT/a/b/c.png) and one
     metrics.jsonl line per image with ign's keys, in ign's (sorted-path) order.

Not done here, though ign does them: per-image report thumbnails (report/thumbs/*.jpg),
report.html, summary.json/.csv, pipeline.json, the lock, resumability and atomic renames.

Run the comparison (2-core machine, nothing else running):

    python3 scripts/peer_pipeline.py --make-corpus /tmp/peer-corpus     # 1,000 256x256 JPEGs
    /usr/bin/time -v .build/release/ign run pipelines/peer-benchmark.yaml --input /tmp/peer-corpus \\
        --include '*.jpg' --output /tmp/peer-ign --force -q
    /usr/bin/time -v python3 scripts/peer_pipeline.py /tmp/peer-corpus /tmp/peer-torch
    python3 scripts/peer_pipeline.py --compare /tmp/peer-ign/metrics.jsonl /tmp/peer-torch/metrics.jsonl

Options: --batch (64), --workers (decode/encode threads, 2), --threads (torch, 2).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import fnmatch
import json
import math
import os
import sys
import time

import numpy as np
import pyvips

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch_reference  # noqa: E402  (sets torch.set_num_threads(2) itself)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "Sources", "IGN", "Models", "fashion28.safetensors")

SIGMA = 0.2          # corrupt: noise:0.2
RUN_SEED = 0         # seed: 0
CORRUPTION = "noise:0.2"
BLUR_SIGMAS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]
BLUR_MIN_AMPL = 0.001
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

# ---------------------------------------------------------------------------
# ign's seeded noise (Sources/Basics: FNV1a64, RandomSource, PixelNoise)
# ---------------------------------------------------------------------------


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    return h


def noise_seed(relative_path: str) -> int:
    """Corruption.seed(runSeed:relativePath:), then the chain's step 0 seed."""
    image_seed = mix64(fnv1a64(relative_path.encode("utf-8")) ^ mix64(RUN_SEED))
    return mix64((image_seed + 0 * GOLDEN) & MASK64)


def xoshiro_states(seeds):
    """RandomSource(seed:) for each seed: four SplitMix64 steps; returns 4 uint64 arrays."""
    rows = []
    for s in seeds:
        state = []
        for _ in range(4):
            s = (s + GOLDEN) & MASK64
            state.append(mix64(s))
        rows.append(state)
    a = np.array(rows, dtype=np.uint64).reshape(len(seeds), 4)
    return [a[:, i].copy() for i in range(4)]


def seeded_noise(seeds, count: int, std: float) -> np.ndarray:
    """rng.normals(count, std:) for every seed at once (xoshiro256** vectorised over the batch)."""
    s0, s1, s2, s3 = xoshiro_states(seeds)
    draws = np.empty((count + (count & 1), len(seeds)), dtype=np.uint64)
    five, nine = np.uint64(5), np.uint64(9)
    c7, c57, c17, c45, c19 = (np.uint64(v) for v in (7, 57, 17, 45, 19))
    with np.errstate(over="ignore"):
        for k in range(draws.shape[0]):
            m = s1 * five
            draws[k] = ((m << c7) | (m >> c57)) * nine
            t = s1 << c17
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = (s3 << c45) | (s3 >> c19)
    d = draws.T  # [image, draw]
    u1 = (d[:, 0::2] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    u2 = (d[:, 1::2] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    r = np.sqrt(-2.0 * np.log(1.0 - u1))
    theta = 2.0 * math.pi * u2
    out = np.empty((len(seeds), d.shape[1]), dtype=np.float32)
    std32 = np.float32(std)
    out[:, 0::2] = std32 * (r * np.cos(theta)).astype(np.float32)
    out[:, 1::2] = std32 * (r * np.sin(theta)).astype(np.float32)
    return out[:, :count]


# ---------------------------------------------------------------------------
# Pixels (Sources/Imaging/PlanarImage.swift, Vips.swift)
# ---------------------------------------------------------------------------


def _to_linear(v):
    return np.where(v <= np.float32(0.04045), v / np.float32(12.92),
                    np.power((v + np.float32(0.055)) / np.float32(1.055), np.float32(2.4))).astype(np.float32)


def _from_linear(v):
    c = np.clip(v, np.float32(0), np.float32(1))
    return np.where(c <= np.float32(0.0031308), c * np.float32(12.92),
                    np.float32(1.055) * np.power(c, np.float32(1 / 2.4)) - np.float32(0.055)).astype(np.float32)


_BYTE_VALUE = (np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1))  # value(fromByte:)
_BYTE_LINEAR = _to_linear((_BYTE_VALUE + np.float32(1)) / np.float32(2))          # toLinear((v+1)/2)


def quantize_bytes(v: np.ndarray) -> np.ndarray:
    """PlanarImage.byte(fromValue:): round((v + 1) * 127.5) half away from zero, clipped."""
    scaled = (v.astype(np.float32) + np.float32(1)) * np.float32(127.5)
    r = np.floor(scaled)
    r += (scaled - r) >= np.float32(0.5)
    return np.clip(np.nan_to_num(r, nan=0.0), 0, 255).astype(np.uint8)


def quantized(v: np.ndarray) -> np.ndarray:
    return _BYTE_VALUE[quantize_bytes(v)]


def from_vips_float(values: np.ndarray) -> np.ndarray:
    """PlanarImage.fromVips: v / 127.5 - 1, NaN -> 0, clamped to [-1, 1]."""
    v = values / np.float32(127.5) - np.float32(1)
    return np.clip(np.nan_to_num(v, nan=0.0), -1, 1).astype(np.float32)


def vips_to_numpy(image: pyvips.Image, dtype) -> np.ndarray:
    return np.ndarray(buffer=image.write_to_memory(), dtype=dtype,
                      shape=(image.height, image.width, image.bands))


class Failure(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def load_clean_sample(path: str, size: int) -> tuple[np.ndarray, int, int]:
    """Decode (as ImageLoader with channels 1) and resize to size x size: the clean sample,
    float32 [-1, 1], and the input's width and height."""
    try:
        image = pyvips.Image.new_from_file(path, access="sequential", fail_on="warning")
    except pyvips.Error as e:
        raise Failure("truncated", str(e).strip().splitlines()[0] if str(e).strip() else "load failed")
    interpretation = image.interpretation
    grey = interpretation in ("b-w", "grey16") or (interpretation not in (
        "srgb", "rgb", "rgb16", "scrgb", "cmyk", "lab", "labs", "labq", "xyz", "lch", "hsv") and image.bands <= 2)
    target = "b-w" if grey else "srgb"
    if not (interpretation == target and image.format == "uchar"):
        image = image.colourspace(target)
    max_value = 255.0
    if image.format == "ushort":
        max_value = 65535.0
    elif image.format != "uchar":
        image = image.cast("uchar")
    if image.hasalpha():
        image = image.flatten(background=[max_value])
    channels = 1 if grey else 3
    if image.bands > channels:
        image = image.extract_band(0, n=channels)
    width, height = image.width, image.height
    try:
        if image.format == "uchar":
            pixels = vips_to_numpy(image, np.uint8)  # decoding happens here
            if grey:
                value = _BYTE_VALUE[pixels[:, :, 0]]
            else:
                # PlanarImage.luminance(): toLinear on each channel (a table: the inputs are bytes),
                # Rec. 709 weights, the sRGB curve back.
                lin = _BYTE_LINEAR[pixels]
                y = (np.float32(0.2126) * lin[:, :, 0] + np.float32(0.7152) * lin[:, :, 1]
                     + np.float32(0.0722) * lin[:, :, 2])
                value = _from_linear(y) * np.float32(2) - np.float32(1)
        else:  # 16-bit
            raw = vips_to_numpy(image, np.uint16).astype(np.float32)
            planes = np.clip(raw / np.float32(max_value / 2) - 1, -1, 1)
            if grey:
                value = planes[:, :, 0]
            else:
                lin = _to_linear((planes + 1) / 2)
                y = 0.2126 * lin[:, :, 0] + 0.7152 * lin[:, :, 1] + 0.0722 * lin[:, :, 2]
                value = _from_linear(y.astype(np.float32)) * 2 - 1
    except pyvips.Error as e:
        raise Failure("truncated", str(e).strip().splitlines()[0] if str(e).strip() else "decode failed")
    if width == size and height == size:
        return value.astype(np.float32), width, height
    # PlanarImage.resized: a float image on the 0...255 scale, libvips resize (Lanczos-3), clamped.
    scaled = np.ascontiguousarray((value + np.float32(1)) * np.float32(127.5), dtype=np.float32)
    vimage = pyvips.Image.new_from_memory(scaled.data, width, height, 1, "float")
    out = vimage.resize(size / width, vscale=size / height, kernel="lanczos3")
    if out.width != size or out.height != size:
        out = out.embed(0, 0, max(size, out.width), max(size, out.height), extend="copy").crop(0, 0, size, size)
    return from_vips_float(vips_to_numpy(out, np.float32)[:, :, 0]), width, height


# ---------------------------------------------------------------------------
# Metrics (Sources/Imaging/Metrics.swift, ClassicalDenoisers.swift), batched over images
# ---------------------------------------------------------------------------


def rms(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    d = (a - b if b is not None else a).astype(np.float64)
    return np.sqrt(np.mean(d * d, axis=tuple(range(1, d.ndim))))


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a - b).astype(np.float64) * 0.5
    mse = np.mean(d * d, axis=tuple(range(1, d.ndim)))
    with np.errstate(divide="ignore"):
        return np.where(mse == 0, np.inf, 10 * np.log10(1 / mse))


def _gaussian(size: int, sigma: float) -> np.ndarray:
    r = size // 2
    raw = np.exp(-((np.arange(size) - r) ** 2) / (2 * sigma * sigma))
    return raw / raw.sum()


def _filter_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    n = len(k)
    w, h = x.shape[-1] - n + 1, x.shape[-2] - n + 1
    rows = sum(k[i] * x[..., :, i:i + w] for i in range(n))
    return sum(k[i] * rows[..., i:i + h, :] for i in range(n))


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Metrics.ssim for [B, H, W] images (one channel): 1 where the images are identical."""
    size = min(11, a.shape[-1], a.shape[-2])
    size -= 1 - size % 2
    k = _gaussian(size, 1.5)
    x = (a.astype(np.float64) + 1) / 2
    y = (b.astype(np.float64) + 1) / 2
    mx, my = _filter_valid(x, k), _filter_valid(y, k)
    xx, yy, xy = _filter_valid(x * x, k), _filter_valid(y * y, k), _filter_valid(x * y, k)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    result = s.mean(axis=(-2, -1))
    same = np.all(a.reshape(len(a), -1) == b.reshape(len(b), -1), axis=1)
    return np.where(same, 1.0, result)


def _blur_masks():
    """libvips' own gaussblur masks (gaussmat, separable, min_ampl 0.001), normalised."""
    masks = []
    for sigma in BLUR_SIGMAS:
        m = pyvips.Image.gaussmat(sigma, BLUR_MIN_AMPL, separable=True, precision="float")
        k = np.ndarray(buffer=m.write_to_memory(), dtype=np.float64 if m.format == "double" else np.float32,
                       shape=(m.width,))
        masks.append((k / m.get("scale")).astype(np.float32))
    return masks


def blurred(x255: np.ndarray, k: np.ndarray) -> np.ndarray:
    """vips gaussblur of [B, H, W] float images: separable, edges copied."""
    r = len(k) // 2
    h, w = x255.shape[-2:]
    p = np.pad(x255, ((0, 0), (r, r), (r, r)), mode="edge")
    rows = sum(k[i] * p[:, :, i:i + w] for i in range(len(k)))
    return sum(k[i] * rows[:, i:i + h, :] for i in range(len(k)))


def median(x: np.ndarray, size: int) -> np.ndarray:
    """vips median (rank, middle of size x size) of [B, H, W] images, edges copied."""
    r = size // 2
    p = np.pad(x, ((0, 0), (r, r), (r, r)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(p, (size, size), axis=(1, 2))
    flat = windows.reshape(*windows.shape[:3], size * size)
    middle = size * size // 2
    return np.partition(flat, middle, axis=-1)[..., middle]


def baseline(corrupted: np.ndarray, clean: np.ndarray, masks) -> dict:
    """ClassicalDenoisers: best blur sigma (first best), its PSNR, PSNR of medians 3 and 5."""
    x255 = (corrupted + np.float32(1)) * np.float32(127.5)  # vipsFloat
    best_psnr = np.full(len(corrupted), -np.inf)
    best_sigma = np.full(len(corrupted), BLUR_SIGMAS[0])
    for sigma, k in zip(BLUR_SIGMAS, masks):
        p = psnr(from_vips_float(blurred(x255, k)), clean)
        better = p > best_psnr
        best_psnr = np.where(better, p, best_psnr)
        best_sigma = np.where(better, sigma, best_sigma)
    return {"psnr_blur": best_psnr, "blur_sigma": best_sigma,
            "psnr_median3": psnr(from_vips_float(median(x255, 3)), clean),
            "psnr_median5": psnr(from_vips_float(median(x255, 5)), clean)}


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------


def discover(root: str, include: list[str]) -> list[str]:
    """Regular files under root (links not followed, hidden entries skipped), sorted by UTF-8."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d))]
        for name in files:
            full = os.path.join(folder, name)
            if name.startswith(".") or os.path.islink(full) or not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, root)
            if include and not any(fnmatch.fnmatchcase(rel if "/" in g else name, g) for g in include):
                continue
            found.append(rel)
    return sorted(found, key=lambda p: p.encode("utf-8"))


def json_number(v) -> str:
    v = float(v)
    return repr(v) if math.isfinite(v) else "null"


def metrics_line(rec: dict) -> str:
    fields = [f'"path":{json.dumps(rec["path"], ensure_ascii=False)}',
              f'"input_size":{rec["input_size"]}', f'"input_mtime":"{rec["input_mtime"]}"',
              f'"output":{json.dumps(rec["output"], ensure_ascii=False)}',
              f'"width":{rec["width"]}', f'"height":{rec["height"]}', f'"corruption":"{CORRUPTION}"']
    for key in ("drift", "relative_drift", "distance", "psnr_in", "psnr_out", "ssim_in", "ssim_out",
                "psnr_blur", "blur_sigma", "psnr_median3", "psnr_median5"):
        if rec.get(key) is not None:
            fields.append(f'"{key}":{json_number(rec[key])}')
    return "{" + ",".join(fields) + "}"


def run(args) -> None:
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    pyvips.cache_set_max(0)           # as ign: no operation cache
    pyvips.concurrency_set(1)         # as ign: libvips single-threaded per operation; our pool instead
    f = torch_reference.load_model(args.model, "projection").eval()
    size = torch_reference.IMAGE_SIZE[f.arch]
    if f.channels != 1:
        raise SystemExit("this peer mirrors the 1-channel fashion28 job")
    masks = _blur_masks()
    files = discover(args.input, args.include)
    os.makedirs(args.output, exist_ok=True)
    metrics = open(os.path.join(args.output, "metrics.jsonl"), "w", encoding="utf-8")
    errors = open(os.path.join(args.output, "errors.jsonl"), "w", encoding="utf-8")
    pool = cf.ThreadPoolExecutor(max_workers=args.workers)
    timing = dict.fromkeys(("decode", "noise", "network", "metrics", "write"), 0.0)
    loop_start = time.perf_counter()
    done = failed = 0

    def prepare(rel):
        path = os.path.join(args.input, rel)
        st = os.stat(path)
        try:
            clean, w, h = load_clean_sample(path, size)
        except Failure as e:
            return rel, None, e
        stamp = (st.st_size, f"{st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}")
        return rel, (clean, w, h, stamp), None

    def write_png(job):
        rel_out, pixels = job
        target = os.path.join(args.output, rel_out)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        image = pyvips.Image.new_from_memory(pixels.tobytes(), size, size, 1, "uchar").copy(interpretation="b-w")
        image.write_to_file(target)

    for first in range(0, len(files), args.batch):
        t0 = time.perf_counter()
        prepared = list(pool.map(prepare, files[first:first + args.batch]))
        ok = []
        for rel, sample, error in prepared:
            if error is None:
                ok.append((rel, sample))
            else:
                failed += 1
                errors.write(json.dumps({"path": rel, "code": error.code, "message": error.message},
                                        ensure_ascii=False) + "\n")
        if not ok:
            continue
        clean = np.stack([s[0] for _, s in ok])                       # [B, 28, 28]
        t1 = time.perf_counter()
        noise = seeded_noise([noise_seed(rel) for rel, _ in ok], size * size, 2 * SIGMA)
        noisy = np.clip(clean + noise.reshape(clean.shape), np.float32(-1), np.float32(1))
        t2 = time.perf_counter()
        with torch.no_grad():
            x = torch.from_numpy(noisy).unsqueeze(1)
            y = f(x)
            fy = f(y)
        y = y.squeeze(1).numpy()
        fy = fy.squeeze(1).numpy()
        t3 = time.perf_counter()
        drift = rms(fy, y)
        norm = rms(y)
        distance = rms(y, noisy)
        out_bytes = quantize_bytes(y)
        out_q = _BYTE_VALUE[out_bytes]
        corrupted_q = quantized(noisy)
        figures = {"drift": drift, "relative_drift": np.where(norm > 0, drift / np.where(norm > 0, norm, 1), np.nan),
                   "distance": distance,
                   "psnr_in": psnr(corrupted_q, clean), "psnr_out": psnr(out_q, clean),
                   "ssim_in": ssim(corrupted_q, clean), "ssim_out": ssim(out_q, clean)}
        figures.update(baseline(corrupted_q, clean, masks))
        finite = np.isfinite(y).all(axis=(1, 2)) & np.isfinite(fy).all(axis=(1, 2))
        t4 = time.perf_counter()
        outputs = [os.path.splitext(rel)[0] + ".png" for rel, _ in ok]
        list(pool.map(write_png, [(o, out_bytes[i]) for i, o in enumerate(outputs) if finite[i]]))
        for i, (rel, (_, w, h, stamp)) in enumerate(ok):
            if not finite[i]:
                failed += 1
                errors.write(json.dumps({"path": rel, "code": "nonFinite", "message": "non-finite output"}) + "\n")
                continue
            rec = {"path": rel, "input_size": stamp[0], "input_mtime": stamp[1], "output": outputs[i],
                   "width": w, "height": h}
            for key, values in figures.items():
                v = float(values[i])
                rec[key] = None if (key == "relative_drift" and math.isnan(v)) else v
            metrics.write(metrics_line(rec) + "\n")
            done += 1
        t5 = time.perf_counter()
        for key, a, b in (("decode", t0, t1), ("noise", t1, t2), ("network", t2, t3), ("metrics", t3, t4),
                          ("write", t4, t5)):
            timing[key] += b - a
    metrics.close()
    errors.close()
    pool.shutdown()
    end = time.perf_counter()
    loop = end - loop_start
    print(f"{done} done, {failed} failed in {loop:.2f} s: {(done + failed) / loop:.1f} img/s "
          f"({(done + failed) / (end - start):.1f} img/s counting start-up of {loop_start - start:.2f} s; "
          f"batch {args.batch}, {args.workers} workers, {torch.get_num_threads()} torch threads)")
    print("seconds by stage: " + ", ".join(f"{k} {v:.2f}" for k, v in timing.items()))


# ---------------------------------------------------------------------------
# The test corpus and the comparison with ign's metrics
# ---------------------------------------------------------------------------


def make_corpus(folder: str, count: int = 1000, side: int = 256, seed: int = 0) -> None:
    """`count` side x side colour JPEGs (quality 90): three in four are the Fashion-MNIST samples
    in samples/fashion, enlarged, shifted, mirrored and tinted on a gradient background with grain;
    one in four is a crop of a photo in samples/photos."""
    rng = np.random.default_rng(seed)
    samples = os.path.join(HERE, "..", "samples")
    fashion = [pyvips.Image.new_from_file(os.path.join(samples, "fashion", n)).colourspace("b-w").cast("float")
               for n in sorted(os.listdir(os.path.join(samples, "fashion"))) if n.endswith(".png")]
    photos = []
    for n in sorted(os.listdir(os.path.join(samples, "photos"))):
        im = pyvips.Image.new_from_file(os.path.join(samples, "photos", n))
        if im.hasalpha():
            im = im.flatten(background=[255])
        photos.append(im.colourspace("srgb").extract_band(0, n=3))
    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    for i in range(count):
        if i % 4 == 3:
            photo = photos[rng.integers(len(photos))]
            crop = int(rng.integers(min(photo.width, photo.height) // 2, min(photo.width, photo.height) + 1))
            left = int(rng.integers(0, photo.width - crop + 1))
            top = int(rng.integers(0, photo.height - crop + 1))
            image = photo.crop(left, top, crop, crop).resize(side / crop, kernel="lanczos3")
            if rng.random() < 0.5:
                image = image.fliphor()
            image = image.cast("uchar")
        else:
            garment = fashion[rng.integers(len(fashion))]
            scale = rng.uniform(6.0, 9.0)
            big = garment.resize(scale, kernel="cubic")
            if rng.random() < 0.5:
                big = big.fliphor()
            g = np.ndarray(buffer=big.write_to_memory(), dtype=np.float32, shape=(big.height, big.width)) / 255
            mask = np.zeros((side, side), np.float32)
            ox = int(rng.integers(-20, max(-19, side - big.width + 20)))
            oy = int(rng.integers(-20, max(-19, side - big.height + 20)))
            xs, ys = max(0, ox), max(0, oy)
            xe, ye = min(side, ox + big.width), min(side, oy + big.height)
            mask[ys:ye, xs:xe] = np.clip(g[ys - oy:ye - oy, xs - ox:xe - ox], 0, 1)
            background = (rng.uniform(0, 90, 3)[None, None, :] + rng.uniform(-40, 40, 3)[None, None, :]
                          * (xx if rng.random() < 0.5 else yy)[:, :, None])
            tint = rng.uniform(150, 255, 3)
            rgb = background * (1 - mask[:, :, None]) + tint * mask[:, :, None]
            rgb += rng.normal(0, rng.uniform(1, 6), (side, side, 1))
            pixels = np.clip(rgb, 0, 255).astype(np.uint8)
            image = pyvips.Image.new_from_memory(pixels.tobytes(), side, side, 3, "uchar").copy(interpretation="srgb")
        image.jpegsave(os.path.join(folder, f"img{i:04d}.jpg"), Q=90)
    print(f"{count} JPEGs of {side}x{side} in {folder}")


def compare(ign_path: str, peer_path: str) -> None:
    def read(p):
        with open(p, encoding="utf-8") as fh:
            return {r["path"]: r for r in map(json.loads, fh) if r}
    a, b = read(ign_path), read(peer_path)
    common = sorted(set(a) & set(b))
    print(f"{len(a)} lines in ign's, {len(b)} in the peer's, {len(common)} in both")
    keys = ["drift", "relative_drift", "distance", "psnr_in", "psnr_out", "ssim_in", "ssim_out",
            "psnr_blur", "blur_sigma", "psnr_median3", "psnr_median5"]
    print(f"{'figure':15} {'max |diff|':>12} {'mean |diff|':>12} {'ign mean':>10} {'peer mean':>10}  diff>0.1dB/1e-3")
    for k in keys:
        pairs = [(a[p][k], b[p][k]) for p in common if a[p].get(k) is not None and b[p].get(k) is not None]
        if not pairs:
            continue
        x = np.array(pairs, dtype=np.float64)
        d = np.abs(x[:, 0] - x[:, 1])
        tol = 0.1 if k.startswith("psnr") else (1e-9 if k == "blur_sigma" else 1e-3)
        print(f"{k:15} {d.max():12.3g} {d.mean():12.3g} {x[:, 0].mean():10.4f} {x[:, 1].mean():10.4f}  "
              f"{int((d > tol).sum())}")
    for p in common[:3]:
        print(p, {k: (a[p].get(k), b[p].get(k)) for k in ("psnr_in", "psnr_out", "drift")})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("input", nargs="?", help="folder of images")
    p.add_argument("output", nargs="?", help="folder for the PNGs and metrics.jsonl")
    p.add_argument("--model", default=DEFAULT_MODEL, help="an ign .safetensors model (fashion28)")
    p.add_argument("--include", action="append", default=None, help="glob of files to do (default *.jpg)")
    p.add_argument("--batch", type=int, default=64, help="images per network call (ign's default 64)")
    p.add_argument("--workers", type=int, default=2, help="decode/encode threads")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--make-corpus", metavar="DIR", help="write the 1,000-JPEG test corpus to DIR and stop")
    p.add_argument("--compare", nargs=2, metavar=("IGN_METRICS", "PEER_METRICS"),
                   help="compare two metrics.jsonl files and stop")
    args = p.parse_args(argv)
    if args.make_corpus:
        return make_corpus(args.make_corpus)
    if args.compare:
        return compare(*args.compare)
    if not args.input or not args.output:
        p.error("give INPUT and OUTPUT folders")
    args.include = args.include or ["*.jpg"]
    run(args)


if __name__ == "__main__":
    main()
