"""Spectral skin reflectance: VIS reflectance to NIR reflectance."""
