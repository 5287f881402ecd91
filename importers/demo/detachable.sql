-- The secondary indexes, unique constraints and foreign keys of entity and plot (bulk loads,
-- importers.demo.load): the statement that drops each and the one that restores it from the
-- catalog's own definition, in phases (indexes, unique constraints, foreign keys).
SELECT format('DROP INDEX %s', i.indexrelid::regclass) AS drop_sql,
       pg_get_indexdef(i.indexrelid) AS restore_sql, 1 AS phase
FROM pg_index i
WHERE i.indrelid IN ('entity'::regclass, 'plot'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
UNION ALL
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
              pg_get_constraintdef(c.oid)),
       CASE c.contype WHEN 'u' THEN 2 ELSE 3 END
FROM pg_constraint c
WHERE c.conrelid IN ('entity'::regclass, 'plot'::regclass)
  AND (c.contype = 'f'
       OR c.contype = 'u' AND NOT EXISTS (SELECT 1 FROM pg_constraint r
                                          WHERE r.contype = 'f' AND r.conindid = c.conindid))
ORDER BY 3, 2
