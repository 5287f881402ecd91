-- Rule-based key-supervision listings brought in line with the events as of :day, for every
-- entity (:entity_ids NULL) or some (georeg.credit.listing.refresh_key_supervision).
-- Parameters: rating.rule_params, base/floor/ceiling, lowest_threshold, listing_since.
--
-- `due`: the (entity, reason) pairs the rules call for, with a line saying why.
WITH recent AS (
    SELECT DISTINCT ON (ce.entity_id, ce.kind) ce.entity_id, ce.kind, ce.root_id, ce.occurred_on
    FROM credit_effective(CAST(:entity_ids AS bigint[]), CAST(:listing_since AS date),
                          CAST(:day AS date)) ce
    WHERE (ce.kind = 'sampling' AND ce.outcome = 'fail') OR ce.kind = 'penalty'
    ORDER BY ce.entity_id, ce.kind, ce.occurred_on DESC, ce.root_id DESC),
scored AS (
    SELECT k.entity_id, credit_score(:base, sum(k.points * k.weight), :floor, :ceiling) AS score
    FROM credit_counted(CAST(:entity_ids AS bigint[]), CAST(:day AS date),
                        CAST(:window_since AS date), CAST(:full_since AS date),
                        CAST(:older_weight AS numeric), CAST(:rule_kinds AS text[]),
                        CAST(:rule_outcomes AS text[]), CAST(:rule_points AS integer[])) k
    GROUP BY k.entity_id),
due AS (
    SELECT entity_id,
           CASE kind WHEN 'sampling' THEN 'sampling_failed' ELSE 'penalty' END AS reason_code,
           format('信用事件 #%s（%s）', root_id, occurred_on) AS detail
    FROM recent
    UNION ALL
    SELECT entity_id, 'grade_d', format('%s 信用分 %s', CAST(:day AS date), round(score, 1))
    FROM scored WHERE score < :lowest_threshold),
-- EXCEPT and ON CONFLICT rather than NOT EXISTS: right after a big refresh the planner thinks
-- the listing table is empty and would compare every listing with every due pair.
closed AS (
    UPDATE key_supervision_listing l SET delisted_on = greatest(CAST(:day AS date), l.listed_on)
    FROM (SELECT o.entity_id, o.reason_code FROM key_supervision_listing o
          WHERE o.source = 'rule' AND o.delisted_on IS NULL
            AND (CAST(:entity_ids AS bigint[]) IS NULL
                 OR o.entity_id = ANY(CAST(:entity_ids AS bigint[])))
          EXCEPT SELECT entity_id, reason_code FROM due) gone
    WHERE l.entity_id = gone.entity_id AND l.reason_code = gone.reason_code
      AND l.delisted_on IS NULL
    RETURNING l.id),
opened AS (
    INSERT INTO key_supervision_listing (entity_id, source, reason_code, detail, listed_on)
    SELECT d.entity_id, 'rule', d.reason_code, d.detail, :day FROM due d
    -- already open (or opened meanwhile by a concurrent refresh): nothing to do
    ON CONFLICT (entity_id, reason_code) WHERE delisted_on IS NULL DO NOTHING
    RETURNING id)
SELECT (SELECT count(*) FROM opened) AS opened, (SELECT count(*) FROM closed) AS closed
