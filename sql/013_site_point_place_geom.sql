-- Each site point's place carries the point itself (copied once; site points never move).
--
-- Re-assignment then reads this one narrow table: each place is tested only against the
-- current grids whose box overlaps its old grid's box, in a hash join on the old grid id, with
-- no spatial index and no pairing of a million new places with the old ones by point id
-- (grids/reassign.py). The table is kept in point id order (re-assignment writes it in the
-- order it reads it), so its primary key builds from presorted input.

CREATE TABLE site_point_place_next AS
SELECT sp.id AS site_point_id, pl.township_code, pl.grid_id, sp.geom
FROM site_point sp LEFT JOIN site_point_place pl ON pl.site_point_id = sp.id
ORDER BY sp.id;

-- (A check rather than NOT NULL: re-assignment adds it back without scanning the copied rows.)
ALTER TABLE site_point_place_next ADD PRIMARY KEY (site_point_id),
    ADD CONSTRAINT site_point_place_geom CHECK (geom IS NOT NULL);
DROP TABLE site_point_place;
ALTER TABLE site_point_place_next RENAME TO site_point_place;
ALTER INDEX site_point_place_next_pkey RENAME TO site_point_place_pkey;
