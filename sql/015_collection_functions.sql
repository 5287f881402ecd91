-- Expressions the collection pipeline (georeg/collection/*.sql) uses in more than one place.
-- Plain SQL functions of one expression, neither STRICT nor SECURITY DEFINER and no more
-- volatile than their body, so that the planner inlines them: the plans are those of the
-- expression written out in place.

-- An id from a JSON member of a GeoJSON feature: an integer, or a string of digits; else NULL.
CREATE FUNCTION collection_json_id(member jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(member)
               WHEN 'number' THEN CASE WHEN scale(CAST(member AS numeric)) = 0
                                        AND abs(CAST(member AS numeric)) < 1e18
                                       THEN CAST(member AS bigint) END
               WHEN 'string' THEN CASE WHEN member #>> '{}' ~ '^\s*[0-9]{1,18}\s*$'
                                       THEN CAST(member #>> '{}' AS bigint) END
               END
$$;

-- What was sent, canonically: a staged row's text form (the time as epoch seconds, so that the
-- session's time zone does not matter, and the reasons found before the database was asked).
-- A retry hashes the same, an edit does not; site_point.content_hash keeps it. STABLE, not
-- IMMUTABLE: the row's text form and extract() are stable, and an IMMUTABLE function with a
-- stable body is not inlined.
CREATE FUNCTION collection_content_hash(
    client_uuid uuid, entity_id bigint, plot_id bigint, commodity text, crs text,
    input_x double precision, input_y double precision, collected_at timestamptz,
    accuracy_m real, note text, reasons text[]) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(ROW(
        client_uuid, entity_id, plot_id, commodity, crs, input_x, input_y,
        extract(epoch FROM collected_at), accuracy_m, note, reasons)::text, 'UTF8'))
$$;
