"""Map pages (issue 7): folium pages served at /maps/ and written as static HTML, their display
layers and vector tiles, and the Leaflet files they use, installed from npm at set-up."""
