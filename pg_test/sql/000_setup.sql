-- Shared by the files that follow: runs a statement and returns its SQLSTATE and message, so
-- that expected files pin the error code and text (not the source location).
CREATE FUNCTION public.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The number of parallel workers a statement's plan launched (its top node's first child, the
-- Gather): the parallel cases check that their plan really ran in parallel.
CREATE FUNCTION public.workers_launched(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO j;
    RETURN (j->0->'Plan'->'Plans'->0->>'Workers Launched')::int;
END $$;
