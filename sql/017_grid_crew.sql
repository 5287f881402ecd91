-- A grid's people, in one place (grids.staff, grids.queries, the demo patrols): its supervisor
-- (at most one, grid_one_supervisor; NULL when none) and its assistants by name ('{}' when
-- none). Called in FROM, one row per grid: CROSS JOIN LATERAL grid_crew(g.id) AS crew.
-- A set-returning SQL function of one SELECT, neither STRICT nor SECURITY DEFINER, STABLE: the
-- planner inlines it, so the plans are those of the two subqueries written out in place.
CREATE FUNCTION grid_crew(of_grid bigint) RETURNS TABLE (supervisor text, assistants text[])
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT (SELECT s.person FROM grid_staff s
            WHERE s.grid_id = of_grid AND s.role = 'supervisor'),
           (SELECT coalesce(array_agg(s.person ORDER BY s.person), '{}') FROM grid_staff s
            WHERE s.grid_id = of_grid AND s.role = 'assistant')
$$;
