"""Map pages (folium, served by the app and written as static HTML). Lands with issue 7; the
API already serves every layer they need as GeoJSON."""
