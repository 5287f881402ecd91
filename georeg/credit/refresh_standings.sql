-- The stored standing as of :day recomputed for some entities (:entity_ids) or for every
-- entity with events (:entity_ids NULL); georeg.credit.standing.refresh_standings.
-- Parameters: rating.standing_params. Returns the rows written and dropped.
--
-- `subject`: the entities recomputed, only those with events (the others lose their row).
WITH subject AS (
    SELECT DISTINCT ce.entity_id FROM credit_event ce
    WHERE CAST(:entity_ids AS bigint[]) IS NULL
       OR ce.entity_id = ANY(CAST(:entity_ids AS bigint[]))),
fresh AS (
    SELECT s.entity_id,
           credit_score(:base, sum(k.points * k.weight), :floor, :ceiling) AS score,
           count(k.id) FILTER (WHERE credit_recent_failure(k.kind, k.outcome, k.occurred_on,
                                                           CAST(:failed_since AS date)))
               AS failed
    FROM subject s
    LEFT JOIN credit_counted(CAST(:entity_ids AS bigint[]), CAST(:day AS date),
                             CAST(:window_since AS date), CAST(:full_since AS date),
                             CAST(:older_weight AS numeric), CAST(:rule_kinds AS text[]),
                             CAST(:rule_outcomes AS text[]), CAST(:rule_points AS integer[])) k
      ON k.entity_id = s.entity_id
    GROUP BY s.entity_id),
written AS (
    INSERT INTO credit_standing AS c (entity_id, as_of, rules, score, grade, failed_recent)
    SELECT f.entity_id, :day, :rules_key, f.score,
           credit_grade(f.score, CAST(:grade_mins AS numeric[]), CAST(:grade_names AS text[])),
           f.failed
    FROM fresh f ORDER BY f.entity_id
    ON CONFLICT (entity_id) DO UPDATE
        SET as_of = excluded.as_of, rules = excluded.rules, score = excluded.score,
            grade = excluded.grade, failed_recent = excluded.failed_recent
    RETURNING 1),
dropped AS (
    DELETE FROM credit_standing c
    WHERE (CAST(:entity_ids AS bigint[]) IS NULL
           OR c.entity_id = ANY(CAST(:entity_ids AS bigint[])))
      AND NOT EXISTS (SELECT 1 FROM credit_event e WHERE e.entity_id = c.entity_id)
    RETURNING 1)
SELECT (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM dropped) AS dropped
