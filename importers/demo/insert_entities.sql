-- The staged entities into entity (importers.demo.load), with the work of the row triggers
-- done set-based: each row's grid, and the township check (a row outside is left out).
-- gt, the current grids with their township's boundary, opens insert_entities.sql and
-- insert_plots.sql alike.
WITH gt AS MATERIALIZED (
    SELECT g.id, g.township_code, g.boundary AS grid_boundary, t.boundary AS township_boundary
    FROM current_grid g JOIN township t ON t.code = g.township_code
    ORDER BY g.code)  -- rows, and so plot ids, in the same order whatever the layout on disk
INSERT INTO entity (id, kind, name, uscc, legal_representative, contact_name,
                    resident_id_hash, resident_id_enc, resident_id_masked,
                    phone_hash, phone_enc, phone_masked, village, address,
                    township_code, location, key_supervision, origin, grid_id)
SELECT s.id, s.kind, s.name, s.uscc, s.legal_representative, s.contact_name,
       s.resident_id_hash, s.resident_id_enc, s.resident_id_masked,
       s.phone_hash, s.phone_enc, s.phone_masked, s.village, s.address,
       s.township_code, s.location, s.key_supervision, s.origin, gt.id
FROM gt CROSS JOIN LATERAL (
    SELECT * FROM entity_load s
    WHERE s.township_code = gt.township_code
      AND ST_Intersects(gt.grid_boundary, s.location)
      AND ST_Intersects(gt.township_boundary, s.location)
    OFFSET 0) s
