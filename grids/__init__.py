"""Townships and grids: boundaries, demo generation, spatial assignment."""
