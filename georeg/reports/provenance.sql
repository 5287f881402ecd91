-- Completeness and accuracy of provenance collection, one row per township and key product
-- of the year (provenance.py works out the percentage and the status).
WITH key AS (
    SELECT c.slug, c.name_zh, d.due FROM commodity c
    JOIN provenance_deadline d ON d.commodity = c.slug AND d.year = :year
    WHERE c.provenance_key),
reg AS (  -- entities that grow or raise the product, by their township
    SELECT DISTINCT e.township_code, p.commodity, e.id AS entity_id
    FROM entity e JOIN plot p ON p.entity_id = e.id JOIN key ON key.slug = p.commodity
    -- active in the period (entity_active, sql/020), the plot not retired before it
    WHERE entity_active(e.registered_on, e.deregistered_on, :start, :as_of)
      AND (p.retired_on IS NULL OR p.retired_on >= :start)),
pts AS (  -- accepted points in the year so far; the day in China Standard Time
    SELECT sp.entity_id, coalesce(sp.commodity, pl.commodity) AS commodity,
           (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
               AS day,
           sp.flags <> '{}' AS flagged
    FROM site_point sp LEFT JOIN plot pl ON pl.id = sp.plot_id),
per_entity AS (
    SELECT r.township_code, r.commodity, r.entity_id,
           coalesce(bool_or(p.day BETWEEN :start AND :as_of), false) AS has_point,
           coalesce(bool_or(p.day BETWEEN :start AND key.due), false) AS by_due
    FROM reg r JOIN key ON key.slug = r.commodity
    LEFT JOIN pts p ON p.entity_id = r.entity_id AND p.commodity = r.commodity
    GROUP BY r.township_code, r.commodity, r.entity_id),
flagged AS (
    SELECT e.township_code, p.commodity, count(*) AS n
    FROM pts p JOIN entity e ON e.id = p.entity_id
    WHERE p.flagged AND p.day BETWEEN :start AND :as_of GROUP BY 1, 2),
rejected AS (
    SELECT township_code, commodity, count(*) AS n FROM site_point_rejection
    WHERE (coalesce(collected_at, received_at) AT TIME ZONE 'Asia/Shanghai')::date
          BETWEEN :start AND :as_of
    GROUP BY 1, 2)
SELECT t.code AS township_code, t.name AS township_name, key.slug AS commodity,
       key.name_zh AS commodity_name, key.due,
       count(pe.entity_id) AS entities,
       count(pe.entity_id) FILTER (WHERE pe.has_point) AS collected,
       count(pe.entity_id) FILTER (WHERE pe.by_due) AS collected_by_due,
       coalesce(max(f.n), 0) AS flagged_points, coalesce(max(rj.n), 0) AS rejected_points
FROM township t CROSS JOIN key
LEFT JOIN per_entity pe ON pe.township_code = t.code AND pe.commodity = key.slug
LEFT JOIN flagged f ON f.township_code = t.code AND f.commodity = key.slug
LEFT JOIN rejected rj ON rj.township_code = t.code AND rj.commodity = key.slug
WHERE (CAST(:county AS text) IS NULL OR t.county_code = :county)
  -- a township account's report is its own township's rows (row security hides the rest)
  AND (georeg_township() IS NULL OR t.code = georeg_township())
GROUP BY t.code, t.name, key.slug, key.name_zh, key.due
ORDER BY t.code, key.due, key.slug
