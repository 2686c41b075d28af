"""nirvis: paired near-infrared / visible face rendering and cross-spectral face recognition.

Stages (data flows one way): faces -> reflectance -> render -> shards -> train -> evaluate.
"""

__version__ = "0.1.0"
