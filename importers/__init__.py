"""Importers: reference data and, later, boundaries, patrols and bulk registry files."""
