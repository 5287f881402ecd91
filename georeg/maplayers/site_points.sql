-- Collected site points of the year, China Standard Time (maplayers.layers.site_points).
SELECT sp.id, sp.entity_id, e.name AS entity_name, coalesce(sp.commodity, pl.commodity)
           AS commodity, sp.flags, sp.accuracy_m, pp.grid_id, pp.township_code,
       to_char(coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai',
               'YYYY-MM-DD HH24:MI') AS collected_at,
       ST_X(sp.geom) AS x, ST_Y(sp.geom) AS y
FROM site_point sp JOIN entity e ON e.id = sp.entity_id
LEFT JOIN site_point_place pp ON pp.site_point_id = sp.id
LEFT JOIN plot pl ON pl.id = sp.plot_id
WHERE (coalesce(sp.collected_at, sp.received_at) AT TIME ZONE 'Asia/Shanghai')::date
      BETWEEN :start AND :until
  AND (CAST(:township AS text) IS NULL OR pp.township_code = :township)
ORDER BY sp.id
