-- One record's history from the audit trail (georeg.audit.history), newest first: its own
-- row-level events, the statement-level events whose ids include it, and for an entity its
-- plots' events (audit_event.entity_id). :township limits to one township's records (a
-- township supervisor's view); NULL: all. Each event with the account's username and name.
WITH hit AS (
    SELECT a.* FROM audit_event a
    WHERE a.table_name = :table AND a.record_id = :id
    UNION
    SELECT a.* FROM audit_event a
    WHERE a.table_name = :table AND a.record_ids @> ARRAY[CAST(:id AS bigint)]
    UNION
    SELECT a.* FROM audit_event a
    WHERE CAST(:table AS text) = 'entity' AND a.entity_id = :id AND a.table_name = 'plot')
SELECT h.id, h.at, h.table_name, h.action, h.record_id, h.entity_id, h.row_count,
       h.township_code, h.db_user, h.account_id, ac.username, ac.display_name,
       h.before, h.after, count(*) OVER () AS total
FROM hit h LEFT JOIN account ac ON ac.id = h.account_id
WHERE CAST(:township AS bpchar) IS NULL OR h.township_code = :township
ORDER BY h.id DESC
LIMIT :limit OFFSET :offset
