-- Producers, buyers and smallholders as points (maplayers.layers.entities).
SELECT e.id, e.name, e.kind, e.key_supervision, e.township_code, e.grid_id,
       ST_X(e.location) AS x, ST_Y(e.location) AS y
FROM entity e
WHERE (CAST(:township AS text) IS NULL OR e.township_code = :township)
  AND entity_active(e.registered_on, e.deregistered_on, georeg_today(), georeg_today())  -- sql/020
ORDER BY e.id
