-- Current grids with their staff (grid_crew, sql/017_grid_crew.sql) and smallholders
-- (maplayers.layers.grids); the patrol figures per grid are georeg.reports.patrols.grid_patrols'.
SELECT g.id, g.code, g.name, g.township_code, t.name AS township_name,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       crew.supervisor, crew.assistants,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id AND e.kind = 'smallholder'
          AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today()))
           AS smallholders
FROM current_grid g JOIN township t ON t.code = g.township_code
CROSS JOIN LATERAL grid_crew(g.id) AS crew
WHERE CAST(:township AS text) IS NULL OR g.township_code = :township
ORDER BY g.code
