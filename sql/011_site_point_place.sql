-- Where each site point lies (township, grid), in a narrow table of its own.
--
-- A boundary change re-assigns every point. Updating the wide site_point rows wrote a new
-- version of each row and of all its index entries (GiST included): ~14 s for 1M points
-- against ~1.4 s for the bare spatial join. Re-assignment now writes this table afresh from
-- the join and swaps it in (grids/reassign.py); collection inserts its row beside the point.
-- No foreign keys: the table is rebuilt, not updated; a trigger removes the rows of deleted
-- points, and the collection insert is the only writer besides re-assignment.

CREATE TABLE site_point_place (
    site_point_id bigint PRIMARY KEY,
    township_code char(12),
    grid_id       bigint
);

INSERT INTO site_point_place (site_point_id, township_code, grid_id)
SELECT id, township_code, grid_id FROM site_point;

DROP INDEX site_point_grid;
DROP INDEX site_point_township_commodity;
ALTER TABLE site_point DROP COLUMN township_code, DROP COLUMN grid_id;

CREATE FUNCTION site_point_place_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM site_point_place p USING gone WHERE p.site_point_id = gone.id;
    RETURN NULL;
END $$;
CREATE TRIGGER site_point_place_forget AFTER DELETE ON site_point
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION site_point_place_forget();
