"""Deterministic generator of synthetic SIIM-like chest-radiograph DICOM files.

Its command line is :mod:`pneumothorax.commands.sample`.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops
from pydicom import config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
)

from pneumothorax.files.atomic import write_atomically
from pneumothorax.labels import rle

logger = logging.getLogger(__name__)

__all__ = ["LABELS_NAME", "generate_sample"]

# Namespace for name-based (SHA-1, version 5) UUIDs behind every UID here.
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:pneumothorax:sample")

# SIIM images are ~1024 px over ~172 mm; keep the field of view when resizing.
_REFERENCE_SIZE = 1024
_REFERENCE_SPACING_MM = 0.168
# Anatomy is smooth, so it is synthesised small and upsampled for speed.
_MAX_SYNTH_SIZE = 256
# Margin of the shared noise tile, so each file can use a different window.
_NOISE_MARGIN = 64
_JPEG_QUALITY = 90
# Number of {-1, 0, 1} terms summed per grain pixel (sd = sqrt(2/3 * n)).
_GRAIN_TERMS = 4
_STUDY_EPOCH = dt.date(2019, 1, 1)

#: The label file's name, as in SIIM-ACR; the generator writes it next to the raw folder.
LABELS_NAME = "train-rle.csv"
#: SIIM's header: the second column name starts with a space (values follow ", ").
LABELS_HEADER = "ImageId, EncodedPixels"
# Every third file shows a pneumothorax (SIIM stage 1: about 2,400 of 10,700 images), by
# stratification like _is_jpeg, so any 3 consecutive files hold one and a split of a small
# sample still has positives on both sides.
_POSITIVE_EVERY = 3
# Chance that a positive image has a second region (in the other lung): a second row.
_SECOND_REGION_FRACTION = 0.25
# Crescent thickness and lowest extent, in units of the image side (0.01 = ~10 px at
# 1024): thin ones vanish when the image is shrunk to 64 px, thick ones do not.
_THICKNESS = (0.003, 0.02)
_LOWEST = (-0.3, 0.15)

#: Body position and size of one radiograph: (shift_x, shift_y, scale).
_Pose = tuple[float, float, float]


@dataclass(frozen=True)
class _Header:
    """Per-file identifiers and patient/study attributes."""

    index: int
    study_uid: UID
    series_uid: UID
    sop_uid: UID
    study_date: dt.date
    study_time: str
    birth_date: dt.date
    age: int
    sex: str
    view: str


def generate_sample(
    out_dir: str | Path,
    count: int = 100,
    seed: int = 0,
    size: int = 1024,
    jpeg_fraction: float = 0.75,
    *,
    skip_existing: bool = False,
    labels: str | Path | None = None,
) -> list[Path]:
    """Write ``count`` synthetic chest-radiograph DICOM files.

    Files are laid out like the SIIM-ACR dataset as
    ``<out_dir>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``, and their
    labels are written like SIIM's ``train-rle.csv``: every third image carries
    one or two synthetic pneumothoraces (a dark crescent along a lung's apex and lateral
    edge with a bright pleural line, some thin), each a row of run-length-encoded pixels.
    The output is a pure function of the arguments: the same arguments give
    byte-identical files, and file ``i`` does not depend on ``count``.

    Args:
        out_dir: Root directory of the generated tree (created if missing).
        count: Number of files to generate.
        seed: Seed selecting the sample; different seeds give different files.
        size: Width and height of each image in pixels.
        jpeg_fraction: Fraction of files stored as JPEG Baseline; the rest are
            uncompressed Explicit VR Little Endian.
        skip_existing: Leave a file that already exists at its path as it is, without
            building it again (its path comes from the header alone, which is cheap): for
            growing a large sample written earlier with the same arguments.
        labels: Where to write the labels; default ``train-rle.csv`` next to ``out_dir``.

    Returns:
        The paths of the generated files, sorted.

    Raises:
        ValueError: If an argument is out of range.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if size < 32:
        raise ValueError(f"size must be >= 32, got {size}")
    if not 0.0 <= jpeg_fraction <= 1.0:
        raise ValueError(f"jpeg_fraction must be in [0, 1], got {jpeg_fraction}")

    root = Path(out_dir)
    paths = []
    label_rows: list[str] = []
    written = 0
    for index in range(count):
        if skip_existing and (path := _path_of(root, index, seed)).exists():
            paths.append(path)
            label_rows += _labels_of(index, seed, size)
            continue
        path, changed, rows = _generate_one(root, index, seed, size, jpeg_fraction)
        paths.append(path)
        label_rows += rows
        written += changed
    labels_path = Path(labels) if labels is not None else root.parent / LABELS_NAME
    label_file = "".join([LABELS_HEADER + "\n", *label_rows]).encode("ascii")
    write_atomically(labels_path, label_file, keep_same=True)
    logger.info(
        "Generated %d synthetic DICOM files in %s (%d rewritten, %d unchanged)",
        count,
        root,
        written,
        count - written,
    )
    return sorted(paths)


def _path_of(root: Path, index: int, seed: int) -> Path:
    """Where file ``index`` goes: drawn from the start of its stream, as in _generate_one."""
    return _path_for(root, _draw_header(np.random.default_rng([seed, index]), seed, index))


def _labels_of(index: int, seed: int, size: int) -> list[str]:
    """File ``index``'s label rows without building its pixels, drawn as in _generate_one."""
    rng = np.random.default_rng([seed, index])
    header = _draw_header(rng, seed, index)
    return _label_rows(header, _draw_lesions(seed, index, size, _draw_pose(rng)))


def _label_rows(header: _Header, regions: list[np.ndarray]) -> list[str]:
    """SIIM's rows for one image: one per region, or one ``-1`` row."""
    encoded = [rle.encode(region) for region in regions] or [rle.NEGATIVE]
    return [f"{header.sop_uid}, {value}\n" for value in encoded]


def _path_for(root: Path, header: _Header) -> Path:
    """The SIIM layout: ``<study>/<series>/<sop>.dcm``."""
    return root / header.study_uid / header.series_uid / f"{header.sop_uid}.dcm"


def _generate_one(
    root: Path, index: int, seed: int, size: int, jpeg_fraction: float
) -> tuple[Path, bool, list[str]]:
    """Build file ``index`` and write it; return its path, whether it changed, its labels."""
    # Seeding per file (not one stream for the run) makes file i independent
    # of count; PCG64 streams are stable across platforms and numpy versions.
    rng = np.random.default_rng([seed, index])
    header = _draw_header(rng, seed, index)
    pose = _draw_pose(rng)
    regions = _draw_lesions(seed, index, size, pose)
    pixels = _synthesise_image(rng, size, pose, regions)
    dataset = _build_dataset(header, pixels, _is_jpeg(index, jpeg_fraction))

    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    path = _path_for(root, header)
    # An identical file is left untouched: its mtime stays, so DVC does not rehash it.
    changed = write_atomically(path, buffer.getvalue(), keep_same=True)
    return path, changed, _label_rows(header, regions)


def _uid(*parts: object) -> UID:
    """Return a stable UUID-derived ``2.25.`` UID (ISO/IEC 9834-8) for ``parts``.

    pydicom's ``generate_uid(prefix=None, ...)`` ignores ``entropy_srcs`` and
    returns a random UUID, and with a prefix it joins the sources without a
    separator, so (seed 1, file 23) would collide with (seed 12, file 3).
    A version-5 UUID over a "/"-joined name avoids both problems.
    """
    name = "/".join(str(part) for part in parts)
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}")


# Pinned instead of pydicom's defaults, which embed the pydicom version and
# would change the bytes (and the committed DVC hash) on every pydicom upgrade.
_IMPLEMENTATION_CLASS_UID = _uid("implementation")
_IMPLEMENTATION_VERSION_NAME = "PNEUMO_SAMPLE_1"


def _is_jpeg(index: int, jpeg_fraction: float) -> bool:
    """Decide compression by stratification rather than a random draw.

    Stratifying hits the requested fraction exactly in every window of files,
    so even small samples contain both transfer syntaxes.
    """
    return int((index + 1) * jpeg_fraction) > int(index * jpeg_fraction)


def _draw_header(rng: np.random.Generator, seed: int, index: int) -> _Header:
    """Derive the identifiers and draw the patient/study attributes of a file."""
    study_date = _STUDY_EPOCH + dt.timedelta(days=int(rng.integers(0, 365)))
    seconds = int(rng.integers(7 * 3600, 20 * 3600))
    study_time = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
    age = int(rng.integers(18, 91))
    # Birth falls 1..364 days before the age-th anniversary, so the patient is
    # exactly `age` on the study date; 2019 has no 29 February to trip replace().
    birth_date = study_date.replace(year=study_date.year - age) - dt.timedelta(
        days=int(rng.integers(1, 365))
    )
    sex = "M" if rng.random() < 0.55 else "F"
    view = "PA" if rng.random() < 0.6 else "AP"
    return _Header(
        index=index,
        study_uid=_uid(seed, index, "study"),
        series_uid=_uid(seed, index, "series"),
        sop_uid=_uid(seed, index, "sop"),
        study_date=study_date,
        study_time=study_time,
        birth_date=birth_date,
        age=age,
        sex=sex,
        view=view,
    )


def _build_dataset(header: _Header, pixels: np.ndarray, use_jpeg: bool) -> Dataset:
    """Assemble a SIIM-like Secondary Capture dataset around ``pixels``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = header.sop_uid
    meta.TransferSyntaxUID = JPEGBaseline8Bit if use_jpeg else ExplicitVRLittleEndian
    meta.ImplementationClassUID = _IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION_NAME

    ds = Dataset()
    ds.file_meta = meta
    _add_study_elements(ds, header)
    _add_image_elements(ds, pixels, use_jpeg)
    return ds


def _add_study_elements(ds: Dataset, header: _Header) -> None:
    """Add the SOP, patient, study and series elements of a SIIM file."""
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = header.sop_uid
    ds.StudyDate = header.study_date.strftime("%Y%m%d")
    ds.StudyTime = header.study_time
    ds.AccessionNumber = f"ACC{header.index:06d}"
    ds.Modality = "CR"
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = "Synthetic^Referrer"
    ds.InstitutionName = "Synthetic General Hospital"
    ds.SeriesDescription = f"view: {header.view}"
    # Deliberately identifying-looking so de-identification can be tested.
    ds.PatientName = f"Synthetic^Patient^{header.index:04d}"
    ds.PatientID = f"SYN-{header.index:06d}"
    ds.PatientBirthDate = header.birth_date.strftime("%Y%m%d")
    ds.PatientSex = header.sex
    # SIIM stores a bare number here rather than the standard '038Y' form;
    # silence pydicom's AS validation warning for this intentional deviation.
    with config.disable_value_validation():
        ds.PatientAge = str(header.age)
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = header.view
    ds.StudyInstanceUID = header.study_uid
    ds.SeriesInstanceUID = header.series_uid
    ds.StudyID = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""


def _add_image_elements(ds: Dataset, pixels: np.ndarray, use_jpeg: bool) -> None:
    """Add the image pixel module and Pixel Data, JPEG-encapsulated or raw."""
    rows, columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    spacing = f"{_REFERENCE_SPACING_MM * _REFERENCE_SIZE / columns:.6g}"
    ds.PixelSpacing = [spacing, spacing]
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if use_jpeg:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.add_new(0x7FE00010, "OB", encapsulate([_encode_jpeg(pixels)]))
        # Encapsulated Pixel Data must be written with undefined length.
        ds["PixelData"].is_undefined_length = True
    else:
        # Set directly: set_pixel_data() would mint a new SOPInstanceUID.
        ds.add_new(0x7FE00010, "OB", pixels.tobytes())


def _encode_jpeg(pixels: np.ndarray) -> bytes:
    """Encode an 8-bit greyscale image as a baseline JPEG bitstream."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(
        buffer, format="JPEG", quality=_JPEG_QUALITY, optimize=False
    )
    return buffer.getvalue()


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """Cubic ease from 0 (t <= 0) to 1 (t >= 1)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _soft_ellipse(
    x: np.ndarray,
    y: np.ndarray,
    centre: tuple[float, float],
    radii: tuple[float | np.ndarray, float],
    edge: float,
) -> np.ndarray:
    """Return ~1 inside the ellipse, ~0 outside, with a soft border of ``edge``."""
    (cx, cy), (rx, ry) = centre, radii
    radius = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return 1.0 - _smoothstep((radius - 1.0 + edge) / (2.0 * edge))


def _band(distance: np.ndarray, half_width: float) -> np.ndarray:
    """Return a soft bright band profile that peaks where ``distance`` is 0."""
    return 1.0 - _smoothstep(np.abs(distance) / half_width)


def _synthesise_image(
    rng: np.random.Generator, size: int, pose: _Pose, regions: list[np.ndarray]
) -> np.ndarray:
    """Draw one anatomy-like chest radiograph as a ``size`` x ``size`` uint8 array.

    Only +, -, *, /, sqrt and clipping are used in floating point, all of which
    IEEE 754 rounds exactly; transcendental functions (exp, cos) are avoided
    because numpy's SIMD implementations may differ in the last bit between
    CPUs, which could change a rounded pixel and so the committed DVC hash.
    """
    low = min(size, _MAX_SYNTH_SIZE)
    picture = Image.fromarray(_draw_anatomy(rng, low, pose), mode="L")
    if low != size:
        # Pillow's 8-bit resampler is fixed-point, so it is bit-reproducible.
        picture = picture.resize((size, size), Image.Resampling.BICUBIC)
    if regions:
        # Drawn at full resolution, after the upsampling, so thin ones stay thin.
        picture = Image.fromarray(_draw_pneumothorax(np.asarray(picture), regions), mode="L")

    # Fine grain at full resolution from a shared tile, windowed per file;
    # ImageChops does the saturating add in one C pass.
    dx, dy = (int(value) for value in rng.integers(0, _NOISE_MARGIN + 1, size=2))
    grain = _noise_tile(size).crop((dx, dy, dx + size, dy + size))
    return np.asarray(ImageChops.add(picture, grain, scale=1.0, offset=-128))


def _draw_pose(rng: np.random.Generator) -> _Pose:
    """Draw the per-file patient position and habitus that all structures share."""
    # float() keeps the scalars "weak" so arithmetic stays in float32 under NEP 50.
    shift_x = float(rng.uniform(-0.03, 0.03))
    shift_y = float(rng.uniform(-0.025, 0.025))
    scale = float(rng.uniform(0.93, 1.06))
    return shift_x, shift_y, scale


def _draw_lesions(seed: int, index: int, size: int, pose: _Pose) -> list[np.ndarray]:
    """Draw file ``index``'s pneumothorax regions as ``size`` x ``size`` boolean masks.

    A stream of its own (not the file's), so the images without one keep their bytes.
    """
    if index % _POSITIVE_EVERY != _POSITIVE_EVERY - 1:
        return []
    rng = np.random.default_rng([seed, index, 1])
    first_side = -1.0 if rng.random() < 0.5 else 1.0
    sides = [first_side]
    if rng.random() < _SECOND_REGION_FRACTION:
        sides.append(-first_side)
    regions = []
    for side in sides:
        thickness = float(rng.uniform(*_THICKNESS))
        lowest = float(rng.uniform(*_LOWEST))
        regions.append(_crescent(size, pose, side, thickness, lowest))
    return regions


def _crescent(size: int, pose: _Pose, side: float, thickness: float, lowest: float) -> np.ndarray:
    """A crescent inside one lung along its apex and lateral edge, down to ``lowest``.

    The region inside the lung field but outside the same field moved medially and down
    and shrunk by ``thickness``: thickest at the lateral wall, thinning towards its ends.
    """
    shift_x, shift_y, scale = pose
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    u = (coords[np.newaxis, :] - 0.5 - shift_x) / scale
    v = (coords[:, np.newaxis] - 0.5 - shift_y) / scale
    # The lung ellipse of _lung_fields (centre, taper), seen from its own centre.
    taper = np.clip(0.8 + 0.5 * (v + 0.05), 0.55, 1.1)
    du, dv = u - 0.2 * side, v + 0.02
    outer = (du / (0.15 * taper)) ** 2 + (dv / 0.34) ** 2
    inner_u = (du + side * 1.5 * thickness) / (0.15 * taper - 1.5 * thickness)
    inner_v = (dv - thickness) / (0.34 - thickness)
    inner = inner_u**2 + inner_v**2
    return (outer < 1.0) & (inner > 1.0) & (v < lowest)


def _draw_pneumothorax(picture: np.ndarray, regions: list[np.ndarray]) -> np.ndarray:
    """Darken each region (air, no lung markings) and brighten its medial border.

    Integer arithmetic only, so the pixels are the same on every CPU.
    """
    pixels = picture.astype(np.int16)
    for region in regions:
        # The collapsed lung's visceral pleura: the pixels just medial of the region.
        line = np.zeros_like(region)
        line[:, 1:] |= region[:, :-1]
        line[:, :-1] |= region[:, 1:]
        line[1:, :] |= region[:-1, :]
        line &= ~region
        pixels[region] = pixels[region] * 5 // 8
        pixels[line] += 40
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _draw_anatomy(rng: np.random.Generator, low: int, pose: _Pose) -> np.ndarray:
    """Draw the smooth anatomy of one radiograph as a ``low`` x ``low`` uint8 array."""
    # float32 halves memory traffic; it is as exactly rounded as float64.
    coords = (np.arange(low, dtype=np.float32) + 0.5) / low
    x = coords[np.newaxis, :]
    y = coords[:, np.newaxis]

    # Per-file variation of habitus and exposure (position: _draw_pose). float()
    # keeps the scalars "weak" so arithmetic stays in float32 under NEP 50.
    shift_x, shift_y, scale = pose
    heart_scale = float(rng.uniform(0.85, 1.2))
    rib_phase = float(rng.uniform(0.0, 1.0))
    rib_spacing = float(rng.uniform(0.085, 0.1))
    lung_darkness = float(rng.uniform(0.5, 0.65))
    contrast = float(rng.uniform(0.9, 1.1))
    brightness = float(rng.uniform(-12.0, 12.0))
    vignette = float(rng.uniform(0.3, 0.6))
    # Body-centred, scaled coordinates so all structures move together.
    u = (x - 0.5 - shift_x) / scale
    v = (y - 0.5 - shift_y) / scale
    ax = np.abs(u)

    # Body silhouette: trunk, shoulders and neck; air only at the margins.
    trunk = _soft_ellipse(u, v, (0.0, 0.3), (0.44, 0.8), 0.08)
    shoulders = _soft_ellipse(u, v, (0.0, -0.2), (0.5, 0.2), 0.15)
    neck = _soft_ellipse(u, v, (0.0, -0.5), (0.11, 0.3), 0.3)
    body = np.maximum(np.maximum(trunk, shoulders), neck)

    lungs = _lung_fields(u, v)

    # Mediastinum and heart overlie the medial lungs and hide them.
    mediastinum = _soft_ellipse(u, v, (0.0, -0.02), (0.075, 0.42), 0.35)
    heart = _soft_ellipse(u, v, (0.06, 0.12), (0.17 * heart_scale, 0.14 * heart_scale), 0.3)
    centre = np.maximum(mediastinum, heart)
    spine = _band(u, 0.035)

    ribs = _ribs(v, ax, rib_spacing, rib_phase)

    # Clavicles: bars rising laterally over the lung apices.
    clavicle_y = -0.3 - 0.15 * (ax - 0.05)
    clavicles = _band(v - clavicle_y, 0.02) * _band(ax - 0.16, 0.13)

    # Low-frequency mottle stands in for vascular markings and soft tissue.
    mottle_small = rng.integers(0, 256, size=(12, 12), dtype=np.uint8)
    mottle_img = Image.fromarray(mottle_small, mode="L").resize(
        (low, low), Image.Resampling.BICUBIC
    )
    mottle = (np.asarray(mottle_img, dtype=np.float32) - 128.0) / 128.0

    # Compose on a 0..255 scale; MONOCHROME2, so bone and tissue are bright.
    soft_tissue = 150.0 + 20.0 * mottle
    image = 14.0 + body * (
        soft_tissue * (1.0 - lung_darkness * lungs * (1.0 - centre))
        + 55.0 * centre
        + 18.0 * spine
        + 30.0 * ribs * (0.4 + 0.6 * lungs) * (1.0 - 0.8 * centre)
        + 45.0 * clavicles
    )
    radius2 = (x - 0.5) * (x - 0.5) + (y - 0.5) * (y - 0.5)
    image = image * (1.0 - vignette * radius2)
    image = (image - 110.0) * contrast + 110.0 + brightness * body
    return np.clip(image + 0.5, 0.0, 255.0).astype(np.uint8)


def _lung_fields(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the soft mask of both lung fields in body-centred coordinates."""
    # Lungs: soft ellipses whose lower edge is cut by a diaphragm dome that is
    # highest mid-lung and falls towards the costophrenic angles.
    # Widening the ellipses downwards gives narrow apices and broad bases.
    taper = np.clip(0.8 + 0.5 * (v + 0.05), 0.55, 1.1)
    lung_l = _soft_ellipse(u, v, (-0.2, -0.02), (0.16 * taper, 0.36), 0.22)
    lung_r = _soft_ellipse(u, v, (0.2, -0.03), (0.16 * taper, 0.36), 0.22)
    dome_l = 0.2 + 1.6 * (u + 0.19) * (u + 0.19)
    dome_r = 0.17 + 1.6 * (u - 0.19) * (u - 0.19)
    lung_l = lung_l * (1.0 - _smoothstep((v - dome_l + 0.02) / 0.05))
    lung_r = lung_r * (1.0 - _smoothstep((v - dome_r + 0.02) / 0.05))
    return np.maximum(lung_l, lung_r)


def _ribs(v: np.ndarray, ax: np.ndarray, spacing: float, phase_offset: float) -> np.ndarray:
    """Return the posterior rib pattern, confined to the rib cage."""
    # Posterior ribs: arcs rising from the spine and curving down laterally,
    # repeated with a triangle wave (instead of cos) to stay bit-reproducible.
    arc = v + 0.45 * ax - 1.9 * ax * ax
    phase = arc / spacing + phase_offset
    tri = np.abs(2.0 * (phase - np.floor(phase)) - 1.0)
    ribs = _smoothstep((tri - 0.5) / 0.4)
    cage = _smoothstep((ax - 0.04) / 0.06) * _smoothstep((0.4 - ax) / 0.05)
    cage = cage * _smoothstep((v + 0.36) / 0.06) * _smoothstep((0.26 - v) / 0.1)
    return ribs * cage


@functools.lru_cache(maxsize=4)
def _noise_tile(size: int) -> Image.Image:
    """Return a fixed grain tile, offset by 128, larger than ``size`` by the margin.

    Sums of small integers approximate Gaussian grain (sd ~1.7) with integer
    arithmetic only, which is exactly reproducible across platforms.
    """
    rng = np.random.default_rng([0x5EED, size])
    side = size + _NOISE_MARGIN
    parts = rng.integers(-1, 2, size=(_GRAIN_TERMS, side, side), dtype=np.int16)
    tile = parts.sum(axis=0, dtype=np.int16) + 128
    return Image.fromarray(tile.astype(np.uint8), mode="L")
