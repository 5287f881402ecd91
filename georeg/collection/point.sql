-- A stored site point by client_uuid, with its place (township, grid) and its geometry as
-- GeoJSON (WGS 84, 8 decimals).
SELECT sp.id, sp.client_uuid::text AS client_uuid, sp.entity_id, e.name AS entity_name,
       sp.plot_id, sp.commodity, sp.collected_at, sp.accuracy_m, sp.note, sp.flags,
       pp.township_code, t.name AS township_name, pp.grid_id, g.code AS grid_code,
       sp.input_crs, sp.input_x, sp.input_y, sp.source, sp.received_at,
       ST_AsGeoJSON(sp.geom, 8)::json AS geometry
FROM site_point sp JOIN entity e ON e.id = sp.entity_id
LEFT JOIN site_point_place pp ON pp.site_point_id = sp.id
LEFT JOIN township t ON t.code = pp.township_code
LEFT JOIN grid g ON g.id = pp.grid_id
WHERE sp.client_uuid = :u
