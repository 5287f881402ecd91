-- Townships with their registry counts of today (entity_active, sql/020; grids.queries): one
-- (code), those of a county (county), or all when both are NULL; by code. The filters are
-- typed as the char columns (bpchar, no length, so nothing is cut): compared as text, the code
-- could not use its index.
SELECT t.code, t.name, t.account, t.county_code, t.boundary_source, t.population,
       ST_AsGeoJSON(t.boundary, 6)::json AS geometry,
       (SELECT count(*) FROM entity e WHERE e.township_code = t.code
           AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())
           AND e.is_producer)
           AS producer_count,
       (SELECT count(*) FROM entity e WHERE e.township_code = t.code
           AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())
           AND e.kind = 'smallholder')
           AS smallholder_count,
       (SELECT count(*) FROM entity e WHERE e.township_code = t.code
           AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())
           AND e.kind = 'buyer')
           AS buyer_count,
       (SELECT count(*) FROM plot p WHERE p.township_code = t.code
           AND (p.retired_on IS NULL OR p.retired_on >= georeg_today())) AS plot_count,
       (SELECT count(*) FROM current_grid g WHERE g.township_code = t.code) AS grid_count
FROM township t
WHERE (CAST(:county AS bpchar) IS NULL OR t.county_code = :county)
  AND (CAST(:code AS bpchar) IS NULL OR t.code = :code)
ORDER BY t.code
