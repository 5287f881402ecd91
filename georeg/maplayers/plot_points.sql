-- Plots as a point on their surface (maplayers.layers.plots).
SELECT p.id, p.entity_id, p.commodity, p.area_mu, ST_X(s) AS x, ST_Y(s) AS y
FROM plot p CROSS JOIN LATERAL ST_PointOnSurface(p.geom) AS s
WHERE CAST(:township AS text) IS NULL OR p.township_code = :township
ORDER BY p.id
