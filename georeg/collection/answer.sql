-- Every row's outcome, in one statement that also keeps the rejections (for the report) and
-- the conflicting submissions (for review), and writes the answer as JSON text, so that no
-- row passes through Python objects. A row not stored by this batch found its client_uuid
-- taken: by an earlier batch, a concurrent one (this is a new statement, which sees it), or
-- an earlier row of this batch. The flag lists are written once per distinct combination.
-- The labels come in as JSON parameters (FLAG_LABELS, REJECTION_MESSAGES in pipeline.py).
WITH labels AS MATERIALIZED (
    SELECT CAST(:flag_labels AS jsonb) AS flag, CAST(:rejection_messages AS jsonb) AS reason),
outcome AS MATERIALIZED (
    SELECT i.ord, i.record, i.client_uuid, i.content_hash, i.reasons, i.extra_errors,
           coalesce(n.id, sp.id) AS point_id, coalesce(n.flags, sp.flags) AS flags,
           CASE WHEN i.reasons <> '{}' THEN 'rejected'
                WHEN n.id IS NOT NULL
                THEN CASE WHEN n.flags = '{}' THEN 'accepted' ELSE 'accepted_with_flags' END
                WHEN sp.content_hash = i.content_hash THEN 'duplicate'
                ELSE 'conflict' END AS status,
           CASE WHEN sp.flags = '{}' THEN 'accepted'
                WHEN sp.flags IS NOT NULL THEN 'accepted_with_flags' END AS original_status
    FROM incoming i
    LEFT JOIN fresh n ON n.ord = i.ord
    -- one probe by client_uuid for each row not stored now and not rejected (OFFSET 0 keeps
    -- it a probe per row: joined, the planner may read all of site_point)
    LEFT JOIN LATERAL (
        SELECT sp.id, sp.flags, sp.content_hash FROM site_point sp
        WHERE sp.client_uuid = i.client_uuid AND n.ord IS NULL AND i.reasons = '{}'
        OFFSET 0) sp ON true),
rejections AS (
    INSERT INTO site_point_rejection (client_uuid, content_hash, entity_id, township_code,
                                      commodity, collected_at, reasons, collector_id)
    -- under the uploader's township (a county account: the entity's, if it sees it)
    SELECT i.client_uuid, i.content_hash, e.id,
           coalesce(CAST(:collector_township AS bpchar), e.township_code), c.slug,
           i.collected_at,
           i.reasons, :collector
    FROM incoming i
    LEFT JOIN entity e ON e.id = i.entity_id
    LEFT JOIN commodity c ON c.slug = i.commodity
    WHERE i.reasons <> '{}'
    ON CONFLICT (content_hash) DO NOTHING),
conflicts AS (
    INSERT INTO site_point_conflict (client_uuid, content_hash, submitted, collector_id)
    SELECT i.client_uuid, i.content_hash,
           jsonb_build_object('entity_id', i.entity_id, 'plot_id', i.plot_id,
                              'commodity', i.commodity, 'crs', CAST(:crs AS text),
                              'coordinates', jsonb_build_array(i.input_x, i.input_y),
                              'collected_at', i.collected_at, 'accuracy_m', i.accuracy_m,
                              'note', i.note),
           :collector
    FROM outcome o JOIN incoming i USING (ord)
    WHERE o.status = 'conflict'
    ON CONFLICT (client_uuid, content_hash) DO NOTHING),
flag_list AS (
    SELECT d.flags, (SELECT coalesce(json_agg(json_build_object(
                                         'code', f, 'message', labels.flag ->> f)), '[]')
                     FROM unnest(d.flags) f)::text AS json
    FROM (SELECT DISTINCT flags FROM outcome WHERE flags IS NOT NULL) d, labels)
SELECT json_build_object(
           'accepted', count(*) FILTER (WHERE o.status = 'accepted'),
           'accepted_with_flags', count(*) FILTER (WHERE o.status = 'accepted_with_flags'),
           'duplicate', count(*) FILTER (WHERE o.status = 'duplicate'),
           'conflict', count(*) FILTER (WHERE o.status = 'conflict'),
           'rejected', count(*) FILTER (WHERE o.status = 'rejected'),
           'total', count(*))::text AS summary,
       string_agg(concat(
           '{"record":', o.record,
           ',"client_uuid":', coalesce('"' || o.client_uuid || '"', 'null'),
           ',"status":"', o.status, '"',
           ',"point_id":' || o.point_id,
           ',"flags":' || CASE WHEN o.flags <> '{}'
                                 OR o.status IN ('accepted_with_flags', 'duplicate')
                               THEN fl.json END,
           ',"original_status":"' || CASE WHEN o.status IN ('duplicate', 'conflict')
                                          THEN o.original_status END || '"',
           ',"errors":' || CASE WHEN o.status = 'rejected' THEN CAST((
               SELECT coalesce(jsonb_agg(jsonb_build_object(
                                             'field', labels.reason -> r ->> 0, 'code', r,
                                             'message', labels.reason -> r ->> 1)
                                         ORDER BY k), '[]')
               FROM unnest(o.reasons) WITH ORDINALITY AS u(r, k)
               WHERE r <> 'invalid_record') || coalesce(o.extra_errors, '[]') AS text) END,
           '}'), ',' ORDER BY o.ord) AS results
FROM outcome o
CROSS JOIN labels
LEFT JOIN flag_list fl ON fl.flags = o.flags
