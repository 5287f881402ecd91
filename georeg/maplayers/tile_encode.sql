-- The rows of a tile (display coordinates, degrees) encoded as one MVT layer (maplayers.tiles).
SELECT ST_AsMVT(q, :layer, :extent, 'geom') FROM (
    SELECT ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_MakePoint(t.x, t.y), 4326), 3857),
                        ST_TileEnvelope(:z, :tx, :ty), :extent, 64) AS geom,
           t.id, t.count, t.kind, t.key_supervision
    FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]), CAST(:ids AS bigint[]),
                CAST(:counts AS int[]), CAST(:kinds AS text[]), CAST(:keys AS bool[]))
         AS t(x, y, id, count, kind, key_supervision)) q
