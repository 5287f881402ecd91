-- The credit rating's shared SQL (georeg/credit/rating.py): which events count and how they
-- sum to a score, for the grade of one entity, the key-supervision refresh, the stored
-- standings and a sampling frame's fallback, so that all of them always agree.
-- Plain SQL functions of one SELECT, neither STRICT nor SECURITY DEFINER and no more volatile
-- than their body, so that the planner inlines them: the plans are those of the statement
-- written out in place. An argument `p_entity_ids` NULL means every entity; the planner
-- folds the test away when it plans for the values given (the index is read for a list).

-- The effective events of a day: of each correction chain only the newest row (only
-- corrections supersede, so the probe reads the small partial index
-- credit_event_corrections), unless it is a void, dated in (p_after, p_day]. Filtering the
-- newest row by its own date is exact: it carries the chain's corrected date.
CREATE FUNCTION credit_effective(p_entity_ids bigint[], p_after date, p_day date)
RETURNS TABLE (root_id bigint, id bigint, entity_id bigint, kind text, outcome text,
               occurred_on date)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ce.root_id, ce.id, ce.entity_id, ce.kind, ce.outcome, ce.occurred_on
    FROM credit_event ce
    WHERE (p_entity_ids IS NULL OR ce.entity_id = ANY(p_entity_ids))
      AND ce.action <> 'void' AND ce.occurred_on <= p_day AND ce.occurred_on > p_after
      AND NOT EXISTS (
          SELECT 1 FROM credit_event later
          WHERE later.root_id = ce.root_id AND later.id > ce.id AND later.action <> 'record')
$$;

-- The events that count as of p_day, with their points (the rule set as three aligned
-- arrays: kind, outcome, points) and weight: in full after p_full_since, p_older_weight
-- times before, nothing on or before p_window_since; events worth 0 points are left out.
CREATE FUNCTION credit_counted(
    p_entity_ids bigint[], p_day date, p_window_since date, p_full_since date,
    p_older_weight numeric, p_rule_kinds text[], p_rule_outcomes text[],
    p_rule_points integer[])
RETURNS TABLE (root_id bigint, id bigint, entity_id bigint, kind text, outcome text,
               occurred_on date, points integer, weight numeric)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ce.root_id, ce.id, ce.entity_id, ce.kind, ce.outcome, ce.occurred_on, r.points,
           CASE WHEN ce.occurred_on > p_full_since THEN 1.0 ELSE p_older_weight END
    FROM credit_effective(p_entity_ids, p_window_since, p_day) ce
    JOIN unnest(p_rule_kinds, p_rule_outcomes, p_rule_points) AS r(kind, outcome, points)
      ON r.kind = ce.kind AND r.outcome IS NOT DISTINCT FROM ce.outcome
    WHERE r.points <> 0
$$;

-- The score from the sum of an entity's counted points times weights (NULL: none counted),
-- clamped to [p_floor, p_ceiling].
CREATE FUNCTION credit_score(p_base numeric, p_total numeric, p_floor numeric,
                             p_ceiling numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(p_base + coalesce(p_total, 0), p_floor), p_ceiling)
$$;

-- Whether a counted event is a failed sampling after p_since: what a standing counts as
-- recent failures (it holds a failure as long as the failure scores).
CREATE FUNCTION credit_recent_failure(p_kind text, p_outcome text, p_occurred_on date,
                                      p_since date) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_kind = 'sampling' AND p_outcome = 'fail' AND p_occurred_on > p_since
$$;

-- The grade of a score: p_names[i + 1] where i is how many of p_mins (ascending lower
-- bounds) the score reaches; p_names[1] is the lowest grade.
CREATE FUNCTION credit_grade(p_score numeric, p_mins numeric[], p_names text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_names[width_bucket(p_score, p_mins) + 1]
$$;
