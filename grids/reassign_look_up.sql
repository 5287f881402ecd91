-- Site point places left without a grid (or still in a closed one): the grid they lie in,
-- looked up one by one (the lowest id on an edge), else only the township (none outside the
-- county). A template (grids.reassign._look_up): the place table in use and its old grid
-- column go in as identifiers.
WITH lost AS (
    SELECT p.site_point_id, {old} AS old_grid, g.id AS grid_id,
           coalesce(g.township_code, (
               SELECT t.code FROM township t WHERE ST_Intersects(t.boundary, p.geom)
               ORDER BY t.code LIMIT 1)) AS township_code
    FROM {table} p LEFT JOIN LATERAL (
        SELECT g.id, g.township_code FROM current_grid g
        WHERE ST_Intersects(g.boundary, p.geom) ORDER BY g.id LIMIT 1) g ON true
    WHERE p.grid_id IS NULL OR p.grid_id = ANY(:closed)),
moved AS (
    UPDATE {table} p SET grid_id = l.grid_id, township_code = l.township_code
    FROM lost l WHERE p.site_point_id = l.site_point_id
      AND (p.grid_id, p.township_code) IS DISTINCT FROM (l.grid_id, l.township_code)
    RETURNING l.old_grid, l.grid_id AS new_grid)
SELECT old_grid, new_grid, count(*) AS n FROM moved GROUP BY 1, 2
