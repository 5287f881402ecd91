-- Plots as their shapes (a township's page; maplayers.layers.plots).
SELECT p.id, p.entity_id, p.commodity, p.area_mu, ST_AsGeoJSON(p.geom, 6)::json AS geometry
FROM plot p
WHERE CAST(:township AS text) IS NULL OR p.township_code = :township
ORDER BY p.id
