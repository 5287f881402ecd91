"""The map pages' data: display layers as GeoJSON (layers.py) and vector tiles (tiles.py).

Read by the API's map routes and by the static HTML export (maps/export.py); their larger
statements are the .sql files beside the modules.
"""
