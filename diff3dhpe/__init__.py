"""Diff3DHPE: diffusion-based lifting of 2D keypoint sequences to 3D human poses."""
__version__ = "0.1.0"
