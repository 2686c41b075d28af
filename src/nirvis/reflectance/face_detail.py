"""Per-identity face-detail choices: eyebrows, eyelashes, eyes, wrinkles, blemishes, make-up.

``sample_face_detail`` draws them from the identity's seed on a stream of its own (PCG64 stream
0x61), so adding them shifted none of the older appearance choices; ``detail_maps`` turns them
into maps. Priors (representative; sex and age effects as described in the literature):

* Eyebrows: head over the inner eye corner, peak about two thirds out, tail beyond the outer
  corner. Women's brows sit higher, arch more and are thinner; men's lie lower, at the orbital
  rim, are straighter and thicker (e.g. the sex differences summarised by A. Sadr et al.,
  Aesthet. Surg. J. 2014, and the female brow-peak position of E. Matros et al., Plast.
  Reconstr. Surg. 124(4), 2009). With age the lateral brow descends (tail drop), women's brows
  thin, and brows grey later than scalp hair. An adult brow has some 250-600 hairs of 0.1 mm.
* Eyelashes: ~90-160 upper and ~70-80 lower lashes per eye, upper 8-12 mm long (projected onto
  the lid they cover 1.5-3 mm since they curl towards the viewer), darker than scalp hair and
  greying late.
* Eyes: iris stromal melanin, scattering, fibre contrast, crypts, the collarette (a ring at
  ~35-45 % of the iris radius, often more pigmented: central heterochromia), the dark limbal
  ring (thicker and darker in the young), sclera vessels and reddish corners.
* Skin: wrinkle depth grows with age from the late twenties (forehead lines, glabellar lines,
  crow's feet, nasolabial folds, under-eye lines, later marionette lines); blemishes (small red
  papules) are commonest in the young; periorbital hyperpigmentation (dark circles) is more
  common in darker skin.
* Make-up: ~45 % of women and ~2 % of men wear some; each item (lipstick, eyeliner, eye shadow,
  mascara) is drawn on its own (see ``cosmetics`` for their VIS and NIR spectra).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nirvis.faces import IdentityParams
from nirvis.faces.regions import BrowShape

#: PCG64 stream id of the face-detail choices.
DETAIL_STREAM = 0x61

#: Make-up kinds of lipstick: (absorption edge nm, floor, high, iron-oxide band depth).
LIPSTICK_KINDS = {"red": (595.0, 0.04, 0.55, 0.0), "pink": (575.0, 0.22, 0.6, 0.0),
                  "nude": (560.0, 0.12, 0.5, 0.12), "berry": (610.0, 0.05, 0.4, 0.0)}
#: Eye-shadow pigments: (edge nm, floor, high, iron band).
EYESHADOW_KINDS = {"brown": (585.0, 0.08, 0.45, 0.15), "bronze": (540.0, 0.12, 0.55, 0.12),
                   "taupe": (520.0, 0.18, 0.4, 0.08), "plum": (620.0, 0.1, 0.35, 0.0)}


@dataclass(frozen=True)
class FaceDetail:
    """Per-identity face-detail parameters (logged under ``appearance["detail"]``).

    Brow geometry in mm on the template head (see ``faces.regions.BrowShape``); coverages,
    opacities and contrasts in [0, 1] unless stated.
    """

    brow_head_inset_mm: float
    brow_tail_outset_mm: float
    brow_head_height_mm: float
    brow_peak_height_mm: float
    brow_peak_position: float
    brow_tail_drop_mm: float
    brow_head_thickness_mm: float
    brow_body_thickness_mm: float
    brow_tail_thickness_mm: float
    brow_hairs: int                  # hairs per brow
    brow_hair_length_mm: float       # body hair length (head hairs are shorter)
    brow_hair_width_mm: float        # hair diameter (coverage per hair)
    brow_eumelanin: float
    brow_pheomelanin: float
    brow_asymmetry_mm: float         # left brow raised by this much (negative: lowered)
    lash_density: float
    lash_length_mm: float            # projected length of the upper lashes on the lid
    lash_eumelanin: float
    iris_scattering: float           # stromal reduced scattering at 500 nm, cm^-1
    iris_eumelanin_share: float      # effective eumelanin share of the iris spectrum
    iris_fibre_contrast: float
    iris_crypts: int                 # crypts per iris
    collarette_radius: float         # fraction of the iris radius
    collarette_melanin: float        # melanin multiplier inside the collarette
    limbal_ring: float
    sclera_vessels: int              # visible vessels per eye
    socket_shadow: float             # upper-lid sulcus / eye-socket darkening
    under_eye: float                 # periorbital hyperpigmentation (melanin x (1 + ...))
    wrinkles: float                  # overall wrinkle depth (age-driven)
    n_blemishes: int
    makeup: bool
    lipstick: str                    # "" or a LIPSTICK_KINDS key
    lipstick_opacity: float
    eyeliner: float                  # opacity, 0 = none
    eyeshadow: str                   # "" or an EYESHADOW_KINDS key
    eyeshadow_opacity: float
    mascara: bool

    def brow_shape(self) -> BrowShape:
        """The brow shape of this identity."""
        return BrowShape(head_inset_mm=self.brow_head_inset_mm, tail_outset_mm=self.brow_tail_outset_mm,
                         head_height_mm=self.brow_head_height_mm, peak_height_mm=self.brow_peak_height_mm,
                         peak_position=self.brow_peak_position, tail_drop_mm=self.brow_tail_drop_mm,
                         head_thickness_mm=self.brow_head_thickness_mm, body_thickness_mm=self.brow_body_thickness_mm,
                         tail_thickness_mm=self.brow_tail_thickness_mm)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_face_detail(identity: IdentityParams, melanin: float, hair_eumelanin: float, hair_pheomelanin: float,
                       brow_density: float) -> FaceDetail:
    """Draw the face details of ``identity`` (stream ``DETAIL_STREAM`` of its seed).

    Args:
        identity: seed, sex (``gender`` > 0.5 male), age.
        melanin: the identity's skin melanin fraction (dark circles, freckle-free dark skin).
        hair_eumelanin, hair_pheomelanin: scalp-hair melanin (brows and lashes follow it).
        brow_density: the identity's brow density in [0, 1] (sets the hair count).
    """
    rng = np.random.Generator(np.random.PCG64([max(identity.seed, 0), DETAIL_STREAM]))
    u = rng.uniform(0.0, 1.0, size=40)
    male = identity.gender > 0.5
    age = float(identity.age_years)
    aged = float(np.clip((age - 25.0) / 45.0, 0.0, 1.0))
    dark = min(1.0, melanin / 0.12)
    # brows: men lower, straighter, thicker; the tail drops and women's brows thin with age
    head_h = (14.5 if male else 16.0) + 3.0 * u[0] - 1.5 * aged
    peak_rise = (1.0 + 3.5 * u[1]) if male else (2.5 + 5.0 * u[1])
    thick = (1.2 if male else 0.9) * (0.75 + 0.5 * u[2])
    density_scale = (1.0 - 0.35 * aged) if not male else (1.0 - 0.1 * aged)
    brow_grey = float(np.clip((age - 55.0) / 30.0, 0.0, 1.0)) * u[3]
    darker = 1.0 + 0.35 * u[4]
    brow_eu = float(np.clip(hair_eumelanin * darker * (1.0 - 0.7 * brow_grey) + 0.05, 0.03, 1.8))
    brow_ph = float(np.clip(hair_pheomelanin * darker * (1.0 - 0.7 * brow_grey), 0.0, 0.6))
    # make-up
    wears = bool(u[20] < (0.02 if male else 0.45))
    lipstick = str(list(LIPSTICK_KINDS)[int(u[22] * len(LIPSTICK_KINDS)) % len(LIPSTICK_KINDS)]) \
        if wears and u[21] < 0.6 else ""
    eyeshadow = str(list(EYESHADOW_KINDS)[int(u[24] * len(EYESHADOW_KINDS)) % len(EYESHADOW_KINDS)]) \
        if wears and u[23] < 0.5 else ""
    return FaceDetail(
        brow_head_inset_mm=float(0.5 + 4.0 * u[5]),
        brow_tail_outset_mm=float(0.5 + 5.0 * u[6] - 1.5 * aged * (not male)),
        brow_head_height_mm=float(head_h),
        brow_peak_height_mm=float(head_h + peak_rise),
        brow_peak_position=float(0.5 + 0.3 * u[7]),
        brow_tail_drop_mm=float(2.0 + 4.0 * u[8] + 2.5 * aged),
        brow_head_thickness_mm=float(thick * (8.0 + 3.0 * u[9])),
        brow_body_thickness_mm=float(thick * (5.5 + 2.5 * u[10])),
        brow_tail_thickness_mm=float(thick * (2.0 + 1.5 * u[11])),
        brow_hairs=int(round((200 + 350 * brow_density) * density_scale * (1.15 if male else 1.0))),
        brow_hair_length_mm=float((7.0 if male else 5.5) + 3.0 * u[12] + 2.0 * aged * male),
        brow_hair_width_mm=float((0.1 if male else 0.08) * (0.85 + 0.3 * u[37])),
        brow_eumelanin=brow_eu,
        brow_pheomelanin=brow_ph,
        brow_asymmetry_mm=float(rng.normal(0.0, 0.8)),
        lash_density=float(0.6 + 0.4 * u[13]),
        lash_length_mm=float(1.6 + 1.4 * u[14]),
        lash_eumelanin=float(np.clip(max(hair_eumelanin, 0.5) * 1.4, 0.5, 2.0)),
        iris_scattering=float(28.0 + 15.0 * u[15]),
        iris_eumelanin_share=float(0.1 + 0.35 * u[38]),
        iris_fibre_contrast=float(0.2 + 0.5 * u[16]),
        iris_crypts=int(u[17] * 8),
        collarette_radius=float(0.35 + 0.12 * u[18]),
        collarette_melanin=float(math.exp(1.2 * u[19])),
        limbal_ring=float(np.clip((0.45 + 0.45 * u[25]) * (1.0 - 0.5 * aged), 0.0, 1.0)),
        sclera_vessels=int(3 + u[26] * 8),
        socket_shadow=float(0.08 + 0.12 * u[27] + 0.06 * aged),
        under_eye=float((0.1 + 0.5 * dark) * u[28] + 0.15 * aged * u[29]),
        wrinkles=float(np.clip(aged ** 1.3 * (0.6 + 0.8 * u[30]), 0.0, 1.0)),
        n_blemishes=int(u[31] * (7 if age < 30 else 3)),
        makeup=wears,
        lipstick=lipstick,
        lipstick_opacity=float(0.5 + 0.4 * u[32]) if lipstick else 0.0,
        eyeliner=float(0.5 + 0.45 * u[33]) if wears and u[34] < 0.6 else 0.0,
        eyeshadow=eyeshadow,
        eyeshadow_opacity=float(0.25 + 0.35 * u[35]) if eyeshadow else 0.0,
        mascara=bool(wears and u[36] < 0.7),
    )
