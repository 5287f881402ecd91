-- Per current grid: entity x key product pairs with a point this year (maplayers.layers.
-- provenance_grids), as georeg/reports/provenance.py counts them per township.
WITH key AS (
    SELECT c.slug FROM commodity c
    JOIN provenance_deadline d ON d.commodity = c.slug AND d.year = :year
    WHERE c.provenance_key),
reg AS (  -- entity x key product, in the entity's grid (as the township report counts)
    SELECT DISTINCT e.grid_id, p.commodity, e.id AS entity_id
    FROM entity e JOIN plot p ON p.entity_id = e.id JOIN key ON key.slug = p.commodity
    WHERE e.grid_id IS NOT NULL
      AND entity_active(e.registered_on, e.deregistered_on, :start, :as_of)
      AND (p.retired_on IS NULL OR p.retired_on >= :start)),
pts AS (
    SELECT DISTINCT sp.entity_id, coalesce(sp.commodity, pl.commodity) AS commodity
    FROM site_point sp LEFT JOIN plot pl ON pl.id = sp.plot_id
    WHERE (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
          BETWEEN :start AND :as_of),
per_grid AS (
    SELECT r.grid_id, count(*) AS pairs,
           count(*) FILTER (WHERE pts.entity_id IS NOT NULL) AS collected,
           count(DISTINCT r.entity_id) AS entities
    FROM reg r LEFT JOIN pts ON pts.entity_id = r.entity_id AND pts.commodity = r.commodity
    GROUP BY r.grid_id),
flagged AS (
    SELECT pp.grid_id, count(*) AS n
    FROM site_point sp JOIN site_point_place pp ON pp.site_point_id = sp.id
    WHERE sp.flags <> '{}'
      AND (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
          BETWEEN :start AND :as_of
    GROUP BY 1)
SELECT g.id, g.code, g.name, g.township_code, t.name AS township_name,
       ST_AsGeoJSON(g.boundary, 6)::json AS geometry,
       coalesce(pg.entities, 0) AS entities, coalesce(pg.pairs, 0) AS pairs,
       coalesce(pg.collected, 0) AS collected, coalesce(f.n, 0) AS flagged_points
FROM current_grid g JOIN township t ON t.code = g.township_code
LEFT JOIN per_grid pg ON pg.grid_id = g.id LEFT JOIN flagged f ON f.grid_id = g.id
WHERE CAST(:township AS text) IS NULL OR g.township_code = :township
ORDER BY g.code
