-- The credit events the recording path writes for the demo year's test results
-- (importers.demo.testing): one for each failure and each passed supervisory sampling,
-- its evidence_ref naming the result (table and id), in the order they happened.
WITH src AS (
    SELECT 'rapid_test' AS tbl, r.id, r.entity_id, r.sampled_on, r.result,
           coalesce(t.name, '县级') AS issuing_unit, r.sample_no AS document_no,
           format('快检不合格：%s，%s，检测项目 %s，样品编号 %s', c.name_zh,
                  CASE r.method WHEN 'colloidal_gold' THEN '农残快检（胶体金法）'
                                WHEN 'enzyme_inhibition' THEN '农残快检（酶抑制法）'
                                ELSE '兽残快检' END, r.parameter, r.sample_no) AS summary,
           r.recorded_by
    FROM rapid_test r JOIN commodity c ON c.slug = r.commodity
    LEFT JOIN township t ON t.code = r.unit_township
    WHERE r.result = 'fail' AND r.credit_event_id IS NULL
      AND extract(year FROM r.sampled_on) = :year
    UNION ALL
    SELECT 'lab_sample', l.id, l.entity_id, l.sampled_on, l.result, l.lab, l.report_no,
           CASE WHEN l.result = 'fail' THEN
               format('%s不合格：%s，%s', CASE l.kind
                          WHEN 'routine_monitoring' THEN '例行监测'
                          WHEN 'risk_monitoring' THEN '风险监测' ELSE '监督抽查' END,
                      c.name_zh,
                      (SELECT string_agg(a.substance || ' ' || a.value_mg_kg
                                         || ' mg/kg（检出禁用农药）', '；')
                       FROM lab_analyte a WHERE a.sample_id = l.id
                         AND a.judgement = 'fail'))
           ELSE format('监督抽查合格：%s，检测 %s 项', c.name_zh,
                       (SELECT count(*) FROM lab_analyte a WHERE a.sample_id = l.id))
           END,
           l.recorded_by
    FROM lab_sample l JOIN commodity c ON c.slug = l.commodity
    WHERE l.credit_event_id IS NULL AND extract(year FROM l.sampled_on) = :year
      AND (l.result = 'fail' OR (l.result = 'pass' AND l.kind = 'supervisory_sampling'))),
ins AS (
    INSERT INTO credit_event (entity_id, kind, occurred_on, issuing_unit, document_no,
                              summary, evidence_ref, outcome, recorded_by)
    SELECT entity_id, 'sampling', sampled_on, issuing_unit, document_no, summary,
           tbl || ':' || id, result, recorded_by
    FROM src ORDER BY sampled_on, tbl, id
    RETURNING id, evidence_ref)
SELECT id, evidence_ref FROM ins
