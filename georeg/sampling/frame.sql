-- The candidate frame of a sampling plan (georeg.sampling.candidates): ids, projected x/y in
-- metres and small codes, one row per (entity, commodity) at its main plot, in that order.
-- Parameters: area (EWKB), commodities, srid; the credit record when :with_credit
-- (rating.standing_params); the exclusion window when :sampled_after is not NULL.
WITH hit AS (
    SELECT DISTINCT p.entity_id, p.commodity
    FROM plot p
    WHERE p.commodity = ANY(CAST(:commodities AS text[]))
      AND ST_Intersects(p.geom, ST_GeomFromEWKB(:area))),
unit AS (
    -- the entity is read here, inside the LIMIT 1 subquery, so that it is looked up by id
    -- for each unit (a merge join read the whole entity index instead: 0.25 s at 1M)
    SELECT h.entity_id, h.commodity, m.id AS plot_id, m.pt, m.township_code, m.grid_id,
           m.smallholder, m.key_supervision
    FROM hit h
    CROSS JOIN LATERAL (
        SELECT q.id, ST_PointOnSurface(q.geom) AS pt, q.township_code, q.grid_id,
               e.kind = 'smallholder' AS smallholder, e.key_supervision
        FROM plot q JOIN entity e ON e.id = q.entity_id
        WHERE q.entity_id = h.entity_id AND q.commodity = h.commodity AND e.kind <> 'buyer'
          -- in business on the frame's day (sql/020), on a plot still in use
          AND entity_active(e.registered_on, e.deregistered_on, :day, :day)
          AND (q.retired_on IS NULL OR q.retired_on >= :day)
        ORDER BY q.area_mu DESC NULLS LAST, q.id
        LIMIT 1) m
    WHERE ST_Intersects(m.pt, ST_GeomFromEWKB(:area)))
SELECT u.entity_id, u.plot_id,
       ST_X(xy.g) AS x, ST_Y(xy.g) AS y,
       array_position(CAST(:commodities AS text[]), u.commodity) - 1 AS commodity,
       CAST(u.township_code AS bigint) AS township,
       coalesce(u.grid_id, -1) AS grid,
       u.smallholder,
       u.key_supervision,
       -- no standing: no events (or no credit asked for), the caller puts the base score
       CASE WHEN cs.entity_id IS NULL THEN NULL
            WHEN cs.as_of = :day AND cs.rules = :rules_key THEN cs.score
            ELSE c.score END AS score,
       CASE WHEN cs.entity_id IS NULL THEN 0
            WHEN cs.as_of = :day AND cs.rules = :rules_key THEN cs.failed_recent
            ELSE c.failed END AS failed,
       -- Sampled lately: a plan target marked sampled, or a rapid or lab test recorded
       -- (sql/009), on a day in (today - D, today], China Standard Time.
       CAST(:sampled_after AS date) IS NOT NULL
       AND (EXISTS (SELECT 1 FROM sampling_plan_target s
                    WHERE s.entity_id = u.entity_id AND s.status = 'sampled'
                      AND s.status_on > :sampled_after)
            OR EXISTS (SELECT 1 FROM rapid_test r
                       WHERE r.entity_id = u.entity_id AND r.sampled_on > :sampled_after)
            OR EXISTS (SELECT 1 FROM lab_sample l
                       WHERE l.entity_id = u.entity_id AND l.sampled_on > :sampled_after))
           AS recently_sampled
FROM unit u
CROSS JOIN LATERAL (SELECT ST_Transform(u.pt, CAST(:srid AS integer)) AS g) xy
-- A current standing is read as is; a stale or out-of-date one (another day, other rules) is
-- recomputed from the entity's counted events (credit_counted, inlined by the planner and
-- read through credit_event's (entity_id, occurred_on) index). The lateral's WHERE on the
-- standing alone becomes a one-time filter: current entities read no events at all.
LEFT JOIN credit_standing cs
  ON cs.entity_id = u.entity_id AND CAST(:with_credit AS boolean)
LEFT JOIN LATERAL (
    SELECT credit_score(:base, sum(k.points * k.weight), :floor, :ceiling) AS score,
           count(k.id) FILTER (WHERE credit_recent_failure(k.kind, k.outcome, k.occurred_on,
                                                           CAST(:failed_since AS date)))
               AS failed
    FROM credit_counted(NULL, CAST(:day AS date), CAST(:window_since AS date),
                        CAST(:full_since AS date), CAST(:older_weight AS numeric),
                        CAST(:rule_kinds AS text[]), CAST(:rule_outcomes AS text[]),
                        CAST(:rule_points AS integer[])) k
    WHERE k.entity_id = u.entity_id AND cs.entity_id IS NOT NULL
      AND (cs.as_of IS DISTINCT FROM CAST(:day AS date)
           OR cs.rules IS DISTINCT FROM CAST(:rules_key AS text))) c ON true
ORDER BY u.entity_id, u.commodity
