-- Roles other than the dumping user and PUBLIC that hold privileges on the database's schemas,
-- tables, sequences or functions (the API's role of the row-security migration): a restore
-- must find them, or create them, to keep the grants.
WITH acl AS (
    SELECT (aclexplode(relacl)).grantee FROM pg_class WHERE relacl IS NOT NULL
    UNION ALL SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspacl IS NOT NULL
    UNION ALL SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE proacl IS NOT NULL
    UNION ALL SELECT (aclexplode(defaclacl)).grantee FROM pg_default_acl
    UNION ALL SELECT polroles[i] FROM pg_policy, generate_subscripts(polroles, 1) AS i
)
SELECT DISTINCT r.rolname
FROM acl JOIN pg_roles r ON r.oid = acl.grantee
WHERE r.rolname <> current_user AND r.rolname NOT LIKE 'pg\_%'
ORDER BY 1
