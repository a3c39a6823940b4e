"""The groklst checkpoint: one file that is enough to downscale with.

A checkpoint holds the model name and constructor arguments, the scale, the guidance band
names in order, the z-score statistics of LST and of each band (and, for a fitted model, the
range of the guidance it was fitted on), the training resolution and
config, the groklst version and the weights of the unwrapped model. It is saved with
``torch.save`` from plain Python values and tensors only, and loaded with
``weights_only=True``: no arbitrary pickle is ever executed.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path, PurePath
from typing import Any

import torch
from torch import nn

from models.registry import build_model, get_spec
from pipelines.atomic import atomic_output, refuse_input_as_output
from pipelines.errors import InputError, TypedPath, escape_control_characters, not_found_error, special_file_error
from pipelines.file_headers import TORCH_HEADERS, refuse_foreign_file
from pipelines.geotiff import write_failed
from pipelines.run_layout import BEST, LAST, STATE

FORMAT = "groklst-checkpoint/1"


def groklst_version() -> str:
    """The installed groklst version (for provenance)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("groklst")
    except PackageNotFoundError:
        return "0.0.0+unknown"


# A model writing pixels this many times coarser or finer than it was trained to gets a
# warning: the textures it learned belong to another scale.
RESOLUTION_WARNING_RATIO = 1.5


def _how(ratio: float) -> str:
    """A pixel-size ratio in words: ``2x coarser``, ``1.5x finer``, ``100x coarser``."""
    factor = ratio if ratio > 1 else 1 / ratio
    text = f"{factor:.2g}"
    if "e" in text:  # 99.6 is "1e+02" at 2 digits
        text = f"{factor:.0f}"
    return f"{text}x coarser" if ratio > 1 else f"{text}x finer"


def save_torch(obj: Any, tmp: Path, path: str | os.PathLike[str]) -> None:
    """``torch.save`` of ``obj`` into ``tmp`` (the temporary of ``path``); a failed write is one
    line naming ``path`` and its cause where known (a file-size limit, a full disk): torch raises
    its zip writer's RuntimeError (``unexpected pos 90496 vs 90384``), not an OSError."""
    try:
        torch.save(obj, tmp)
    except RuntimeError as exc:  # torch's zip writer failed to write
        raise write_failed(path, exc, tmp) from exc


@dataclass
class Checkpoint:
    """Everything needed to rebuild a model and feed it correctly normalised inputs."""

    model: str
    scale: int
    bands: list[str]
    lst_mean: float = 0.0
    lst_std: float = 1.0
    band_mean: list[float] = field(default_factory=list)
    band_std: list[float] = field(default_factory=list)
    # The per-band range of the guidance the model was fitted on, where it is applied to finer
    # guidance than it saw (``downscale --fit``): inference clips to it. Empty: no clipping.
    band_min: list[float] = field(default_factory=list)
    band_max: list[float] = field(default_factory=list)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    hr_resolution: float | None = None  # output pixel size of the training pairs
    hr_resolution_units: str | None = None  # its unit (m, deg, ...); None in older checkpoints
    config: dict[str, Any] = field(default_factory=dict)
    groklst_version: str = field(default_factory=groklst_version)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.bands)
        if not self.band_mean:
            self.band_mean = [0.0] * n
        if not self.band_std:
            self.band_std = [1.0] * n
        if len(self.band_mean) != n or len(self.band_std) != n:
            raise ValueError("band statistics must have one value per band")
        if len(self.band_min) != len(self.band_max) or len(self.band_min) not in (0, n):
            raise ValueError("the guidance range must have one minimum and maximum per band")

    @classmethod
    def untrained(cls, model: str, scale: int, bands: Sequence[str], **kwargs: Any) -> Checkpoint:
        """A checkpoint for a model without weights (bicubic, bilinear)."""
        if get_spec(model).learned:
            raise ValueError(f"model {model!r} needs trained weights; give a checkpoint file")
        return cls(model=model, scale=scale, bands=list(bands), **kwargs)

    def output_resolution(self) -> tuple[float, str] | None:
        """``(pixel size, unit)`` of the outputs this model was trained to write, if recorded.

        A network fitted on a scene (``downscale --fit``) learns from the scene's LST degraded
        by the scale and is then applied one scale finer, so its outputs are ``scale`` times
        finer than its training pairs.
        """
        if self.hr_resolution is None or self.hr_resolution_units is None:
            return None
        size = self.hr_resolution / self.scale if "fitted_on" in self.config else self.hr_resolution
        return size, self.hr_resolution_units

    def compare_resolution(self, size: float | tuple[float, float], unit: str) -> str | None:
        """How pixels of ``size`` ``unit`` (one size, or x and y sizes: pixels need not be square)
        differ from those the model was trained to write, e.g. ``"trained to write 10 m pixels,
        these are 20 m (2x coarser)"`` or ``"... these are 10 x 30 m (3x coarser in y)"``, when
        either axis is more than :data:`RESOLUTION_WARNING_RATIO` apart; ``None`` when both are
        closer or not comparable (no unit recorded, or another unit, such as degrees against metres)."""
        trained = self.output_resolution()
        if trained is None or trained[1] != unit:
            return None
        sizes = (size, size) if isinstance(size, (int, float)) else size
        ratios = [s / trained[0] for s in sizes]
        if all(1 / RESOLUTION_WARNING_RATIO <= r <= RESOLUTION_WARNING_RATIO for r in ratios):
            return None
        if math.isclose(sizes[0], sizes[1], rel_tol=1e-9):
            return f"trained to write {trained[0]:g} {unit} pixels, these are {sizes[0]:g} {unit} ({_how(ratios[0])})"
        off = [f"{_how(r)} in {axis}" for axis, r in zip("xy", ratios)
               if not 1 / RESOLUTION_WARNING_RATIO <= r <= RESOLUTION_WARNING_RATIO]
        return (f"trained to write {trained[0]:g} {unit} pixels, these are {sizes[0]:g} x {sizes[1]:g} {unit} "
                f"({', '.join(off)})")

    def build(self) -> nn.Module:
        """Construct the model and load the weights; in eval mode."""
        net = build_model(
            self.model, scale=self.scale, guidance_channels=len(self.bands), **self.model_kwargs
        )
        if self.state_dict:
            net.load_state_dict(self.state_dict)
        return net.eval()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        return data

    def save(self, path: str | os.PathLike[str], overwrite: bool = True) -> Path:
        """Write atomically (a killed save never leaves a truncated checkpoint)."""
        with self.staged(path, overwrite):
            pass
        return Path(path)

    @contextmanager
    def staged(self, path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
        """Write to a temporary name beside ``path`` and yield it; renamed onto ``path`` when the
        block ends without error, removed otherwise: a checkpoint published only together with
        what was made from it (``downscale --fit --save-checkpoint``). A failed write is one line
        naming ``path`` and its cause when known (a file-size limit, a full disk): torch raises
        its zip writer's RuntimeError (``unexpected pos 90496 vs 90384``), not an OSError."""
        with atomic_output(path, overwrite=overwrite) as tmp:
            save_torch(self.to_dict(), tmp, path)
            yield tmp

    def check_compatible(
        self,
        path: str | os.PathLike[str],
        *,
        model: str | None = None,
        scale: int | None = None,
        bands: Sequence[str] | None = None,
    ) -> None:
        """Refuse, with a clear message, a checkpoint for another model, scale or band set."""
        if model is not None and model != self.model:
            raise InputError(path, f"checkpoint is for model {self.model!r}, not {model!r}")
        if scale is not None and scale != self.scale:
            raise InputError(path, f"checkpoint is for x{self.scale}, but the data needs x{scale}")
        if bands is not None and set(bands) != set(self.bands):
            self.band_indices(path, bands)  # names the missing bands, if some are
            extra = [b for b in bands if b not in self.bands]
            raise InputError(path, f"the dataset has guidance band(s) {', '.join(extra)} the checkpoint was not "
                                   f"trained with (it was trained with {', '.join(self.bands)})",
                             OTHER_BANDS_HINT.format(path=path))

    def band_indices(self, path: str | os.PathLike[str], bands: Sequence[str]) -> list[int]:
        """Where each of the checkpoint's bands is among a dataset's guidance ``bands``, in the
        checkpoint's order (bands it was not trained with are left out, as ``downscale`` leaves
        them); refuses missing bands in the words of ``downscale``'s refusal (:func:`missing_bands`),
        and two bands of one name, as ``prepare`` and ``downscale`` do."""
        from pipelines.guidance import check_distinct_bands  # rasterio: not for every user of this module

        check_distinct_bands(path, bands, DISTINCT_DATASET_BANDS_HINT, what="the dataset's guidance band name")
        missing = [b for b in self.bands if b not in bands]
        if missing:
            raise InputError(path, f"the dataset is {missing_bands(missing, bands)}",
                             OTHER_BANDS_HINT.format(path=path))
        return [list(bands).index(b) for b in self.bands]


# A dataset prepared before prepare refused two bands of one name.
DISTINCT_DATASET_BANDS_HINT = ("prepare the dataset again from guidance whose bands have distinct names (name "
                               "them in file order with prepare --guidance-bands)")
OTHER_BANDS_HINT = ("evaluate a checkpoint trained on this dataset's bands, or a dataset prepared with the "
                    "checkpoint's (groklst checkpoint-info {path} lists them; prepare --guidance-bands names "
                    "a scene's bands in file order)")


def missing_bands(missing: Sequence[str], has: Sequence[str]) -> str:
    """``missing guidance band(s) ndvi, dem (has red, nir)``: the bands a model needs that the
    data lacks, and those it has (``downscale``'s and ``evaluate``'s refusal)."""
    return f"missing guidance band(s) {', '.join(missing)} (has {', '.join(has)})"


def state_dict_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Weights of the unwrapped model (no ``module.`` prefixes from DDP/DataParallel), on CPU."""
    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)  # torch.compile wrapper
    return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}


def file_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, for provenance tags."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint safely (``weights_only=True``); clear errors for anything else. A str
    ``path`` is named as typed (``./runs//r1/``), and so are the files its hints name in it."""
    p = Path(path)
    named = TypedPath(path) if isinstance(path, str) else p
    if p.is_dir():
        runs = sorted(q.name for q in p.glob("*.pt"))
        hint = f"e.g. {_in_folder(named, runs[0])}" if runs else "give a checkpoint file, e.g. RUN/best.pt"
        raise InputError(named, "is a folder, not a checkpoint file", hint)
    special = special_file_error(p)
    if special is not None:
        raise special
    if not p.is_file():
        raise not_found_error(named, "checkpoint file not found", _missing_hint(p, named))
    data = _read(p)
    _check_format(data, p)
    fields = _fields(data, p)
    _check_types(fields, p)
    try:
        ckpt = Checkpoint(**fields)
    except (TypeError, ValueError) as exc:
        raise InputError(p, f"checkpoint is malformed: {exc}") from exc
    try:
        get_spec(ckpt.model)
    except KeyError as exc:  # str() of a KeyError quotes its message: take the message itself
        raise InputError(p, f"checkpoint is for an {exc.args[0]}",
                         "a checkpoint names the model it was trained as, and this groklst has no such model: "
                         "it may come from a newer groklst (`groklst models` lists this one's)") from exc
    _check_statistics(ckpt, p)
    _check_weights(ckpt, p)
    return ckpt


SHOWN_NEIGHBOURS = 5  # checkpoints named in the hint for a missing one, at most


def _in_folder(folder: PurePath | str, name: str) -> str:
    """The file ``name`` in ``folder``, under the folder as named (as typed when a str)."""
    return str(folder / name) if isinstance(folder, PurePath) else os.path.join(folder, name)


def _missing_hint(path: Path, named: PurePath | str) -> str:
    """``check the path``, naming the checkpoints in the folder the path points into (a typo in
    a run's file name; its training state is no checkpoint), or where a training run keeps its own;
    the folder as ``named`` names it (``./runs//r1/bst.pt``: ``./runs//r1``)."""
    folder = path.parent
    shown = folder if isinstance(named, PurePath) else (os.path.dirname(named) or ".")
    found = sorted(q.name for q in folder.glob("*.pt") if q.is_file() and q.name != STATE) if folder.is_dir() else []
    if not found:
        return f"check the path; a training run writes RUN/{BEST} and RUN/{LAST}"
    more = f" and {len(found) - SHOWN_NEIGHBOURS} more" if len(found) > SHOWN_NEIGHBOURS else ""
    return f"check the path; {shown} holds {', '.join(found[:SHOWN_NEIGHBOURS])}{more}"




def check_checkpoint_name(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Refuse a checkpoint name (``--save-checkpoint``) where a file other than a PyTorch file
    lies: ``--overwrite`` would replace a user's file with the network; and a name that says a
    raster or a picture (``ck.tif``), which a rerun's output checks would take for a foreign file."""
    refuse_input_as_output(path, inputs)  # an input there is said as such, whatever its name
    suffix = Path(path).suffix.lower()
    if suffix in (".tif", ".tiff", ".png"):
        raise InputError(path, f"a checkpoint is a PyTorch file, not {suffix}", "name it .pt")
    refuse_foreign_file(path, "PyTorch checkpoint", TORCH_HEADERS)


GROKLST_CHECKPOINT_HINT = "give a .pt file written by groklst train or downscale --save-checkpoint"
SAFETY_HINT = ("use a checkpoint groklst wrote (groklst train, downscale --save-checkpoint); re-save a file you "
               "trust holding only tensors, numbers and text (e.g. a model's state dict)")
# Fields of groklst-checkpoint/1 added after its first files were written: older files lack them.
LATER_FIELDS = frozenset({"band_min", "band_max", "hr_resolution_units"})
REQUIRED_FIELDS = tuple(f.name for f in dataclass_fields(Checkpoint) if f.name not in LATER_FIELDS)


def _read(path: Path) -> Any:
    """The unpickled content of ``path``, loaded with ``weights_only=True`` (never running code
    in it); torch's warnings about the pickle protocol are kept off stderr, as the refusal that
    follows says what is wrong in one line."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise InputError(path, *_unreadable(path, exc)) from exc


def _refused(exc: pickle.UnpicklingError) -> str:
    """Why torch's safe loader refused a file: it names an object to build (a class, a function:
    code that unpickling would run), or is written in pickle instructions it does not read (a
    plain ``pickle.dump``, a newer pickle protocol)."""
    if "GLOBAL" in str(exc):
        return "holds objects other than weights and was not unpickled (refused for safety)"
    return "holds a pickle torch's safe loader cannot read, and was not unpickled (refused for safety)"


def _check_format(data: Any, path: Path) -> None:
    """Refuse content that is not a groklst checkpoint, or one of another format version, whose
    fields this groklst would misread."""
    tag = data.get("format") if isinstance(data, Mapping) else None
    if tag == FORMAT:
        return
    family = FORMAT.split("/")[0] + "/"
    if isinstance(tag, str) and tag.startswith(family):
        raise InputError(path, f"unsupported checkpoint format {escape_control_characters(tag[:60])} "
                               f"(this groklst reads {FORMAT})",
                         "read it with the groklst version that wrote it, or upgrade groklst")
    raise InputError(path, "not a groklst checkpoint (format tag missing)", GROKLST_CHECKPOINT_HINT)


def _fields(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The checkpoint's fields, refusing a file that lacks one every groklst checkpoint holds:
    the dataclass defaults (LST mean 0 K, std 1 K) are for checkpoints built in memory, and
    would silently denormalise a model's output wrongly."""
    fields = {k: v for k, v in data.items() if k != "format"}
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise InputError(path, f"checkpoint is malformed: {', '.join(missing)} missing", GROKLST_CHECKPOINT_HINT)
    known = {f.name for f in dataclass_fields(Checkpoint)}
    unknown = [escape_control_characters(str(k))[:40] for k in fields if k not in known]
    if unknown:
        raise InputError(path, f"checkpoint is malformed: unknown field(s) {', '.join(unknown)}",
                         GROKLST_CHECKPOINT_HINT)
    return fields


def _check_types(fields: Mapping[str, Any], path: Path) -> None:
    """Refuse fields of the wrong kind (``lst_mean`` saved as text, ``scale`` as 3.0, band
    statistics not one per band): they would crash later with a traceback, or, a bool taken
    for a number, denormalise the output silently wrong."""
    problem = _type_problem(fields)
    if problem is not None:
        raise InputError(path, f"checkpoint is malformed: {problem}", GROKLST_CHECKPOINT_HINT)


def _type_problem(fields: Mapping[str, Any]) -> str | None:
    """The first field not of its kind, in words (``lst_mean is a str ('300'), expected a
    number``); then band lists not one value per band; None when all fit."""
    for name, (expected, fits) in _FIELD_KINDS.items():
        if name in fields and not fits(fields[name]):
            return f"{name} is {_described(fields[name])}, expected {expected}"
    for name, (expected, fits) in _ITEM_KINDS.items():
        for key, value in _items(fields.get(name, ())):
            if not fits(value):
                return f"{name}[{key}] is {_described(value)}, expected {expected}"
    return _length_problem(fields)


def _length_problem(fields: Mapping[str, Any]) -> str | None:
    """Band statistics and ranges of another length than the band list (ranges may be absent)."""
    n = len(fields["bands"])
    for name in ("band_mean", "band_std", "band_min", "band_max"):
        values = fields.get(name, [])
        if len(values) != n and (values or name in ("band_mean", "band_std")):
            return f"{name} has {len(values)} values for {n} bands ({', '.join(fields['bands'])})"
    if len(fields.get("band_min", [])) != len(fields.get("band_max", [])):
        return "band_min and band_max are not both given"
    return None


def _items(value: Any) -> Iterable[tuple[Any, Any]]:
    """``(index or key, item)`` of a list or dict field, the key escaped for one line."""
    if isinstance(value, Mapping):
        return ((repr(escape_control_characters(str(k))[:40]), v) for k, v in value.items())
    return enumerate(value)


def _described(value: Any) -> str:
    """``a str ('300')``, ``an int (0)``, ``a list``: a wrong value's kind, and the value where short."""
    if value is None:
        return "None"
    kind = type(value).__name__
    article = "an" if kind[0].lower() in "aeiou" else "a"
    shown = value if isinstance(value, (bool, int, float)) else escape_control_characters(str(value))[:30]
    if isinstance(value, str):
        shown = repr(shown)
    return f"{article} {kind}" if isinstance(value, (list, tuple, dict)) else f"{article} {kind} ({shown})"


def _is_number(value: Any) -> bool:
    """An int or float, not a bool (``True`` would be taken for 1 K)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_pixel_size(value: Any) -> bool:
    """None (not recorded) or a finite size > 0."""
    return value is None or (_is_number(value) and math.isfinite(value) and value > 0)


def _is_str_keyed_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


# Each field's expected kind in words, and its test; a field missing here is left to _fields.
_FIELD_KINDS: dict[str, tuple[str, Any]] = {
    "model": ("a model name (text)", lambda v: isinstance(v, str)),
    "scale": ("an integer >= 2", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2),
    "bands": ("a list of band names", lambda v: isinstance(v, (list, tuple))),
    "lst_mean": ("a number", _is_number),
    "lst_std": ("a number", _is_number),
    "band_mean": ("a list of numbers", lambda v: isinstance(v, (list, tuple))),
    "band_std": ("a list of numbers", lambda v: isinstance(v, (list, tuple))),
    "band_min": ("a list of numbers", lambda v: isinstance(v, (list, tuple))),
    "band_max": ("a list of numbers", lambda v: isinstance(v, (list, tuple))),
    "model_kwargs": ("a dict with text keys", _is_str_keyed_dict),
    "hr_resolution": ("a pixel size > 0 or None", _is_pixel_size),
    "hr_resolution_units": ("a unit (text) or None", lambda v: v is None or isinstance(v, str)),
    "config": ("a dict with text keys", _is_str_keyed_dict),
    "groklst_version": ("a version (text)", lambda v: isinstance(v, str)),
    "state_dict": ("a dict of tensors", _is_str_keyed_dict),
}
# The kind of each item of the list and dict fields above.
_ITEM_KINDS: dict[str, tuple[str, Any]] = {
    "bands": ("a band name (text)", lambda v: isinstance(v, str)),
    "band_mean": ("a number", _is_number),
    "band_std": ("a number", _is_number),
    "band_min": ("a number", _is_number),  # NaN for an all-NaN band: clips nothing
    "band_max": ("a number", _is_number),
    "state_dict": ("a tensor", lambda v: isinstance(v, torch.Tensor)),
}


def _unreadable(path: Path, exc: BaseException) -> tuple[str, str]:
    """Why torch could not load ``path``, in a few words (its messages run to many lines), and
    what to do about it."""
    with open(path, "rb") as fh:
        head = fh.read(len(NUMPY_HEADER))
    foreign = _foreign_kind(path, head, exc)
    if foreign is not None:
        return f"not a PyTorch checkpoint ({foreign})", GROKLST_CHECKPOINT_HINT
    if not head.startswith(TORCH_HEADERS):
        return "not a readable groklst checkpoint (not a PyTorch file)", GROKLST_CHECKPOINT_HINT
    if isinstance(exc, pickle.UnpicklingError) and str(exc).startswith("Weights only load failed"):
        return _refused(exc), SAFETY_HINT
    first = str(exc).strip().split(". ")[0].splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"not a readable groklst checkpoint (damaged or truncated: {first[:100]})", GROKLST_CHECKPOINT_HINT


NUMPY_HEADER = b"\x93NUMPY"
# torch's legacy loader reads a pickled magic number first; a pickle without it was not torch.save's.
_NO_TORCH_MAGIC = "Invalid magic number"


def _foreign_kind(path: Path, head: bytes, exc: BaseException) -> str | None:
    """What a file torch could not load is instead, where its header or torch's complaint says
    it was written by something else (``pickle.dump``, ``numpy.save``, ``numpy.savez``): those
    files are whole, so 'damaged or truncated' would send the user after the wrong problem."""
    if head.startswith(NUMPY_HEADER):
        return "a NumPy .npy file"
    if head.startswith(b"\x80") and str(exc).startswith(_NO_TORCH_MAGIC):
        return "a plain pickle, e.g. from pickle.dump, not torch.save"
    if head.startswith(b"PK\x03\x04") and _zip_without_torch_data(path):
        return "a zip archive without torch's data.pkl, e.g. a NumPy .npz file"
    return None


def _zip_without_torch_data(path: Path) -> bool:
    """True for a readable zip archive holding no ``data.pkl`` (torch.save's archive holds
    ``NAME/data.pkl``); False for a damaged one, which may be a truncated checkpoint."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names)


def _check_statistics(ckpt: Checkpoint, path: Path) -> None:
    """Refuse normalisation statistics that would divide by zero or carry NaN."""
    pairs = [("lst", ckpt.lst_mean, ckpt.lst_std)] + list(zip(ckpt.bands, ckpt.band_mean, ckpt.band_std))
    for name, mean, std in pairs:
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise InputError(path, f"checkpoint statistics of {name!r} are unusable "
                                   f"(mean {mean}, std {std}; the std must be finite and > 0)",
                             "retrain, or fix the dataset statistics it was trained with")


def _check_weights(ckpt: Checkpoint, path: Path) -> None:
    """Refuse weights that do not fit the model the checkpoint names (or are not finite)."""
    if not ckpt.state_dict:
        if get_spec(ckpt.model).learned:
            raise InputError(path, f"checkpoint for {ckpt.model!r} holds no weights")
        return
    try:
        ckpt.build()
    except (RuntimeError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"the weights do not fit model {ckpt.model!r} ({first})",
                         "the file may be damaged or from another groklst version") from exc
    broken = [k for k, v in ckpt.state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise InputError(path, f"checkpoint weights are not finite ({len(broken)} tensors, e.g. {broken[0]})",
                         "the training diverged or the file is damaged")
