-- Patrols of the producers of each current grid for part of a month (patrols.grid_patrols),
-- with the plan of the grid's township: its monthly patrols and producers, whose ratio is the
-- target per producer. Covered producer-days count each producer once a day patrolled online,
-- as the township report's daily coverage does.
WITH g AS (
    SELECT g.id, g.township_code FROM current_grid g
    WHERE CAST(:township AS text) IS NULL OR g.township_code = :township),
prod AS (SELECT e.id, e.grid_id FROM entity e JOIN g ON g.id = e.grid_id WHERE e.is_producer
           AND entity_active(e.registered_on, e.deregistered_on, :start, :until)),
counted AS (
    SELECT p.grid_id, count(*) AS patrols,
           count(DISTINCT (pa.entity_id, pa.day)) FILTER (WHERE pa.kind = 'online') AS covered
    FROM patrol pa JOIN prod p ON p.id = pa.entity_id
    WHERE pa.day BETWEEN :start AND :until
    GROUP BY 1),
plan AS (
    SELECT unit, max(target) FILTER (WHERE metric = 'monthly_patrols') AS monthly_patrols,
           max(target) FILTER (WHERE metric = 'producers') AS producers
    FROM plan_target WHERE year = :year GROUP BY unit)
SELECT g.id AS grid_id, (SELECT count(*) FROM prod p WHERE p.grid_id = g.id) AS producers,
       coalesce(c.covered, 0)::int AS covered_producer_days,
       coalesce(c.patrols, 0)::int AS monthly_patrols,
       pl.monthly_patrols AS plan_monthly_patrols, pl.producers AS plan_producers
FROM g LEFT JOIN counted c ON c.grid_id = g.id LEFT JOIN plan pl ON pl.unit = g.township_code
