"""georeg: a PostGIS registry of producers, smallholders and plots inside township grids."""

__version__ = "0.1.0"
