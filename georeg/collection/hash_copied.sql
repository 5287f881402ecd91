-- Copied rows: coordinates as sent (converted later if sent in another system) and the
-- content hash (sql/015_collection_functions.sql), as stage_features.sql computes them.
UPDATE incoming
SET lon = input_x, lat = input_y,
    content_hash = collection_content_hash(
        client_uuid, entity_id, plot_id, commodity, CAST(:crs AS text), input_x, input_y,
        collected_at, accuracy_m, note, reasons)
