-- One statement stores the staged batch. First the reasons the database knows (`resolved`):
-- unknown entity, plot or commodity; an entity outside the scope or deregistered before the
-- point was collected; coordinates out of range (or
-- not convertible), unless swapping them lands in the entity's township (then the point is
-- kept, swapped, and flagged for review). Rejected rows get their reasons (`rejected`). Then
-- the new points: first occurrence per client_uuid, flags computed here, in input order; each
-- point's township and grid go to site_point_place, and its row number to `fresh`.
WITH resolved AS MATERIALIZED (
    -- (Every row, and `good` a boolean, on purpose: the planner takes half of the rows to
    -- pass a boolean but 1 in 200 to equal an array, and with so few expected it joined
    -- `stored` to `first` row by row.)
    SELECT *, reasons = '{}' AND found = '{}' AS good FROM (
        SELECT i.*, e.township_code AS entity_township, e.grid_id AS entity_grid,
               array_remove(ARRAY[
                   -- (the township's polygon only for these rare rows)
                   CASE WHEN NOT coalesce(i.lon BETWEEN -180 AND 180
                                          AND i.lat BETWEEN -90 AND 90, false)
                         AND NOT coalesce((
                             SELECT ST_Intersects(t.boundary,
                                                  ST_SetSRID(ST_MakePoint(i.lat, i.lon), 4326))
                             FROM township t WHERE t.code = e.township_code), false)
                        THEN 'coordinates_out_of_range' END,
                   CASE WHEN e.id IS NULL AND known.id IS NULL THEN 'unknown_entity' END,
                   CASE WHEN e.id IS NULL AND known.id IS NOT NULL THEN 'out_of_scope'
                        WHEN e.id IS NOT NULL AND CAST(:scope AS text) IS NOT NULL
                             AND e.township_code <> :scope THEN 'out_of_scope' END,
                   CASE WHEN i.plot_id IS NOT NULL AND p.entity_id IS DISTINCT FROM i.entity_id
                        THEN 'unknown_plot' END,
                   -- collected after the entity's deregistration (sql/020)
                   CASE WHEN e.deregistered_on < (coalesce(i.collected_at, now())
                                                  AT TIME ZONE 'Asia/Shanghai')::date
                        THEN 'entity_deregistered' END,
                   CASE WHEN i.commodity IS NOT NULL AND c.slug IS NULL THEN 'unknown_commodity' END
               ], NULL) AS found
        FROM incoming i
        LEFT JOIN entity e ON e.id = i.entity_id
        -- an entity row security hides from the uploader exists elsewhere: out of scope, not
        -- unknown (sql/022, a definer function: existence only)
        LEFT JOIN (SELECT x.id FROM entities_existing(ARRAY(
                       SELECT DISTINCT entity_id FROM incoming WHERE entity_id IS NOT NULL))
                       AS x(id)) known ON e.id IS NULL AND known.id = i.entity_id
        LEFT JOIN plot p ON p.id = i.plot_id
        LEFT JOIN commodity c ON c.slug = i.commodity) checked),
rejected AS (
    UPDATE incoming i SET reasons = r.found
    FROM resolved r WHERE i.ord = r.ord AND r.reasons = '{}' AND r.found <> '{}'),
first AS (
    SELECT DISTINCT ON (i.client_uuid) i.*, pt.geom, here.code AS township_code,
           here.grid_id,
           array_remove(ARRAY[
               -- one point-in-polygon test per point (`here`), compared by code after
               CASE WHEN CAST(:collector_township AS text) IS NOT NULL
                     AND here.code IS DISTINCT FROM :collector_township
                    THEN 'outside_collector_township' END,
               CASE WHEN here.code IS DISTINCT FROM i.entity_township
                    THEN 'outside_entity_township' END,
               CASE WHEN i.accuracy_m > :max_accuracy THEN 'low_accuracy' END,
               CASE WHEN coalesce(i.accuracy_m, 0) = 0 THEN 'accuracy_missing' END,
               CASE WHEN NOT pt.in_range OR (here.code IS DISTINCT FROM i.entity_township
                     AND (SELECT ST_Intersects(t.boundary,
                                               ST_SetSRID(ST_MakePoint(i.lat, i.lon), 4326))
                          FROM township t WHERE t.code = i.entity_township))
                    THEN 'swapped_coordinates' END,
               CASE WHEN NOT (ST_X(pt.geom) BETWEEN 73.4 AND 135.1
                              AND ST_Y(pt.geom) BETWEEN 3.8 AND 53.6)
                    THEN 'outside_china' END,
               -- most points lie near a plot: that test first, settling most rows
               -- (within far_m / 111,320 degrees is within far_m metres: a cheap planar
               -- test before the spherical one)
               CASE WHEN NOT EXISTS (SELECT 1 FROM plot p WHERE p.entity_id = i.entity_id
                                     AND p.id IS DISTINCT FROM i.plot_id
                                     AND (ST_DWithin(p.geom, pt.geom, :far_m / 111320.0)
                                          OR ST_DWithin(p.geom::geography,
                                                        pt.geom::geography, :far_m)))
                     AND EXISTS (SELECT 1 FROM plot p WHERE p.entity_id = i.entity_id
                                 AND p.id IS DISTINCT FROM i.plot_id)
                    THEN 'far_from_plots' END,
               -- another point of the entity within 5 m on the same day (CST): stored
               -- before (the entity's points of that day, by index), or earlier in this
               -- batch (the entity's rows near in longitude, by the batch's index)
               CASE WHEN EXISTS (
                        SELECT 1 FROM site_point o
                        WHERE o.entity_id = i.entity_id
                          AND o.collected_at >= day.start AND o.collected_at < day.stop
                          AND ST_DWithin(o.geom::geography, pt.geom::geography, :near_m))
                    OR EXISTS (
                        SELECT 1 FROM incoming m
                        WHERE m.entity_id = i.entity_id
                          AND m.lon BETWEEN ST_X(pt.geom) - 0.0001 AND ST_X(pt.geom) + 0.0001
                          AND m.xy && ST_Expand(pt.geom, 0.0001)
                          AND m.ord < i.ord AND m.client_uuid <> i.client_uuid
                          AND m.ord NOT IN (SELECT ord FROM resolved WHERE NOT good)
                          AND ST_DWithin(m.xy::geography, pt.geom::geography, :near_m)
                          AND (m.collected_at AT TIME ZONE 'Asia/Shanghai')::date
                              = (i.collected_at AT TIME ZONE 'Asia/Shanghai')::date)
                    THEN 'near_duplicate' END
           ], NULL) AS flags
    FROM resolved i
    CROSS JOIN LATERAL (SELECT i.lon BETWEEN -180 AND 180 AND i.lat BETWEEN -90 AND 90 AS ok) r
    CROSS JOIN LATERAL (
        SELECT r.ok AS in_range,
               ST_SetSRID(CASE WHEN r.ok THEN ST_MakePoint(i.lon, i.lat)
                               ELSE ST_MakePoint(i.lat, i.lon) END, 4326) AS geom) pt
    -- The day's bounds as values of their own (OFFSET 0 keeps the subquery from being folded
    -- into the test above): under row security only leakproof comparisons reach an index, and
    -- `+ interval` is not leakproof, so written inline the day's range was a filter over all
    -- the entity's points (8 s instead of 0.5 s for 5,000 points of one township).
    CROSS JOIN LATERAL (
        SELECT d.start, d.start + interval '1 day' AS stop
        FROM (SELECT date_trunc('day', i.collected_at AT TIME ZONE 'Asia/Shanghai')
                         AT TIME ZONE 'Asia/Shanghai' AS start) d
        OFFSET 0) day
    -- Where the point lies: most points lie in their entity's grid (one test, no index
    -- search); the other grids next, by index; the township polygons only for points
    -- outside every grid.
    LEFT JOIN current_grid eg ON eg.id = i.entity_grid
    CROSS JOIN LATERAL (
        SELECT CASE WHEN ST_Intersects(eg.boundary, pt.geom) THEN eg.id END AS grid_id) home
    LEFT JOIN LATERAL (
        SELECT eg.township_code AS code, home.grid_id WHERE home.grid_id IS NOT NULL
        UNION ALL
        SELECT g.township_code, g.id FROM current_grid g
        WHERE home.grid_id IS NULL AND ST_Intersects(g.boundary, pt.geom)
        UNION ALL
        SELECT t.code, NULL FROM township t
        WHERE home.grid_id IS NULL AND ST_Intersects(t.boundary, pt.geom)
        LIMIT 1) here ON true
    WHERE i.good
    ORDER BY i.client_uuid, i.ord),
stored AS (
    INSERT INTO site_point (client_uuid, content_hash, entity_id, plot_id, commodity, geom,
                            input_crs, input_x, input_y, collected_at, accuracy_m, note,
                            collector_id, flags, source)
    SELECT client_uuid, content_hash, entity_id, plot_id, commodity, geom, :crs, input_x,
           input_y, collected_at, accuracy_m, note, :collector, flags, :source
    FROM first ORDER BY ord
    ON CONFLICT (client_uuid) DO NOTHING
    RETURNING id, client_uuid, flags),
new AS (
    SELECT f.ord, s.id, s.flags, f.township_code, f.grid_id, f.geom
    FROM stored s JOIN first f USING (client_uuid)),
placed AS (
    INSERT INTO site_point_place (site_point_id, township_code, grid_id, geom)
    SELECT id, township_code, grid_id, geom FROM new ORDER BY id)
INSERT INTO fresh (ord, id, flags) SELECT ord, id, flags FROM new
