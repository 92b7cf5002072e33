"""Read pickled objects out of .npz files without trusting the pickle.

The standard dataset files (VideoPose3D / P-STMO layouts) store nested dicts of arrays as a 0-d
object array, i.e. a pickle inside the npz. ``np.load(allow_pickle=True)`` would let a crafted file
run arbitrary code, so object arrays are rebuilt here by a ``pickle.Unpickler`` whose ``find_class``
admits only the handful of numpy constructors a plain array needs. Containers and scalars
(dict, list, tuple, str, int, float, bool, None, bytes) are pickle opcodes and need no global.
"""

from __future__ import annotations

import ast
import importlib
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.lib.format as npy_format

from diff3dhpe.atomic import atomic_open
from diff3dhpe.errors import DataFormatError

__all__ = ["load_npz", "load_npz_keys", "save_npz", "RestrictedUnpickler"]


def _numpy_attr(module_suffix: str, name: str) -> Any:
    """numpy 2 renamed numpy.core to numpy._core; files written by either must load. None if absent."""
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module_suffix}"), name)
        except (ImportError, AttributeError):
            continue
    return None


def _allowed_globals() -> dict[tuple[str, str], Any]:
    reconstruct = _numpy_attr("multiarray", "_reconstruct")  # ndarray.__reduce__
    scalar = _numpy_attr("multiarray", "scalar")  # numpy scalars, e.g. np.float64(1.0)
    frombuffer = _numpy_attr("numeric", "_frombuffer")  # arrays pickled with protocol 5
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("builtins", "complex"): complex,
        ("__builtin__", "complex"): complex,  # Python 2 era pickles
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    return {key: value for key, value in allowed.items() if value is not None}


_ALLOWED = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays, numpy scalars and builtin containers."""

    def __init__(self, file: IO[bytes], *, source: str):
        # latin1 decodes numpy arrays pickled under Python 2 (as numpy itself recommends).
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataFormatError(
                f"{self.source}: refusing to unpickle forbidden global '{module}.{name}'; only numpy "
                "arrays and plain dict/list/tuple/str/int/float values are accepted in data files"
            ) from None


# Everything a damaged or truncated archive/pickle can raise while being read.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    pickle.UnpicklingError,
    struct.error,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    OSError,
    SyntaxError,
    MemoryError,
)


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(f"{path}: not a readable .npz archive (truncated or not a zip): {exc}") from exc


def _member_keys(archive: zipfile.ZipFile) -> list[str]:
    return [name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")]


def load_npz_keys(path: str | Path) -> list[str]:
    """Names of the arrays stored in an .npz file (what ``np.savez(path, **arrays)`` was given)."""
    path = Path(path)
    with _open_zip(path) as archive:
        return _member_keys(archive)


def _read_header(fp: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Parse a .npy header (format 1.0, 2.0 or 3.0) -> (shape, fortran_order, dtype)."""
    major, _minor = npy_format.read_magic(fp)
    length_format = "<H" if major == 1 else "<I"
    (header_length,) = struct.unpack(length_format, fp.read(struct.calcsize(length_format)))
    encoding = "utf8" if major >= 3 else "latin1"
    header = ast.literal_eval(fp.read(header_length).decode(encoding))  # literals only: safe
    if not isinstance(header, dict) or not {"descr", "shape", "fortran_order"} <= header.keys():
        raise ValueError(f"malformed .npy header {header!r}")
    return tuple(header["shape"]), bool(header["fortran_order"]), npy_format.descr_to_dtype(header["descr"])


def _read_member(archive: zipfile.ZipFile, member: str, source: str) -> Any:
    with archive.open(member) as fp:
        shape, _fortran, dtype = _read_header(fp)
        if not dtype.hasobject:
            with archive.open(member) as again:  # plain numeric array: numpy's reader, pickles disabled
                return npy_format.read_array(again, allow_pickle=False)
        loaded = RestrictedUnpickler(fp, source=source).load()
    if not isinstance(loaded, np.ndarray) or loaded.shape != shape:
        raise DataFormatError(
            f"{source}: pickled payload is a {type(loaded).__name__} "
            f"{getattr(loaded, 'shape', '')}, expected an array of shape {shape}"
        )
    return loaded


def load_npz(path: str | Path, key: str) -> Any:
    """Load one entry of an .npz file, unpickling object arrays through :class:`RestrictedUnpickler`.

    A 0-d object array (how ``np.savez(path, key=some_dict)`` stores a dict) is returned as the
    object it holds; any other array is returned as an ndarray.
    """
    path = Path(path)
    source = f"{path} [key '{key}']"
    with _open_zip(path) as archive:
        keys = _member_keys(archive)
        if key not in keys:
            raise DataFormatError(f"{path}: no key '{key}'; keys present: {keys}")
        try:
            value = _read_member(archive, f"{key}.npy", source)
        except DataFormatError:
            raise
        except _READ_ERRORS as exc:
            raise DataFormatError(
                f"{source}: cannot be read (truncated or corrupt file?): {type(exc).__name__}: {exc}"
            ) from exc
    if isinstance(value, np.ndarray) and value.dtype.hasobject and value.ndim == 0:
        return value.item()
    return value


def save_npz(path: str | Path, **entries: Any) -> None:
    """Write entries with ``np.savez_compressed`` (dicts become 0-d object arrays, as in the
    standard files), atomically: a crash never leaves a half-written file under ``path``."""
    with atomic_open(path, "wb") as fp:  # a file object keeps numpy from appending '.npz'
        np.savez_compressed(fp, **entries)
