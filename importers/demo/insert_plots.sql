-- The staged plots into plot (importers.demo.load), as plot_before_write would: the grid of
-- the PointOnSurface, the polygon's area, the township check (a row outside is left out).
-- gt, the current grids with their township's boundary, opens insert_entities.sql and
-- insert_plots.sql alike.
WITH gt AS MATERIALIZED (
    SELECT g.id, g.township_code, g.boundary AS grid_boundary, t.boundary AS township_boundary
    FROM current_grid g JOIN township t ON t.code = g.township_code
    ORDER BY g.code)  -- rows, and so plot ids, in the same order whatever the layout on disk
INSERT INTO plot (entity_id, commodity, name, geom, area_mu, township_code, grid_id)
SELECT s.entity_id, s.commodity, s.name, s.geom,
       CASE WHEN GeometryType(s.geom) = 'POINT' THEN s.area_mu
            ELSE round((ST_Area(s.geom::geography) / (10000.0 / 15))::numeric, 2) END,
       s.township_code, gt.id
FROM gt CROSS JOIN LATERAL (
    SELECT * FROM plot_load s
    WHERE s.township_code = gt.township_code AND s.geom && gt.grid_boundary
      AND ST_Intersects(gt.grid_boundary, ST_PointOnSurface(s.geom))
      AND ST_Covers(gt.township_boundary, s.geom)
    OFFSET 0) s
