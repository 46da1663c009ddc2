-- One PostgreSQL database holds both the Iceberg SQL catalog and the annotation queue
-- (the queue's leases and the catalog's commits share transactions). flywheel creates
-- its tables on first use; this creates the role and the database, once, as an admin:
--
--   psql "postgresql://ADMIN@DB_HOST/postgres" -v password="'...'" -f infra/postgres/init.sql
--
-- Then FLYWHEEL_CATALOG_URI=postgresql+psycopg2://flywheel:PASSWORD@DB_HOST:5432/flywheel
-- (infra/kuberay/secrets.example.yaml, or the launcher's env file).

CREATE ROLE flywheel LOGIN PASSWORD :password;
CREATE DATABASE flywheel OWNER flywheel;
\connect flywheel
-- The queue leases with FOR UPDATE SKIP LOCKED; READ COMMITTED (the default) is what it
-- expects. Keep idle sessions from holding leases forever if a worker dies mid-transaction.
ALTER ROLE flywheel SET idle_in_transaction_session_timeout = '5min';
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT ALL ON SCHEMA public TO flywheel;
