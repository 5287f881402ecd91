-- Townships with their registry counts of today (grids.queries): one (code), those of a county
-- (county), or all when both are NULL; by code. The filters are typed as the char columns
-- (bpchar, no length, so nothing is cut): compared as text, the code could not use its index.
-- The counts come from township_counts (sql/022), a definer function of aggregates only: the
-- list is public and row security hides the rows themselves. No account or staff names.
-- Active entities and plots only (entity_active, sql/020).
SELECT t.code, t.name, t.county_code, t.boundary_source, t.population,
       ST_AsGeoJSON(t.boundary, 6)::json AS geometry,
       n.producer_count, n.smallholder_count, n.buyer_count, n.plot_count,
       (SELECT count(*) FROM current_grid g WHERE g.township_code = t.code) AS grid_count
FROM township t
JOIN township_counts(CAST(:county AS bpchar), CAST(:code AS bpchar)) n ON n.code = t.code
WHERE (CAST(:county AS bpchar) IS NULL OR t.county_code = :county)
  AND (CAST(:code AS bpchar) IS NULL OR t.code = :code)
ORDER BY t.code
