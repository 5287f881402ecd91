-- Township outlines, simplified for display (maplayers.layers.townships).
SELECT code, name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(boundary, :tol), 5)::json
       AS geometry
FROM township WHERE boundary IS NOT NULL ORDER BY code
