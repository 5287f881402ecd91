-- Current grids with their staff and smallholders (maplayers.layers.grids); the patrol
-- figures per grid are georeg.reports.patrols.grid_patrols'.
SELECT g.id, g.code, g.name, g.township_code, t.name AS township_name,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       (SELECT s.person FROM grid_staff s WHERE s.grid_id = g.id AND s.role = 'supervisor')
           AS supervisor,
       (SELECT coalesce(array_agg(s.person ORDER BY s.person), '{}') FROM grid_staff s
        WHERE s.grid_id = g.id AND s.role = 'assistant') AS assistants,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.kind = 'smallholder')
           AS smallholders
FROM current_grid g JOIN township t ON t.code = g.township_code
WHERE CAST(:township AS text) IS NULL OR g.township_code = :township
ORDER BY g.code
