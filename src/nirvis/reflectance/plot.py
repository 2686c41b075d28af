"""Figure of the skin model: reflectance spectra across tones, camera responses and swatches."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import torch

from nirvis.atomic import atomic_write
from nirvis.reflectance import spectra
from nirvis.reflectance.sensors import linear_to_srgb, nir_system_response, skin_albedo_nir, skin_albedo_vis
from nirvis.reflectance.skin import TONE_LABELS, SkinParams, skin_reflectance_spectrum, skin_tone_series

__all__ = ["plot_skin_spectra"]


def plot_skin_spectra(out_png: str | os.PathLike, params: Optional[SkinParams] = None,
                      labels: Optional[Sequence[str]] = None, led_nms: Sequence[float] = (850.0, 940.0),
                      dpi: int = 150) -> Path:
    """Plot skin reflectance spectra (400-1000 nm) with the VIS and NIR camera responses.

    Top panel: the diffuse reflectance of each tone (line colour = its VIS albedo), and on a
    second axis the CIE 1931 x-bar/y-bar/z-bar and the NIR system responses (LED x silicon QE x
    long-pass filter) normalised to peak 1, with the LED bands shaded. Bottom panel: per tone, a
    swatch of the VIS albedo (sRGB-encoded) and of each NIR albedo (grey, sRGB-encoded), with
    the linear values printed.

    Args:
        out_png: output PNG path (written to a temporary name, then renamed).
        params: ``SkinParams`` with batch shape [n]; default ``skin_tone_series(8)``.
        labels: n tone labels; default Fitzpatrick-like labels for 8 tones.
        led_nms: NIR LEDs to show (each in 760-980 nm).
        dpi: resolution.

    Returns:
        The written path.

    Example:
        >>> import tempfile, os
        >>> from nirvis.reflectance.plot import plot_skin_spectra
        >>> path = plot_skin_spectra(os.path.join(tempfile.mkdtemp(), "spectra.png"))
        >>> path.stat().st_size > 10_000
        True
    """
    # An explicit Agg canvas: no pyplot, so the caller's global matplotlib backend is untouched.
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    out = Path(out_png)
    if out.suffix.lower() != ".png":
        raise ValueError(f"out_png: expected a .png path, got {str(out_png)!r}")
    if params is None:
        params = skin_tone_series(8, dtype=torch.float64)
    if not isinstance(params, SkinParams) or params.melanin.ndim != 1:
        raise ValueError("params: expected SkinParams with batch shape [n]")
    n = params.shape[0]
    if labels is None:
        labels = TONE_LABELS if n == len(TONE_LABELS) else [f"tone {i + 1}" for i in range(n)]
    if len(labels) != n:
        raise ValueError(f"labels: expected {n} labels, got {len(labels)}")
    leds = [float(v) for v in led_nms]

    p = params.to(dtype=torch.float64, device="cpu")
    wl = torch.as_tensor(spectra.MODEL_WAVELENGTHS_NM, dtype=torch.float64)
    refl = skin_reflectance_spectrum(p, wl)
    vis = skin_albedo_vis(p).clamp(0, 1)
    vis_disp = linear_to_srgb(vis).numpy()
    nirs = [skin_albedo_nir(p, led).clamp(0, 1) for led in leds]

    fig = Figure(figsize=(11, 8.2))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=[3.0, 1.35], hspace=0.28)
    ax = fig.add_subplot(grid[0])
    for i in range(n):
        label = f"{labels[i]} (melanin {float(p.melanin[i]):.3f})"
        ax.plot(wl.numpy(), refl[i].numpy(), color=vis_disp[i], lw=2.2, label=label,
                path_effects=[patheffects.Stroke(linewidth=3.2, foreground="0.25"), patheffects.Normal()])
    ax.set_xlim(400, 1000)
    ax.set_ylim(0, 0.8)
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("diffuse reflectance (specular excluded)")
    ax.grid(alpha=0.3)
    ax.set_title("Two-layer skin model across tones, with VIS (CIE 1931 / D65) and NIR (LED x Si QE x filter) "
                 "responses", fontsize=10)

    ax2 = ax.twinx()
    cmf = spectra.cie_1931_cmf(wl)
    cmf = cmf / cmf.max()
    for j, (name, col) in enumerate((("x-bar", "tab:red"), ("y-bar", "tab:green"), ("z-bar", "tab:blue"))):
        ax2.plot(wl.numpy(), cmf[:, j].numpy(), ls="--", color=col, lw=1.2, alpha=0.8, label=f"CIE {name}")
    styles = ["-.", ":", "--"]
    for k, led in enumerate(leds):
        resp = nir_system_response(wl, led)
        resp = resp / resp.max()
        ax2.plot(wl.numpy(), resp.numpy(), ls=styles[k % 3], color="0.15", lw=1.5, label=f"NIR {led:g} nm camera")
        ax2.fill_between(wl.numpy(), 0, resp.numpy(), color="0.5", alpha=0.12)
    ax2.set_ylim(0, 1.6)
    ax2.set_ylabel("relative sensor response")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1, l1, loc="upper left", fontsize=7.5, ncol=2, framealpha=0.85, title="skin tone (Fitzpatrick-like)",
              title_fontsize=8)
    ax2.legend(h2, l2, loc="upper right", fontsize=7.5, framealpha=0.85)

    sw = fig.add_subplot(grid[1])
    rows = [("VIS (sRGB)", vis_disp)]
    rows += [(f"NIR {led:g}", linear_to_srgb(v).unsqueeze(-1).repeat(1, 3).numpy()) for led, v in zip(leds, nirs)]
    values = [vis[:, 1].numpy()] + [v.numpy() for v in nirs]
    for r, ((name, colors), vals) in enumerate(zip(rows, values)):
        y = len(rows) - 1 - r
        for i in range(n):
            sw.add_patch(Rectangle((i + 0.05, y + 0.06), 0.9, 0.88, color=colors[i]))
            txt = f"G {vals[i]:.2f}" if r == 0 else f"{vals[i]:.2f}"
            lum = float(colors[i].mean())
            sw.text(i + 0.5, y + 0.5, txt, ha="center", va="center", fontsize=8,
                    color="white" if lum < 0.5 else "black")
        sw.text(-0.08, y + 0.5, name, ha="right", va="center", fontsize=9)
    for i in range(n):
        sw.text(i + 0.5, -0.12, labels[i], ha="center", va="top", fontsize=9)
    sw.set_xlim(-1.1, n)
    sw.set_ylim(-0.45, len(rows))
    sw.axis("off")
    sw.set_title("albedo swatches (linear values printed; VIS shows the green channel)", fontsize=9)

    return atomic_write(out, lambda f: fig.savefig(f, dpi=dpi, bbox_inches="tight", format="png"))
