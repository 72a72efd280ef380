-- pg_segment 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_segment UPDATE TO '0.2.0').
--
-- Every change to an SQL object since 0.1.0 is here, so that an updated installation equals a
-- fresh 0.2.0 one (the update-chain test compares their pg_dump --schema-only). Once 0.2.0 is
-- released this file is never edited again: later changes go into pg_segment--0.2.0--0.3.0.sql.
\echo Use "ALTER EXTENSION pg_segment UPDATE TO '0.2.0'" to load this file. \quit
