"""Image output: PNGs that carry their own generation recipe, and uploads that fit a size cap.

Why: a generated image is only reproducible (and shareable to other tools) if the prompt,
seed and settings travel with it. We embed them the way AUTOMATIC1111 does (a `parameters`
text chunk that A1111, ComfyUI, Civitai and most viewers read), plus Huayi's own JSON chunk
and a JSON sidecar for our tooling. Writes are atomic so a crash never leaves half a PNG,
and `fit_to_limit` re-encodes only as much as needed to get under Discord's upload limit.

Everything here is blocking CPU/disk work: call it through `asyncio.to_thread` from the bot.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

if TYPE_CHECKING:
    from .backends.base import GeneratedImage, GenerationResult
    from .request import GenerationRequest

__all__ = [
    "DISCORD_DEFAULT_FILE_LIMIT",
    "MIN_LONG_SIDE",
    "WEBP_QUALITIES",
    "JPEG_QUALITIES",
    "DOWNSCALE_STEP",
    "ImageMetadata",
    "SavedImage",
    "EncodedImage",
    "save_image",
    "read_metadata",
    "fit_to_limit",
    "image_directory",
    "make_stem",
]

# Discord's per-file upload limit for servers without boosts.
DISCORD_DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
# fit_to_limit never shrinks the long side below this; smaller is useless as an artwork.
MIN_LONG_SIDE = 256
WEBP_QUALITIES: tuple[int, ...] = (95, 90, 85, 80, 70, 60, 50)
JPEG_QUALITIES: tuple[int, ...] = (95, 90, 85, 80, 70, 60, 50)
DOWNSCALE_STEP = 0.85

PARAMETERS_KEY = "parameters"  # the A1111 chunk name every SD tool looks for
HUAYI_KEY = "huayi"  # our lossless JSON copy of ImageMetadata

_STEM_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
_NEGATIVE_PREFIX = "Negative prompt:"
# AUTOMATIC1111's own infotext pattern (modules/infotext_utils.py), so we read what A1111 reads.
_PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")
_EXIF_IFD = 0x8769
_EXIF_USER_COMMENT = 0x9286
_SUFFIXES = {"png": ".png", "webp": ".webp", "jpeg": ".jpg"}
_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG"}


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _quote(value: object) -> str:
    """A1111's `quote`: JSON-quote a value that would break the `k: v, k: v` line.

    A1111 quotes on ',', ':' and newlines; we also quote '"', '\\r' and edge whitespace so
    that every value reads back exactly (A1111 still parses the result).
    """
    text = str(value)
    if re.search(r'[,:"\n\r]', text) or text != text.strip():
        return json.dumps(text, ensure_ascii=False)
    return text


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text


@dataclass(frozen=True)
class ImageMetadata:
    """The full recipe of one generated image, written into the PNG and its sidecar."""

    prompt: str
    negative_prompt: str
    steps: int
    sampler: str
    cfg: float
    seed: int
    width: int
    height: int
    model: str
    backend: str
    style_id: str | None = None
    prompt_2: str | None = None
    job_id: str | None = None
    created_at: str = field(default_factory=_utc_now_iso)

    def __post_init__(self) -> None:
        # Normalise numeric types so JSON, equality and the infotext agree (cfg=6 → 6.0).
        for name in ("steps", "seed", "width", "height"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "cfg", float(self.cfg))

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_generation(
        cls,
        request: GenerationRequest,
        result: GenerationResult,
        image: GeneratedImage,
        *,
        job_id: str | None = None,
        created_at: str | None = None,
    ) -> ImageMetadata:
        """Metadata for one image of a finished request (the seed is the image's own)."""
        width, height = image.image.size
        return cls(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            steps=request.steps,
            sampler=result.sampler,
            cfg=request.cfg,
            seed=image.seed,
            width=width,
            height=height,
            model=result.model,
            backend=result.backend,
            style_id=request.style_id,
            prompt_2=request.prompt_2,
            job_id=job_id,
            created_at=created_at or _utc_now_iso(),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageMetadata:
        """Inverse of `to_dict`; unknown keys are ignored so newer files still load."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not Huayi image metadata: {exc}") from exc

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    # ---- AUTOMATIC1111 infotext ---------------------------------------------------------

    def parameters_text(self) -> str:
        """The A1111 `parameters` infotext: prompt, `Negative prompt: …`, then one settings line.

        The settings line starts `Steps, Sampler, CFG scale, Seed, Size, Model` exactly as A1111
        writes them, then Huayi's extra keys (Backend, Style, Prompt 2, Job ID, Created) so that
        `parse_parameters` can rebuild the whole record; A1111 treats extra keys as it does its own.
        """
        params: list[tuple[str, object]] = [
            ("Steps", self.steps),
            ("Sampler", self.sampler),
            ("CFG scale", self.cfg),
            ("Seed", self.seed),
            ("Size", f"{self.width}x{self.height}"),
            ("Model", self.model),
            ("Backend", self.backend),
        ]
        if self.style_id is not None:
            params.append(("Style", self.style_id))
        if self.prompt_2 is not None:
            params.append(("Prompt 2", self.prompt_2))
        if self.job_id is not None:
            params.append(("Job ID", self.job_id))
        params.append(("Created", self.created_at))
        line = ", ".join(f"{key}: {_quote(value)}" for key, value in params)
        head = self.prompt
        if self.negative_prompt:
            head += f"\n{_NEGATIVE_PREFIX} {self.negative_prompt}"
        return f"{head}\n{line}" if head else line

    @classmethod
    def parse_parameters(cls, text: str) -> ImageMetadata:
        """Read an A1111 infotext (ours or A1111's own) back into metadata.

        Follows A1111's rules: the last line is the settings line if it holds at least three
        `key: value` pairs; the negative prompt starts at the first line beginning with
        `Negative prompt:`. Fields A1111 doesn't write (backend, created_at) default to "".
        Raises ValueError when the text carries no usable settings.
        """
        lines = [line.removesuffix("\r") for line in text.rstrip().split("\n")]
        last = lines[-1] if lines else ""
        pairs = _PARAM_RE.findall(last)
        if len(pairs) < 3:
            raise ValueError("no generation settings line (Steps: …, Sampler: …, …) in parameters text")
        lines = lines[:-1]

        prompt_lines: list[str] = []
        negative_lines: list[str] = []
        in_negative = False
        for line in lines:
            if not in_negative and line.startswith(_NEGATIVE_PREFIX):
                in_negative = True
                line = line[len(_NEGATIVE_PREFIX) :]
                line = line[1:] if line.startswith(" ") else line
            (negative_lines if in_negative else prompt_lines).append(line)

        values = {key.strip(): _unquote(value) for key, value in pairs}
        size = _SIZE_RE.match(values.get("Size", "").strip())
        try:
            if size is None:
                raise ValueError(f"bad Size {values.get('Size')!r}")
            return cls(
                prompt="\n".join(prompt_lines),
                negative_prompt="\n".join(negative_lines),
                steps=int(values["Steps"]),
                sampler=values.get("Sampler", ""),
                cfg=float(values["CFG scale"]),
                seed=int(values["Seed"]),
                width=int(size.group(1)),
                height=int(size.group(2)),
                model=values.get("Model", ""),
                backend=values.get("Backend", ""),
                style_id=values.get("Style"),
                prompt_2=values.get("Prompt 2"),
                job_id=values.get("Job ID"),
                created_at=values.get("Created", ""),
            )
        except KeyError as exc:
            raise ValueError(f"parameters text lacks {exc.args[0]!r}") from exc


@dataclass(frozen=True)
class SavedImage:
    png_path: Path
    json_path: Path
    bytes: int


@dataclass(frozen=True)
class EncodedImage:
    """Bytes ready to upload, and what they are."""

    data: bytes
    format: str  # "png" | "webp" | "jpeg"
    filename_suffix: str  # ".png" | ".webp" | ".jpg"
    width: int
    height: int
    quality: int | None  # None for PNG

    @property
    def size(self) -> int:
        return len(self.data)


# ---- saving ---------------------------------------------------------------------------------


def make_stem(*parts: object) -> str:
    """A valid `save_image` stem from arbitrary parts (e.g. job id, index, seed)."""
    raw = "_".join(str(p) for p in parts if p is not None and str(p) != "")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).lstrip(".")[:100]
    return stem or "image"


def _check_stem(stem: str) -> None:
    if not isinstance(stem, str) or not _STEM_RE.fullmatch(stem):
        raise ValueError(
            f"invalid file stem {stem!r}: use 1-100 of [A-Za-z0-9._-], not starting with '.'"
        )


def _text_chunk(info: PngInfo, key: str, value: str) -> None:
    # ASCII goes in tEXt, which every reader understands; anything else in UTF-8 iTXt,
    # because tEXt is Latin-1 only and many tools mis-decode its non-ASCII bytes.
    if value.isascii():
        info.add_text(key, value)
    else:
        info.add_itxt(key, value)


def _png_ready(image: Image.Image) -> Image.Image:
    if image.mode in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _encode_png(
    image: Image.Image, parameters: str | None, extra: Mapping[str, str] | None = None
) -> bytes:
    info = PngInfo()
    if parameters:
        _text_chunk(info, PARAMETERS_KEY, parameters)
    for key, value in (extra or {}).items():
        _text_chunk(info, key, value)
    buf = io.BytesIO()
    _png_ready(image).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + fsync + os.replace: all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; saved images are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _inside(directory: Path, name: str) -> Path:
    root = directory.resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise ValueError(f"refusing to write {name!r} outside {root}")
    return target


def save_image(image: Image.Image, metadata: ImageMetadata, directory: Path, stem: str) -> SavedImage:
    """Write `<stem>.png` (A1111 `parameters` + `huayi` JSON chunks) and `<stem>.json`, atomically.

    Raises ValueError for an unsafe stem. An existing file of the same name is replaced whole.
    """
    _check_stem(stem)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png_path = _inside(directory, f"{stem}.png")
    json_path = _inside(directory, f"{stem}.json")

    png = _encode_png(image, metadata.parameters_text(), {HUAYI_KEY: metadata.to_json()})
    _atomic_write(png_path, png)
    sidecar = metadata.to_json(indent=2) + "\n"
    _atomic_write(json_path, sidecar.encode("utf-8"))
    return SavedImage(png_path=png_path, json_path=json_path, bytes=len(png))


# ---- reading --------------------------------------------------------------------------------


def _decode_user_comment(raw: object) -> str | None:
    """EXIF UserComment: an 8-byte charset header, then the text (A1111/piexif style)."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    header, body = raw[:8], raw[8:]
    if header.startswith(b"UNICODE"):
        # piexif writes big-endian UTF-16; some writers use little-endian with a BOM.
        if body.startswith(b"\xff\xfe"):
            return body[2:].decode("utf-16-le", errors="replace")
        if body.startswith(b"\xfe\xff"):
            body = body[2:]
        return body.decode("utf-16-be", errors="replace")
    if header.startswith(b"ASCII"):
        return body.decode("ascii", errors="replace").rstrip("\x00")
    return body.decode("utf-8", errors="replace").rstrip("\x00")


def _encode_user_comment(text: str) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be")


def _texts_of(image: Image.Image) -> dict[str, str]:
    texts: dict[str, str] = {}
    for key, value in getattr(image, "text", {}).items():  # PNG tEXt/iTXt/zTXt
        texts[key] = str(value)
    for key in (PARAMETERS_KEY, HUAYI_KEY):
        value = image.info.get(key)
        if isinstance(value, str) and key not in texts:
            texts[key] = value
    if PARAMETERS_KEY not in texts:
        with contextlib.suppress(Exception):
            comment = _decode_user_comment(image.getexif().get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT))
            if comment:
                texts[PARAMETERS_KEY] = comment
    return texts


def read_metadata(png_path: Path) -> ImageMetadata:
    """Metadata of a saved image: the `huayi` JSON chunk, else the A1111 `parameters` text.

    Also reads WebP/JPEG made by `fit_to_limit` (EXIF UserComment). Raises ValueError if the
    file carries neither.
    """
    with Image.open(png_path) as image:
        texts = _texts_of(image)
    huayi = texts.get(HUAYI_KEY)
    if huayi:
        try:
            data = json.loads(huayi)
        except ValueError:
            data = None
        if isinstance(data, dict):
            with contextlib.suppress(ValueError):
                return ImageMetadata.from_dict(data)
    parameters = texts.get(PARAMETERS_KEY)
    if parameters:
        return ImageMetadata.parse_parameters(parameters)
    raise ValueError(f"{png_path} carries no generation metadata")


# ---- fitting under an upload limit --------------------------------------------------------


def _rgb_on_white(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: flatten transparency onto white instead of Pillow's black."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "A" in image.getbands():
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def _webp_ready(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def _exif_with(parameters: str | None) -> Image.Exif | None:
    if not parameters:
        return None
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_EXIF_USER_COMMENT] = _encode_user_comment(parameters)
    return exif


def _encode_lossy(image: Image.Image, fmt: str, quality: int, exif: Image.Exif | None) -> bytes:
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": quality}
    if exif is not None:
        kwargs["exif"] = exif
    if fmt == "jpeg":
        kwargs["optimize"] = True
    try:
        image.save(buf, _PIL_FORMATS[fmt], **kwargs)
    except (OSError, ValueError):
        if exif is None:
            raise
        # e.g. an EXIF block over JPEG's 64 KiB segment limit: keep the image, drop the text.
        buf = io.BytesIO()
        kwargs.pop("exif")
        image.save(buf, _PIL_FORMATS[fmt], **kwargs)
    return buf.getvalue()


def _best_quality(
    image: Image.Image, fmt: str, qualities: Sequence[int], limit: int, exif: Image.Exif | None
) -> tuple[bytes | None, int | None, int]:
    """(bytes, quality) of the highest quality that fits, or (None, None); plus the smallest size.

    Size falls with quality, so we try the lowest first (one encode rejects the format),
    then binary-search the rest: ~3 encodes instead of up to 7 when it does fit.
    """
    ready = _rgb_on_white(image) if fmt == "jpeg" else _webp_ready(image)
    ordered = sorted(qualities, reverse=True)  # best first
    cache: dict[int, bytes] = {}

    def encode(i: int) -> bytes:
        if i not in cache:
            cache[i] = _encode_lossy(ready, fmt, ordered[i], exif)
        return cache[i]

    lowest = len(encode(len(ordered) - 1))
    if lowest > limit:
        return None, None, lowest
    lo, hi = 0, len(ordered) - 1  # the answer is in [lo, hi]; hi is known to fit
    while lo < hi:
        mid = (lo + hi) // 2
        if len(encode(mid)) <= limit:
            hi = mid
        else:
            lo = mid + 1
    return encode(hi), ordered[hi], lowest


def _load(source: Path | str | Image.Image) -> tuple[Image.Image, bytes | None, str | None]:
    if isinstance(source, Image.Image):
        return source, None, None
    data = Path(source).read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image, data, (image.format or "").lower() or None


def _normalise_formats(formats: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for fmt in formats:
        name = {"jpg": "jpeg"}.get(fmt.lower(), fmt.lower())
        if name not in _SUFFIXES:
            raise ValueError(f"unknown format {fmt!r}; choose from png, webp, jpeg")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("formats must name at least one of png, webp, jpeg")
    return tuple(out)


def fit_to_limit(
    png_path_or_image: Path | str | Image.Image,
    limit_bytes: int,
    *,
    formats: Sequence[str] = ("png", "webp", "jpeg"),
    parameters: str | None = None,
) -> EncodedImage:
    """The least-degraded encoding of an image that is at most `limit_bytes` long.

    Order: the original file's bytes untouched (or a fresh PNG of an in-memory image); then
    WebP at quality 95…50; then JPEG 95…50; then the same lossy ladder on copies downscaled
    by 0.85 per step (a step whose size estimate from the last try is still too big is
    skipped). PNG is retried at smaller sizes only when it is the sole allowed format. The
    long side never goes below MIN_LONG_SIDE (256 px; the last step is clamped to it); if
    nothing fits by then, ValueError. The A1111 `parameters` text (from the image, or the
    `parameters` argument) is kept: as a PNG chunk, or EXIF UserComment in WebP/JPEG.
    """
    if limit_bytes <= 0:
        raise ValueError(f"limit_bytes must be positive, got {limit_bytes}")
    allowed = _normalise_formats(formats)
    image, original, original_format = _load(png_path_or_image)
    if parameters is None:
        parameters = _texts_of(image).get(PARAMETERS_KEY)
    width, height = image.size

    if original is not None and original_format in allowed and len(original) <= limit_bytes:
        return EncodedImage(
            original, original_format, _SUFFIXES[original_format], width, height, None
        )
    png_size: int | None = None
    if "png" in allowed and (original is None or original_format != "png"):
        png = _encode_png(image, parameters)
        if len(png) <= limit_bytes:
            return EncodedImage(png, "png", ".png", width, height, None)
        png_size = len(png)
    elif original is not None and original_format == "png":
        png_size = len(original)

    lossy = [f for f in allowed if f != "png"]
    exif = _exif_with(parameters)
    long_side = max(width, height)
    scale = 1.0
    smallest_seen: int | None = png_size if not lossy else None
    while True:
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            current = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            smallest_seen = None
            if not lossy:
                png = _encode_png(current, parameters)
                if len(png) <= limit_bytes:
                    return EncodedImage(png, "png", ".png", size[0], size[1], None)
                smallest_seen = len(png)
        else:
            size, current = (width, height), image
        for fmt in lossy:
            qualities = WEBP_QUALITIES if fmt == "webp" else JPEG_QUALITIES
            data, quality, lowest = _best_quality(current, fmt, qualities, limit_bytes, exif)
            if data is not None:
                return EncodedImage(data, fmt, _SUFFIXES[fmt], size[0], size[1], quality)
            smallest_seen = lowest if smallest_seen is None else min(smallest_seen, lowest)

        next_scale = _next_scale(scale, long_side, smallest_seen, limit_bytes)
        if next_scale is None:
            raise ValueError(
                f"cannot fit a {width}x{height} image into {limit_bytes} bytes with "
                f"{'/'.join(allowed)}: still {smallest_seen} bytes at "
                f"{size[0]}x{size[1]}, and the long side may not go below {MIN_LONG_SIDE}px"
            )
        scale = next_scale


def _next_scale(scale: float, long_side: int, smallest: int | None, limit: int) -> float | None:
    """The next 0.85 step worth trying, or None once the 256 px floor is reached."""
    floor = min(1.0, MIN_LONG_SIDE / long_side)
    if scale <= floor + 1e-9:
        return None
    candidate = scale * DOWNSCALE_STEP
    if smallest:
        # Encoded size shrinks roughly with pixel count (rarely faster): skip steps whose
        # estimate is still over the limit instead of paying for encodes that cannot fit.
        while candidate > floor and smallest * (candidate / scale) ** 2 > limit:
            candidate *= DOWNSCALE_STEP
    return max(candidate, floor)


# ---- layout ---------------------------------------------------------------------------------


def image_directory(data_dir: Path, when: datetime | None = None) -> Path:
    """`data_dir/images/YYYY/MM/DD` (UTC date; naive datetimes are taken as UTC). Not created."""
    moment = when or datetime.now(UTC)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return Path(data_dir) / "images" / f"{moment:%Y}" / f"{moment:%m}" / f"{moment:%d}"
