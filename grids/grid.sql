-- One grid version (grids.staff.get_grid), current or closed: its township, area, people
-- (grid_crew, sql/017_grid_crew.sql) and registry counts of today (entity_active, sql/020).
SELECT g.id, g.code, g.name, g.township_code, t.name AS township_name, g.valid_from,
       g.valid_to, ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       round((ST_Area(g.boundary::geography) / 1e6)::numeric, 2) AS area_km2,
       crew.supervisor, crew.assistants,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id
           AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())
           AND e.is_producer)
           AS producer_count,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id
           AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())
           AND e.kind = 'smallholder')
           AS smallholder_count,
       (SELECT count(*) FROM entity e WHERE e.grid_id = g.id
           AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())
           AND e.kind = 'buyer') AS buyer_count,
       (SELECT count(*) FROM plot p WHERE p.grid_id = g.id
           AND (p.retired_on IS NULL OR p.retired_on >= georeg_today())) AS plot_count,
       (SELECT count(*) FROM site_point_place sp WHERE sp.grid_id = g.id) AS site_point_count
FROM grid g JOIN township t ON t.code = g.township_code
CROSS JOIN LATERAL grid_crew(g.id) AS crew
WHERE g.id = :id
