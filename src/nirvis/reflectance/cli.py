"""``nirvis reflectance`` command line: ``plot`` and ``to-nir``.

Wire it into the main parser with::

    subparsers = parser.add_subparsers(dest="command")
    nirvis.reflectance.cli.register(subparsers)
    ...
    args = parser.parse_args(argv)
    return nirvis.errors.run_command(args)   # runs args.func, reports errors, returns the exit code

Exit codes: 0 success, 2 bad input (missing/unreadable image, wrong shape, bad option value) or
an output that cannot be written. Handlers raise ``UsageError`` / ``FaceDataError`` or
``WriteError``; ``nirvis.errors.run_command`` turns them into one line on stderr and the exit code. Outputs
are written to a temporary name in the target directory and renamed, so a failed run never
leaves a partial file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nirvis.atomic import atomic_write
from nirvis.errors import UsageError, WriteError

__all__ = ["register", "run_plot", "run_to_nir", "EXIT_OK", "EXIT_FAILURE", "EXIT_BAD_INPUT"]

EXIT_OK = 0
EXIT_FAILURE = WriteError.exit_code  # 2, like every filesystem error
EXIT_BAD_INPUT = UsageError.exit_code  # 2

_IMAGE_SUFFIXES = (".png",)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``reflectance`` command (subcommands ``plot`` and ``to-nir``) to ``subparsers``.

    Args:
        subparsers: the object returned by ``parser.add_subparsers(...)``.

    Returns:
        The ``reflectance`` sub-parser. Each leaf parser sets ``func`` (a handler taking the
        namespace and returning an int exit code).

    Example:
        >>> import argparse
        >>> from nirvis.reflectance.cli import register
        >>> parser = argparse.ArgumentParser(prog="nirvis")
        >>> _ = register(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["reflectance", "to-nir", "a.png", "--out", "b.png", "--led", "940"])
        >>> args.led, args.method, args.encoding, args.func.__name__
        (940, 'spectral', None, 'run_to_nir')
    """
    p = subparsers.add_parser("reflectance", help="spectral skin model: VIS -> NIR reflectance",
                              description="Spectral skin reflectance model (VIS albedo -> NIR albedo).")
    sub = p.add_subparsers(dest="reflectance_command", metavar="{plot,to-nir}", required=True)

    pp = sub.add_parser("plot", help="plot skin spectra across tones with the camera responses",
                        description="Plot skin reflectance spectra (400-1000 nm) for 8 tones with the CIE and NIR "
                                    "camera responses and VIS/NIR albedo swatches.")
    pp.add_argument("--out", required=True, help="output PNG path")
    pp.add_argument("--tones", type=int, default=8, help="number of skin tones (default 8)")
    pp.set_defaults(func=run_plot, command="reflectance plot")

    pt = sub.add_parser("to-nir", help="convert a VIS albedo image to NIR albedo",
                        description="Convert a diffuse albedo image (RGB) to the NIR albedo seen by an LED-lit "
                                    "camera. 8-bit inputs are taken as sRGB-encoded and 16-bit inputs as linear "
                                    "unless --srgb/--linear says otherwise; the output uses the same encoding and "
                                    "bit depth as the input (grey, one channel).")
    pt.add_argument("albedo", help="input albedo image (8- or 16-bit PNG, RGB)")
    pt.add_argument("--out", required=True, help="output PNG path")
    pt.add_argument("--led", type=int, choices=(850, 940), default=850, help="NIR LED wavelength in nm (default 850)")
    pt.add_argument("--method", choices=("spectral", "red", "luma"), default="spectral",
                    help="conversion: biophysical 'spectral' (default) or ablation baselines 'red'/'luma'")
    enc = pt.add_mutually_exclusive_group()
    enc.add_argument("--srgb", dest="encoding", action="store_const", const="srgb",
                     help="input (and output) values are sRGB-encoded")
    enc.add_argument("--linear", dest="encoding", action="store_const", const="linear",
                     help="input (and output) values are linear")
    pt.add_argument("--region", action="append", default=[], metavar="NAME=MASK",
                    help="region mask image in [0, 1], repeatable; names: skin, lips, brows, hair, beard, iris, "
                         "sclera, teeth, pupil, mouth_cavity, eye_cavity")
    pt.add_argument("--threads", type=int, default=None, metavar="N",
                    help="torch threads for the conversion (default: torch's setting; 1 is often fastest on small VMs)")
    pt.set_defaults(func=run_to_nir, encoding=None, command="reflectance to-nir")
    return p


def run_plot(args: argparse.Namespace) -> int:
    """Handler of ``nirvis reflectance plot``.

    Args:
        args: namespace with ``out`` (PNG path) and ``tones`` (int).

    Returns:
        0 on success.

    Raises:
        UsageError: a bad output path or tone count (exit code 2).
        WriteError: the file cannot be written (exit code 2).

    Example:
        >>> import argparse
        >>> from nirvis.reflectance.cli import run_plot
        >>> run_plot(argparse.Namespace(out="spectra.svg", tones=8))
        Traceback (most recent call last):
        ...
        nirvis.errors.UsageError: --out: expected a .png path, got 'spectra.svg'
    """
    from nirvis.reflectance.plot import plot_skin_spectra
    from nirvis.reflectance.skin import skin_tone_series

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out: expected a .png path, got {str(out)!r}")
    tones = getattr(args, "tones", 8)
    if not isinstance(tones, int) or not 2 <= tones <= 24:
        raise UsageError(f"--tones: expected an integer in [2, 24], got {tones!r}")
    import torch

    plot_skin_spectra(out, params=skin_tone_series(tones, dtype=torch.float64))  # WriteError names out
    print(f"wrote {out}")
    return EXIT_OK


def _bit_depth(path: Path) -> Optional[int]:
    """Bits per channel as stored in the file (8 or 16), None if unknown.

    PNG headers are read directly: imageio's Pillow plugin reports 16-bit RGB PNGs as 8-bit.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return {8: 8, 16: 16}.get(head[24])
    import imageio.v3 as iio

    try:
        dtype = np.dtype(iio.improps(path).dtype)
    except Exception:  # unreadable: read_image reports it with a clear message
        return None
    return {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(dtype)


def _write_grey(out: Path, value: np.ndarray, bits: int, srgb: bool) -> None:
    import imageio.v3 as iio
    import torch

    from nirvis.reflectance.sensors import linear_to_srgb

    v = np.clip(value, 0.0, 1.0)
    if srgb:
        v = linear_to_srgb(torch.from_numpy(v.astype(np.float32))).numpy()
    data = np.round(v * 255.0).astype(np.uint8) if bits == 8 else np.round(v * 65535.0).astype(np.uint16)
    atomic_write(out, lambda f: iio.imwrite(f, data, extension=out.suffix.lower()))


def run_to_nir(args: argparse.Namespace) -> int:
    """Handler of ``nirvis reflectance to-nir``.

    Args:
        args: namespace with ``albedo``, ``out``, ``led``, ``method``, ``encoding`` (None,
            "srgb" or "linear"), ``region`` (list of "NAME=MASK") and ``threads``.

    Returns:
        0 on success. Nothing is left at ``out`` on failure.

    Raises:
        UsageError, FaceDataError: bad input (missing/unreadable image, wrong shape, bad option;
            exit code 2).
        WriteError: the output cannot be written (exit code 2).

    Example:
        >>> import argparse
        >>> from nirvis.reflectance.cli import run_to_nir
        >>> run_to_nir(argparse.Namespace(albedo="missing.png", out="nir.png", led=850, method="spectral",
        ...                               encoding=None, region=[], threads=None))
        Traceback (most recent call last):
        ...
        nirvis.faces.errors.FaceDataError: missing.png: image file not found
    """
    import torch

    from nirvis.faces.asset import read_image
    from nirvis.reflectance.invert import vis_to_nir
    from nirvis.reflectance.sensors import srgb_to_linear

    src, out = Path(args.albedo), Path(args.out)
    if out.suffix.lower() not in _IMAGE_SUFFIXES:
        raise UsageError(f"--out: expected a {'/'.join(_IMAGE_SUFFIXES)} path, got {str(out)!r}")
    if out.resolve() == src.resolve():
        raise UsageError("--out: must differ from the input image")
    rgb = read_image(src, channels=3)
    bits = _bit_depth(src)
    masks = {}
    for spec in args.region:
        name, sep, mask_path = spec.partition("=")
        if not sep or not name or not mask_path:
            raise UsageError(f"--region: expected NAME=MASK, got {spec!r}")
        mask = read_image(Path(mask_path), channels=1)
        if mask.shape != rgb.shape[:2]:
            raise UsageError(f"--region {name}: mask {mask_path} is {mask.shape[1]}x{mask.shape[0]}, "
                             f"the albedo image is {rgb.shape[1]}x{rgb.shape[0]}")
        masks[name] = torch.from_numpy(mask)
    if bits is None:  # float images: linear unless told otherwise, written as 16-bit
        bits = 16
    srgb = args.encoding == "srgb" if args.encoding is not None else bits == 8
    x = torch.from_numpy(rgb)
    if srgb:
        x = srgb_to_linear(x)
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise UsageError(f"--threads: expected a positive integer, got {threads}")
    kwargs = ({"led_nm": args.led, "region_masks": masks or None, "num_threads": threads}
              if args.method == "spectral" else {})
    nir = vis_to_nir(x, method=args.method, **kwargs)
    _write_grey(out, nir.numpy(), bits, srgb)  # atomic; a failed write is a WriteError naming out
    print(f"wrote {out} ({nir.shape[1]}x{nir.shape[0]}, {bits}-bit {'sRGB' if srgb else 'linear'}, LED {args.led} nm, "
          f"method {args.method})")
    return EXIT_OK
