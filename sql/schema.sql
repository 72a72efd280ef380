-- pg_segment's schema and the conventions every sql/<family>.sql follows: every SQL object is
-- declared by hand, with deliberate markings and a COMMENT ON. The script creates schema segment
-- itself (rather than naming it in the control file) so that the schema is a member of the
-- extension and DROP EXTENSION removes it.
CREATE SCHEMA segment;
COMMENT ON SCHEMA segment IS 'pg_segment: customer segmentation (RFM, tiers, lifecycle, cadence)';
-- Everyone may use the functions (EXECUTE is PUBLIC by default); nobody but the owner may create
-- objects here. To restrict: REVOKE USAGE ON SCHEMA segment FROM PUBLIC and grant it to roles.
GRANT USAGE ON SCHEMA segment TO PUBLIC;
-- Functions whose answer depends on the session's TimeZone are STABLE; their overloads with an
-- explicit tz are IMMUTABLE. Everything is PARALLEL SAFE.
