"""Reconstruct face assets (shape, reflectance, landmarks) from 2D photos.

A stage between ``render`` and ``shards``: it uses the head model (``nirvis.faces``), the
reflectance models (``nirvis.reflectance``, VIS -> NIR albedo) and the rasteriser
(``nirvis.render.raster``) and writes face assets that ``render-dataset --identity-source``
renders.
"""
