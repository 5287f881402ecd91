-- Entities by part of their name (georeg.credit.lookup.search), ranked, at most :limit.
-- Two characters (:bigram, else NULL): the bigram index (sql/008_credit.sql); longer: the
-- trigram index. Only the first :candidates matches (plus an exact match) are ranked: a broad
-- query such as 茶业 matches a fifth of a province, and ranking all of it takes seconds.
WITH candidates AS (
    (SELECT e.id FROM entity e
     WHERE e.name ILIKE :pattern
       AND (CAST(:bigram AS text) IS NULL OR name_bigrams(e.name) @> ARRAY[lower(:bigram)])
     LIMIT :candidates)
    UNION
    (SELECT e.id FROM entity e WHERE e.name = :q LIMIT :limit))
SELECT e.id, e.kind, e.name, e.uscc, e.resident_id_masked, e.phone_masked, e.township_code,
       t.name AS township_name, e.key_supervision, (SELECT count(*) FROM candidates) AS matched
FROM candidates c JOIN entity e ON e.id = c.id JOIN township t ON t.code = e.township_code
ORDER BY e.name = :q DESC, e.name ILIKE :prefix DESC, similarity(e.name, :q) DESC,
         length(e.name), e.id
LIMIT :limit
