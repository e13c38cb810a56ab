-- The functions of the public schema this session's role owns (the application's,
-- not an extension's), each as a GRANT EXECUTE to the serving role. PUBLIC may
-- execute them by default; the grant keeps the service working where an
-- administrator revoked that.
-- Parameters:
--   $1 role text: the serving role
SELECT format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, $1::text) AS statement
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace
  AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
ORDER BY p.oid;
