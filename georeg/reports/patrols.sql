-- Patrols, trace codes and certificates per township for a month, with the year's plan
-- targets (patrols.py pro-rates them and names what is behind).
WITH tw AS (
    -- a township account's report is its own township's row (row security hides the rest)
    SELECT code, name FROM township
    WHERE (CAST(:county AS text) IS NULL OR county_code = :county)
      AND (georeg_township() IS NULL OR code = georeg_township())),
-- producers active in the month (entity_active, sql/020: registered by its end, not
-- deregistered before its start)
prod AS (SELECT e.id, e.name, e.township_code FROM entity e JOIN tw ON tw.code = e.township_code
         WHERE e.is_producer
           AND entity_active(e.registered_on, e.deregistered_on, :month_start, :until)),
daily AS (
    SELECT p.township_code, pa.day, count(DISTINCT pa.entity_id) AS covered
    FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.kind = 'online' AND pa.day BETWEEN :month_start AND :until
    GROUP BY 1, 2),
monthly AS (
    SELECT p.township_code, count(*) AS n
    FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.day BETWEEN :month_start AND :until GROUP BY 1),
per_producer AS (
    SELECT p.township_code, p.id, p.name, count(c.id) AS batches
    FROM prod p LEFT JOIN certificate c ON c.entity_id = p.id AND c.trace_code IS NOT NULL
         AND c.issued_on BETWEEN :year_start AND :until
    GROUP BY 1, 2, 3),
smallholder_certs AS (
    SELECT e.township_code, count(*) AS n
    FROM certificate c JOIN entity e ON e.id = c.entity_id AND e.kind = 'smallholder'
    WHERE c.issued_on BETWEEN :year_start AND :until GROUP BY 1),
targets AS (
    SELECT unit, metric, target FROM plan_target WHERE year = :year)
SELECT tw.code AS township_code, tw.name AS township_name,
       (SELECT count(*) FROM prod p WHERE p.township_code = tw.code) AS producers,
       coalesce((SELECT sum(covered)::int FROM daily d WHERE d.township_code = tw.code), 0)
           AS covered_producer_days,
       (SELECT count(*) FROM daily d WHERE d.township_code = tw.code
          AND d.covered >= (SELECT count(*) FROM prod p WHERE p.township_code = tw.code))
           AS full_coverage_days,
       coalesce((SELECT n FROM monthly m WHERE m.township_code = tw.code), 0) AS monthly_patrols,
       coalesce((SELECT sum(batches)::int FROM per_producer pp WHERE pp.township_code = tw.code), 0)
           AS trace_codes_ytd,
       coalesce((SELECT n FROM smallholder_certs s WHERE s.township_code = tw.code), 0)
           AS smallholder_certificates_ytd,
       (SELECT coalesce(json_agg(json_build_object('entity_id', pp.id, 'name', pp.name,
                                                   'batches', pp.batches) ORDER BY pp.batches,
                                 pp.id), '[]')
        FROM per_producer pp WHERE pp.township_code = tw.code
          AND pp.batches < :batches_due) AS producers_below,
       (SELECT target FROM targets WHERE unit = tw.code AND metric = 'monthly_patrols')
           AS monthly_target,
       (SELECT target FROM targets WHERE unit = tw.code AND metric = 'annual_trace_codes')
           AS trace_target,
       (SELECT target FROM targets WHERE unit = tw.code
          AND metric = 'annual_smallholder_certificates') AS smallholder_target
FROM tw ORDER BY tw.code
