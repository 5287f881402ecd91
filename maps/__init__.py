"""Map pages (issue 7): folium pages served at /maps/ and written as static HTML, and the
Leaflet files they use, installed from npm at set-up. Their layers and vector tiles are the
kernel's (georeg.maplayers); the pages never import the API."""
