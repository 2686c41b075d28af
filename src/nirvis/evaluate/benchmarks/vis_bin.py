"""insightface visible-light verification sets (LFW, CFP-FP, AgeDB-30) in their ``.bin`` format.

Expected layout::

    ROOT/lfw.bin  ROOT/cfp_fp.bin  ROOT/agedb_30.bin  (any NAME.bin; ``name`` picks it)

A ``.bin`` file is a pickle of ``(bins, issame)``: ``bins`` a list of 2N encoded images (JPEG/PNG
bytes of aligned 112x112 RGB crops; pair i = images 2i and 2i+1), ``issame`` a list of N bools
(or a numpy bool array).
Pickles can run code when loaded, so a ``.bin`` is read by a restricted unpickler
(``read_bin_pickle``) that builds only what the format holds: bytes, lists, tuples, bools and
ints, numpy arrays or scalars of bool or uint8, and pickle's own latin-1 encoding of bytes; any
other global a file names (``os.system``, ``builtins.eval``, ...) is refused with a
``ProtocolError`` before anything is called.

Accuracy: 10-fold cross-validation as insightface does it (folds = 10 contiguous blocks of pairs,
no shuffling): for each fold the cosine-similarity threshold that maximises accuracy on the other
9 folds is applied to the held-out fold; reported as mean +- std (population) of the 10
accuracies. Flip feature as insightface's: n(f(x) + f(flip(x))) of the raw outputs
(``features.embed(..., flip_sum="raw")``; the NIR-VIS benchmarks normalise each view first).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nirvis.crop import CROP_SIZE
from nirvis.evaluate.benchmarks.base import PathLike, ProtocolError

NAMES = ("lfw", "cfp_fp", "agedb_30", "cfp_ff", "calfw", "cplfw", "vgg2_fp")
EXPECTED_PAIRS = {"lfw": 6000, "cfp_fp": 7000, "agedb_30": 6000}


#: numpy dtypes a ``.bin`` may hold (issame as bools, images as raw bytes).
_BIN_DTYPES = frozenset({"b1", "?", "u1", "|b1", "|u1"})


def _safe_dtype(spec: Any, *args: Any) -> np.dtype:
    name = spec.decode("ascii", "replace") if isinstance(spec, bytes) else str(spec)
    if name not in _BIN_DTYPES:
        raise pickle.UnpicklingError(f"numpy dtype {name!r} is not one a .bin holds (bool, uint8)")
    return np.dtype(name, False, True)       # a copy, as numpy pickles it: __setstate__ follows


def _safe_reconstruct(cls: Any, shape: Any, typecode: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"array class {cls!r} is not numpy.ndarray")
    # an empty array whatever shape the file asks for (a huge one would be allocated here): shape,
    # dtype (checked) and data all come from __setstate__, which checks the data's length
    return np.ndarray((0,), np.uint8)


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.kind not in "bu" or dtype.itemsize != 1:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not one a .bin holds")
    if not isinstance(data, (bytes, bytearray)) or len(data) != 1:
        raise pickle.UnpicklingError("numpy scalar without its one byte of data")
    return np.frombuffer(bytes(data), dtype)[0]


def _safe_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How pickle protocol <= 2 stores Python 3 bytes: ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only as pickle's latin-1 bytes encoding")
    return text.encode("latin-1")


class _BinUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy constructors of bool/uint8 arrays and scalars."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy.core.multiarray", "scalar"): _safe_scalar,
        ("numpy._core.multiarray", "scalar"): _safe_scalar,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _safe_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: a .bin holds only images and "
                                         "bools, and reading it must not run code") from None


def read_bin_pickle(data: bytes) -> tuple[list[bytes], np.ndarray]:
    """(encoded images, issame bool [N]) from the bytes of a ``.bin`` file, without running code.

    Raises ``pickle.UnpicklingError`` (a forbidden global or dtype) or ``ValueError`` (a structure
    that is not ``(list of encoded images, list of bools)``)."""
    obj = _BinUnpickler(io.BytesIO(data), encoding="bytes").load()
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise ValueError(f"expected a pair (images, issame), got {type(obj).__name__}")
    bins, issame = obj
    if isinstance(bins, np.ndarray) or not isinstance(bins, (list, tuple)):
        raise ValueError(f"images: expected a list of encoded images, got {type(bins).__name__}")
    images = []
    for i, b in enumerate(bins):
        if isinstance(b, (bytes, bytearray)):
            images.append(bytes(b))
        elif isinstance(b, np.ndarray) and b.dtype == np.uint8 and b.ndim == 1:
            images.append(b.tobytes())
        else:
            raise ValueError(f"image {i}: expected encoded bytes, got {type(b).__name__}")
    if isinstance(issame, np.ndarray):
        if issame.dtype != bool or issame.ndim != 1:
            raise ValueError(f"issame: expected a 1-D bool array, got {issame.dtype} {issame.shape}")
        same = issame.astype(bool)
    elif isinstance(issame, (list, tuple)):
        bad = [i for i, v in enumerate(issame) if not isinstance(v, (bool, np.bool_, int, np.integer))
               or isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and int(v) not in (0, 1)]
        if bad:
            raise ValueError(f"issame: entry {bad[0]} is {issame[bad[0]]!r}, not a bool")
        same = np.array([bool(v) for v in issame], dtype=bool)
    else:
        raise ValueError(f"issame: expected a list of bools, got {type(issame).__name__}")
    return images, same


def bin_path(root: PathLike, name: str) -> Path:
    p = Path(root)
    return p if p.suffix == ".bin" else p / f"{name}.bin"


def load_bin(path: PathLike, allow_missing: bool = False) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(images uint8 [2N, H, W, 3] RGB, issame bool [N], indices of pairs dropped as unreadable).

    An undecodable image: one ProtocolError with the count and the first indices, or with
    ``allow_missing`` its pair is dropped."""
    import cv2

    from nirvis.image_limits import check_image_size

    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: verification .bin file not found")
    try:
        bins, issame = read_bin_pickle(path.read_bytes())
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a .bin set"
        raise ProtocolError(f"{path}: not an insightface .bin verification file ({exc})") from None
    if len(bins) != 2 * len(issame):
        raise ProtocolError(f"{path}: {len(bins)} images for {len(issame)} pairs (expected 2 per pair)")
    imgs, bad = [], []
    for i, b in enumerate(bins):
        check_image_size(b, f"{path}: image {i}")
        a = cv2.imdecode(np.frombuffer(bytes(b), np.uint8), cv2.IMREAD_COLOR)
        if a is None:
            bad.append(i)
            a = np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8)
        imgs.append(a[..., ::-1])
    dropped = sorted({i // 2 for i in bad})
    if dropped and not allow_missing:
        raise ProtocolError(f"{path}: {len(bad)} undecodable image(s), e.g. indices {bad[:5]} "
                            "(use allow_missing=True to drop their pairs)")
    images = np.ascontiguousarray(np.stack(imgs))
    if dropped:
        keep = np.ones(len(issame), bool)
        keep[dropped] = False
        images = images.reshape(len(issame), 2, *images.shape[1:])[keep].reshape(-1, *images.shape[1:])
        issame = issame[keep]
    return images, issame, dropped


def _best_threshold(sims: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Threshold (accept sim >= t) maximising accuracy, and that accuracy; ties -> the lowest t."""
    order = np.argsort(-sims, kind="mergesort")
    s, y = sims[order], same[order]
    # accepting the top k: correct = (#same in top k) + (#diff outside top k)
    tp = np.r_[0, np.cumsum(y)]
    fp = np.r_[0, np.cumsum(~y)]
    correct = tp + (np.sum(~y) - fp)
    valid = np.r_[True, np.r_[s[1:] != s[:-1], True]]  # cut only between distinct values
    correct = np.where(valid, correct, -1)
    k = int(np.argmax(correct))
    if k == 0:
        t = float(s[0]) + 1e-6
    elif k == len(s):
        t = float(s[-1]) - 1e-6
    else:
        t = float((s[k - 1] + s[k]) / 2)
    return t, float(correct[k] / len(s))


def verification_accuracy(sims: np.ndarray, issame: np.ndarray, n_folds: int = 10) -> dict:
    sims = np.asarray(sims, np.float64)
    issame = np.asarray(issame, bool)
    if len(sims) < n_folds:
        raise ValueError(f"{len(sims)} pairs cannot form {n_folds} folds")
    folds = np.array_split(np.arange(len(sims)), n_folds)
    accs, thrs = [], []
    for k, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        t, _ = _best_threshold(sims[train], issame[train])
        accs.append(float(np.mean((sims[test] >= t) == issame[test])))
        thrs.append(t)
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)), "fold_accuracies": accs,
            "thresholds": thrs, "pairs": int(len(sims))}


def evaluate_bin(path: PathLike, model_fn, batch_size: int = 64, flip: bool = True, channels: int = 3,
                 grey: bool = False, allow_missing: bool = False, device=None, n_folds: int = 10) -> dict:
    """10-fold verification accuracy of ``model_fn`` on one ``.bin`` set (RGB input by default:
    these are visible-light sets)."""
    from nirvis.evaluate.features import embed

    images, issame, dropped = load_bin(path, allow_missing=allow_missing)
    # insightface's verification adds the raw outputs of the image and its flip, then normalises
    f = embed(images, model_fn, batch_size=batch_size, flip=flip, channels=channels, grey=grey, device=device,
              flip_sum="raw")
    sims = np.sum(f[0::2] * f[1::2], axis=1)
    out = verification_accuracy(sims, issame, n_folds)
    out.update({"set": Path(path).stem, "dropped_pairs": dropped, "sims": sims, "issame": issame})
    return out
