"""Errors a user can act on: each message names the file, key or value and what was expected."""


class Diff3DHPEError(Exception):
    """Base class for every error this package raises on bad input."""


class ConfigError(Diff3DHPEError, ValueError):
    """params.yaml (or a CLI option) is invalid."""


class DataFormatError(Diff3DHPEError, ValueError):
    """A data file is missing, truncated, unsafe or not in the expected layout."""


class CheckpointError(Diff3DHPEError, ValueError):
    """A checkpoint is missing keys, has unexpected keys or cannot be read."""


class ShapeError(Diff3DHPEError, ValueError):
    """An array or tensor has the wrong shape, joint count or contains NaN."""
