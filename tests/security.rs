//! Hostile tests of the extension's rights (issue 12, classes 2, 3, 6 and the SQL items of 7),
//! against the real server with real roles: a non-superuser database owner, plain users and a
//! superuser.
//!
//! * Objects planted before CREATE EXTENSION and before every call, in every schema a caller
//!   could have on its path (public, the caller's own schema, the superuser's "$user" schema,
//!   pg_temp): overloads of every PostgreSQL function the extension's SQL names (the list is read
//!   from sql/*.sql and src/views.rs), with better-matching and equal signatures, operators
//!   for the operand types in use, views shadowing the catalogs and types shadowing built-in
//!   type names. Each one, when it runs, draws from a sequence (which no rollback undoes), logs
//!   and, as a superuser, makes the database owner superuser. Nothing planted may ever run.
//! * A superuser's alter, refresh, snapshot and schedule of a role's view run the role's code
//!   with the role's rights only; the registry is written by the extension's functions only.
//! * alter_segment_view keeps grants with their grantors and comments; a non-superuser's DROP
//!   EXTENSION does not destroy other roles' views and history; concurrent creates give 42P07.

use pg_segment_integration::{connect, has_cron, skip, TestDb};
use postgres::{Client, SimpleQueryMessage};
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// Text rows of a simple-protocol query (no prepared statement, so the client never sends a
/// query of its own, such as a type lookup, that planted objects could catch).
fn rows(c: &mut Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect()
}

/// A session whose own queries resolve names in pg_catalog only (whatever was planted).
fn clean_session(db: &str, user: &str) -> Client {
    let mut c = connect(db, user);
    run(&mut c, "SET search_path = pg_catalog, pg_temp");
    c
}

fn one(c: &mut Client, sql: &str) -> String {
    rows(c, sql).first().and_then(|r| r[0].clone()).unwrap_or_else(|| panic!("{sql}: no value"))
}

fn run(c: &mut Client, sql: &str) {
    c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
}

fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} {} ({})", d.code().code(), d.message(), d.where_().unwrap_or("")),
        None => e.to_string(),
    }
}

/// The SQLSTATE of a statement that must fail.
fn sqlstate(c: &mut Client, sql: &str) -> String {
    let e = c.batch_execute(sql).expect_err(sql);
    e.code().map(|s| s.code().to_string()).unwrap_or_else(|| panic!("{sql}: {e}"))
}

/// Roles made for one test, dropped (with what they own in `dbs`) when the value is dropped.
struct Roles {
    names: Vec<String>,
    dbs: Vec<String>,
}

impl Roles {
    fn new(tag: &str, kinds: &[&str], dbs: &[&str]) -> Roles {
        let names: Vec<String> = kinds.iter().map(|k| format!("pgseg_{tag}_{k}_{}", std::process::id())).collect();
        let mut admin = connect("postgres", "postgres");
        for n in &names {
            run(&mut admin, &format!("DROP ROLE IF EXISTS {n}; CREATE ROLE {n} LOGIN"));
        }
        Roles { names, dbs: dbs.iter().map(|d| d.to_string()).collect() }
    }

    fn get(&self, i: usize) -> &str {
        &self.names[i]
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        let list = self.names.join(", ");
        for db in &self.dbs {
            if let Ok(mut c) = Client::connect(
                &format!("host={} port={} user=postgres dbname={db}", pg_segment_integration::host(), pg_segment_integration::port()),
                postgres::NoTls,
            ) {
                if let Err(e) = c.batch_execute(&format!("DROP OWNED BY {list} CASCADE")) {
                    // left behind, the planted objects would capture the next tests in {db}
                    eprintln!("DROP OWNED BY {list} in {db} failed: {e:?}");
                }
            }
        }
        if let Ok(mut admin) = std::panic::catch_unwind(|| connect("postgres", "postgres")) {
            let _ = admin.batch_execute(&format!("DROP OWNED BY {list} CASCADE"));
            for n in &self.names {
                let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {n}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Planted objects
// ---------------------------------------------------------------------------------------------

/// Every identifier followed by "(" in the extension's SQL and in the SQL of its C glue.
fn called_words() -> BTreeSet<String> {
    let root = std::env::var("PGSEG_ROOT").unwrap_or_else(|_| "..".into());
    let mut words = BTreeSet::new();
    // every sql/<family>.sql (not the release scripts, which repeat them) and the views' C glue
    let mut files: Vec<String> = std::fs::read_dir(format!("{root}/sql"))
        .unwrap_or_else(|e| panic!("{root}/sql: {e}"))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql") && !n.starts_with("pg_segment--"))
        .map(|n| format!("sql/{n}"))
        .collect();
    files.sort();
    assert!(files.len() >= 11, "sql/<family>.sql files: {files:?}");
    files.push("src/views.rs".into());
    for f in &files {
        let text = std::fs::read_to_string(format!("{root}/{f}")).unwrap_or_else(|e| panic!("{root}/{f}: {e}"));
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_alphabetic() || b[i] == b'_' {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = text[start..i].to_ascii_lowercase();
                let mut j = i;
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                if j < b.len() && b[j] == b'(' {
                    words.insert(word);
                } else {
                    // relation names (pg_class, ...) are followed by anything
                    if word.starts_with("pg_") {
                        words.insert(word);
                    }
                }
            } else {
                i += 1;
            }
        }
    }
    words
}

/// One overload of a pg_catalog function.
struct Overload {
    name: String,
    args: Vec<String>,
    variadic: bool,
    ret: String,
    retset: bool,
    outs: Vec<String>,
    table: bool,
    aggregate: bool,
}

const ELEMENT_TYPES: [&str; 10] =
    ["text", "name", "bigint", "integer", "numeric", "jsonb", "timestamp with time zone", "boolean", "regclass", "oid"];
const ARRAY_TYPES: [&str; 5] = ["text[]", "name[]", "bigint[]", "jsonb[]", "integer[]"];
const ANY_TYPES: [&str; 6] = ["text", "name", "regclass", "jsonb", "bigint", "oid"];

/// Types a caller's argument of type `t` could match better or as well.
fn neighbours(t: &str) -> Vec<&'static str> {
    match t {
        "text" => vec!["name", "character varying"],
        "name" => vec!["text"],
        "regclass" | "regtype" | "regproc" | "regprocedure" | "regoper" => vec!["text", "oid", "name"],
        "oid" => vec!["regclass", "bigint", "integer"],
        "bigint" => vec!["integer", "numeric"],
        "integer" => vec!["bigint", "smallint"],
        "numeric" => vec!["bigint", "integer", "double precision"],
        "double precision" => vec!["numeric", "real"],
        "jsonb" => vec!["text", "json"],
        "timestamp with time zone" => vec!["timestamp without time zone", "date"],
        "\"char\"" => vec!["text", "name"],
        _ => vec![],
    }
}

fn polymorphic_family(t: &str) -> Option<&'static str> {
    match t {
        "anyelement" | "anynonarray" | "anycompatible" | "anycompatiblenonarray" => Some("element"),
        "anyarray" | "anycompatiblearray" => Some("array"),
        _ => None,
    }
}

const UNPLANTABLE: [&str; 14] = [
    "internal",
    "cstring",
    "anyenum",
    "anyrange",
    "anymultirange",
    "anycompatiblerange",
    "anycompatiblemultirange",
    "trigger",
    "event_trigger",
    "language_handler",
    "fdw_handler",
    "index_am_handler",
    "table_am_handler",
    "tsm_handler",
];

/// The argument lists of the planted variants of an overload, with the return type each has.
fn variants(o: &Overload) -> Vec<(Vec<String>, String)> {
    let mut out: Vec<(Vec<String>, String)> = Vec::new();
    if o.args.iter().chain(std::iter::once(&o.ret)).any(|t| UNPLANTABLE.contains(&t.as_str())) {
        return out;
    }
    // "any" (variadic or not): concrete arguments of 0 to 3 types
    if o.args.iter().any(|t| t == "\"any\"") {
        let fixed: Vec<String> = o.args.iter().take_while(|t| *t != "\"any\"").cloned().collect();
        let mut tails: Vec<Vec<&str>> = vec![vec![]];
        for t in ANY_TYPES {
            tails.push(vec![t]);
            tails.push(vec![t, t]);
        }
        for a in ["text", "name"] {
            for b in ["text", "name", "regclass"] {
                tails.push(vec![a, b]);
                for c in ["text", "name"] {
                    tails.push(vec![a, b, c]);
                }
            }
        }
        tails.push(vec!["text", "regclass", "text"]);
        tails.push(vec!["regclass", "text"]);
        for tail in tails {
            if !o.variadic && tail.len() != o.args.len() - fixed.len() {
                continue;
            }
            let mut args = fixed.clone();
            args.extend(tail.iter().map(|t| t.to_string()));
            out.push((args, o.ret.clone()));
        }
        return out;
    }
    if o.args.iter().any(|t| polymorphic_family(t).is_some()) {
        // every instance: an element type (and its array type), or, when only array arguments are
        // polymorphic, an array type (and its element type)
        let only_arrays = o.args.iter().all(|t| polymorphic_family(t) != Some("element"));
        let instances: Vec<(String, String)> = if only_arrays {
            ARRAY_TYPES.iter().map(|a| (a.trim_end_matches("[]").to_string(), a.to_string())).collect()
        } else {
            ELEMENT_TYPES.iter().map(|e| (e.to_string(), format!("{e}[]"))).collect()
        };
        for (elem, arr) in instances {
            let subst = |t: &str| match polymorphic_family(t) {
                Some("element") => elem.clone(),
                Some(_) => arr.clone(),
                None => t.to_string(),
            };
            out.push((o.args.iter().map(|t| subst(t)).collect(), subst(&o.ret)));
        }
        return out;
    }
    // concrete: the same signature, and each argument in turn replaced by a neighbour
    out.push((o.args.clone(), o.ret.clone()));
    for (i, t) in o.args.iter().enumerate() {
        for n in neighbours(t) {
            let mut args = o.args.clone();
            args[i] = n.to_string();
            out.push((args, o.ret.clone()));
        }
    }
    if o.args.len() > 1 {
        let all: Vec<String> = o.args.iter().map(|t| neighbours(t).first().map(|s| s.to_string()).unwrap_or(t.clone())).collect();
        out.push((all, o.ret.clone()));
    }
    out
}

/// DDL that plants, in `schema`, a hostile copy of every variant of every pg_catalog function the
/// extension names, operators for the operand types in use, views named like the catalogs it
/// reads and types named like built-in types. `temp`: only what a session can plant in pg_temp
/// (relations and types; PostgreSQL never looks functions or operators up there).
fn plant_statements(overloads: &[Overload], relations: &[String], schema: &str, temp: bool) -> Vec<String> {
    let mut out = Vec::new();
    let tag = if temp { "pg_temp".to_string() } else { schema.to_string() };
    for r in relations {
        let v = if temp { format!("pg_temp.{r}") } else { format!("{schema}.{r}") };
        out.push(format!("CREATE VIEW {v} AS SELECT x.* FROM pg_catalog.{r} x WHERE public._pwn_bool('{tag}.{r}')"));
    }
    for t in ["text", "name", "jsonb", "regclass", "regtype", "regoper", "oid", "timestamptz", "numeric", "bool", "int8", "varchar"] {
        out.push(format!("CREATE TYPE {}.{t} AS (pwned integer)", if temp { "pg_temp" } else { schema }));
    }
    if temp {
        return out;
    }
    let mut seen = BTreeSet::new();
    for o in overloads {
        for (args, ret) in variants(o) {
            let key = format!("{}({})", o.name, args.join(","));
            if !seen.insert(key.clone()) {
                continue;
            }
            let params: Vec<String> = args.iter().enumerate().map(|(i, t)| format!("a{i} {t}")).collect();
            if o.aggregate {
                // an aggregate whose transition function reports
                let n = seen.len();
                let sig = if args.is_empty() { "*".to_string() } else { args.join(", ") };
                out.push(format!(
                    "CREATE FUNCTION {schema}._pwn_sfunc_{n}(s integer{}) RETURNS integer LANGUAGE plpgsql AS $pwn$ BEGIN PERFORM public._pwn('{schema}.{}'); RETURN 0; END $pwn$;
                     CREATE AGGREGATE {schema}.{}({sig}) (SFUNC = {schema}._pwn_sfunc_{n}, STYPE = integer, INITCOND = '0')",
                    params.iter().map(|p| format!(", {p}")).collect::<String>(),
                    key.replace('\'', "''"),
                    quote(&o.name)
                ));
                continue;
            }
            let (returns, body) = if o.table {
                (format!("RETURNS {}", ret), "RETURN;")
            } else if !o.outs.is_empty() {
                (if o.retset { "RETURNS SETOF record".to_string() } else { String::new() }, "RETURN;")
            } else if o.retset {
                (format!("RETURNS SETOF {ret}"), "RETURN;")
            } else {
                (format!("RETURNS {ret}"), "RETURN NULL;")
            };
            let mut all = params.clone();
            all.extend(o.outs.iter().cloned());
            out.push(format!(
                "CREATE FUNCTION {schema}.{}({}) {returns} LANGUAGE plpgsql AS $pwn$ BEGIN PERFORM public._pwn('{schema}.{}'); {body} END $pwn$",
                quote(&o.name),
                all.join(", "),
                key.replace('\'', "''")
            ));
        }
    }
    let compare = ["=", "<>", "<", ">", "<=", ">="];
    let compared = [
        "text",
        "name",
        "\"char\"",
        "bigint",
        "integer",
        "numeric",
        "double precision",
        "jsonb",
        "text[]",
        "timestamp with time zone",
        "oid",
        "regclass",
        "regtype",
        "boolean",
    ];
    let mut ops: Vec<(&str, &str, &str)> = Vec::new();
    for op in compare {
        for l in compared {
            for r in compared {
                ops.push((op, l, r));
            }
        }
    }
    let arith = ["bigint", "integer", "numeric", "double precision", "timestamp with time zone", "interval"];
    for op in ["*", "/", "+", "-"] {
        for l in arith {
            for r in arith {
                ops.push((op, l, r));
            }
        }
    }
    for l in ["text", "name", "text[]", "jsonb", "\"char\""] {
        for r in ["text", "name", "text[]", "jsonb", "\"char\"", "bigint"] {
            ops.push(("||", l, r));
        }
    }
    for op in ["?", "->", "->>", "-", "@>", "#>", "#>>"] {
        for r in ["text", "name", "integer", "text[]", "jsonb"] {
            ops.push((op, "jsonb", r));
        }
    }
    for (i, (op, l, r)) in ops.iter().enumerate() {
        out.push(format!(
            "CREATE FUNCTION {schema}._pwn_op_{i}(l {l}, r {r}) RETURNS boolean LANGUAGE plpgsql AS $pwn$ BEGIN PERFORM public._pwn('{schema}.operator {op}({l}, {r})'); RETURN NULL; END $pwn$;
             CREATE OPERATOR {schema}.{op} (LEFTARG = {l}, RIGHTARG = {r}, FUNCTION = {schema}._pwn_op_{i})"
        ));
    }
    out
}

fn quote(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The pg_catalog functions and relations the extension's SQL names.
fn catalog_targets(c: &mut Client) -> (Vec<Overload>, Vec<String>) {
    let words: Vec<String> = called_words().into_iter().collect();
    let overloads = c
        .query(
            "SELECT p.proname::text, array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t), p.provariadic <> 0,
                    format_type(p.prorettype, NULL), p.proretset,
                    coalesce(array(SELECT format('OUT %s %s', coalesce(quote_ident(u.n), 'o' || u.i), format_type(u.t, NULL))
                                   FROM unnest(p.proallargtypes, p.proargmodes, p.proargnames) WITH ORDINALITY u(t, m, n, i) WHERE u.m IN ('o', 'b')), '{}'),
                    'tt' = ANY (coalesce(p.proargmodes, '{}')::text[]) OR 't' = ANY (coalesce(p.proargmodes, '{}')::text[]),
                    pg_get_function_result(p.oid), p.prokind = 'a'
             FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($1) AND p.prokind IN ('f', 'a')
             ORDER BY 1",
            &[&words],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let table: bool = r.get(6);
            let result: String = r.get(7);
            Overload {
                name: r.get(0),
                args: r.get(1),
                variadic: r.get(2),
                ret: if table { result } else { r.get(3) },
                retset: r.get(4),
                outs: if table { vec![] } else { r.get(5) },
                table,
                aggregate: r.get(8),
            }
        })
        .collect();
    let relations = c
        .query(
            "SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind IN ('r', 'v')
               AND c.relname = ANY ($1) ORDER BY 1",
            &[&words],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (overloads, relations)
}

/// Runs each statement in its own subtransaction (pg_temp.plant); returns the statements that
/// failed with their errors. Some variants are impossible (a type without an array type, a
/// function that exists already), so a few failures are expected: the callers bound them.
fn plant(c: &mut Client, statements: &[String]) -> Vec<String> {
    c.batch_execute(
        "CREATE FUNCTION pg_temp.plant(stmts pg_catalog.text[]) RETURNS pg_catalog.text[] LANGUAGE plpgsql
             SET search_path = pg_catalog, pg_temp AS $$
         DECLARE s text; failed text[] := '{}';
         BEGIN
             FOREACH s IN ARRAY stmts LOOP
                 BEGIN EXECUTE s; EXCEPTION WHEN OTHERS THEN failed := failed || (SQLERRM || ': ' || s); END;
             END LOOP;
             RETURN failed;
         END $$",
    )
    .unwrap();
    let failed: Vec<String> = c.query_one("SELECT pg_temp.plant($1)", &[&statements]).unwrap().get(0);
    c.batch_execute("DROP FUNCTION pg_temp.plant(pg_catalog.text[])").unwrap();
    failed
}

/// Plants `statements`; at most one in twenty may fail.
fn plant_all(c: &mut Client, statements: &[String], where_: &str) {
    let failed = plant(c, statements);
    assert!(
        failed.len() * 20 <= statements.len(),
        "{} of {} objects could not be planted in {where_}: {:#?}",
        failed.len(),
        statements.len(),
        failed
    );
}

/// The pwn log: `public._pwn(what)` draws from `public._pwned_calls` (kept whatever rolls back),
/// logs who ran what, and as a superuser makes `escalate` a superuser.
fn create_pwn_log(c: &mut Client, escalate: &str) {
    run(
        c,
        &format!(
            "CREATE SEQUENCE public._pwned_calls;
             CREATE TABLE public._pwned (who name, session_user_name name, what text, superuser boolean, backend text);
             GRANT USAGE ON SEQUENCE public._pwned_calls TO PUBLIC; GRANT INSERT ON public._pwned TO PUBLIC;
             CREATE FUNCTION public._pwn(what text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
             DECLARE su boolean;
             BEGIN
                 PERFORM nextval('public._pwned_calls'::regclass);
                 su := (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user);
                 INSERT INTO public._pwned VALUES (current_user, session_user, what, su, current_setting('application_name'));
                 IF su THEN
                     EXECUTE format('ALTER ROLE %I SUPERUSER', '{escalate}');
                 END IF;
             END $$;
             CREATE FUNCTION public._pwn_bool(what text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
             BEGIN PERFORM public._pwn(what); RETURN true; END $$;
             GRANT EXECUTE ON FUNCTION public._pwn(text), public._pwn_bool(text) TO PUBLIC;"
        ),
    );
}

/// Calls of planted objects so far (the sequence is not transactional) and the log rows.
fn pwned(c: &mut Client) -> (bool, Vec<String>) {
    let called = one(c, "SELECT is_called FROM public._pwned_calls") == "t";
    let log = rows(c, "SELECT who || ' (session ' || session_user_name || ', ' || backend || '): ' || what FROM public._pwned")
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    (called, log)
}

/// A hostile session of `user`: its search path puts `schemas` (its own, public) before
/// pg_catalog, and its pg_temp shadows catalogs and built-in type names.
fn hostile_session(db: &str, user: &str, schemas: &str, overloads: &[Overload], relations: &[String]) -> Client {
    let mut c = connect(db, user);
    plant_all(&mut c, &plant_statements(overloads, relations, "", true), &format!("pg_temp of {user}"));
    // a liveness bound only: planted objects that ran as a superuser once made one call take minutes
    run(&mut c, &format!("SET search_path = {schemas}, pg_catalog; SET statement_timeout = '300s'"));
    c
}

/// Every SQL and PL/pgSQL function of the extension, called by `c` in schema `s` (the caller's
/// own), with statements that name nothing a planted object could catch (everything qualified).
fn exercise(c: &mut Client, s: &str) {
    let at = "'2026-01-01 00:00+00'::pg_catalog.timestamptz";
    for sql in [
        format!("CREATE TABLE {s}.orders AS SELECT o.order_id, o.customer_id, o.ordered_at, o.amount, o.is_refund, o.category FROM segment.sample_orders(300, 11) o"),
        format!("CREATE TABLE {s}.customers AS SELECT * FROM segment.sample_customers(300, 11)"),
        format!("CREATE TABLE {s}.coded AS SELECT pg_catalog.concat('C-', o.customer_id) AS code, o.ordered_at, o.amount, o.is_refund, o.category FROM {s}.orders o"),
        format!(
            "CREATE TABLE {s}.profile AS SELECT segment.city_tier(c.city) AS tier, segment.city_tier(c.city, 'en') AS tier_en,
                    segment.age_band(c.birthday, {at}) AS band, segment.birthday_within(c.birthday, {at}, 30) AS soon FROM {s}.customers c"
        ),
        format!(
            "CREATE TABLE {s}.labels AS SELECT segment.rfm_segment(segment.rfm_score(x.s, segment.rfm_thresholds(), {at}, 'UTC'), 'cn8', 'en') AS cn8,
                    segment.rfm_segment(segment.rfm_score(x.s, segment.rfm_thresholds(), {at}, 'UTC'), '[{{\"label\": \"all\"}}]'::pg_catalog.jsonb) AS own
             FROM (SELECT segment.rfm_agg(o.ordered_at, o.amount) AS s FROM {s}.orders o GROUP BY o.customer_id) x"
        ),
        format!(
            "CREATE TABLE {s}.btyd AS SELECT (segment.btyd(x.s, {at}, 'days', 'UTC')).* FROM
                 (SELECT segment.rfm_agg(o.ordered_at, o.amount) AS s FROM {s}.orders o WHERE NOT o.is_refund GROUP BY o.customer_id) x"
        ),
        format!(
            "CREATE TABLE {s}.models AS SELECT segment.to_jsonb(m.bg) AS bg, segment.bgnbd_model(segment.to_jsonb(m.bg)) AS bg_back,
                    (m.bg)::pg_catalog.jsonb::segment.bgnbd_model AS bg_cast, segment.to_jsonb(m.gg) AS gg,
                    segment.gamma_gamma_model(segment.to_jsonb(m.gg)) AS gg_back, (m.gg)::pg_catalog.jsonb::segment.gamma_gamma_model AS gg_cast
             FROM (SELECT segment.bgnbd_fit(b.frequency, b.recency, b.t) AS bg, segment.gamma_gamma_fit(b.frequency, b.monetary_value) AS gg FROM {s}.btyd b) m"
        ),
        // segmentation views: an integer key and a text key, filters, refunds, fixed and moving as_of
        format!(
            "SELECT segment.create_segment_view('{s}.segs', '{s}.orders', 'customer_id', 'ordered_at', 'amount',
                 '{{\"as_of\": \"2026-01-01 00:00+00\", \"tz\": \"UTC\", \"refund_column\": \"is_refund\", \"filter\": [{{\"column\": \"category\", \"not_in\": [\"none\"]}}]}}')"
        ),
        format!(
            "SELECT segment.create_segment_view('{s}.coded_segs', '{s}.coded', 'code', 'ordered_at', 'amount',
                 '{{\"as_of\": \" Now \", \"filter\": {{\"column\": \"category\", \"in\": [\"baby\", \"food\", \"beauty\", \"home\", \"sports\", \"books\", \"electronics\", \"apparel\"]}},
                   \"next_action\": true, \"service_plan\": true, \"predict\": {{\"horizon_days\": 90}}}}')"
        ),
        // the data-quality report and a view with an events source (sql/quality.sql, sql/views.sql)
        format!("CREATE TABLE {s}.visits AS SELECT o.customer_id, o.ordered_at OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval AS visited_at FROM {s}.orders o"),
        format!(
            "SELECT q.issue, q.rows FROM segment.order_quality('{s}.orders', 'customer_id', 'ordered_at', 'amount',
                 '{{\"refund_column\": \"is_refund\", \"order_id_column\": \"order_id\", \"lang\": \"en\"}}') q"
        ),
        format!("SELECT q.customer_id FROM segment.order_quality_customers('{s}.coded', 'code', 'ordered_at', 'amount') q"),
        format!(
            "SELECT segment.create_segment_view('{s}.browsing_segs', '{s}.orders', 'customer_id', 'ordered_at', 'amount',
                 '{{\"tz\": \"UTC\", \"events\": {{\"source\": \"{s}.visits\"}}}}')"
        ),
        format!("SELECT segment.refresh_segment_view('{s}.browsing_segs', false)"),
        format!("SELECT segment.drop_segment_view('{s}.browsing_segs')"),
        format!("SELECT segment.refresh_segment_view('{s}.segs')"),
        format!("SELECT segment.refresh_segment_view('{s}.coded_segs', false)"),
        "SELECT segment.refresh_segment_view('coded_segs')".to_string(), // unqualified: the caller's schema
        format!("SELECT segment.take_snapshot('{s}.segs', {at})"),
        format!("SELECT segment.take_snapshot('{s}.coded_segs', {at})"),
        format!("SELECT segment.alter_segment_view('{s}.segs', '{{\"lang\": \"en\"}}')"),
        format!("SELECT segment.take_snapshot('{s}.segs', '2026-02-01 00:00+00')"),
        "SELECT segment.take_snapshot('coded_segs')".to_string(),
        format!("SELECT * FROM segment.tier_migration('{s}.segs', '2026-01-15 00:00+00', '2026-02-15 00:00+00')"),
        "SELECT * FROM segment.segment_changes('coded_segs', '2026-01-15 00:00+00', 'infinity')".to_string(),
        format!("SELECT * FROM segment.segment_kpis('{s}.segs')"),
        format!("SELECT * FROM segment.segment_kpis('{s}.coded_segs', 'lifecycle_stage')"),
        format!("SELECT * FROM segment.segment_kpis('{s}.segs', 'segment', 5)"),
        "SELECT segment.service_plan('VIP', 'en'), segment.next_action('sleeping', 'monthly', '{\"rules\": [{\"label\": \"A\"}]}')".to_string(),
        format!("SELECT segment.schedule_refresh('{s}.segs', '0 3 * * *')"),
        format!("SELECT segment.unschedule_refresh('{s}.segs')"),
        format!("SELECT pg_catalog.length(segment.report('{s}.segs', '{{\"lang\": \"en\", \"min_group_size\": 5}}'))"),
        "SELECT pg_catalog.length(segment.report('coded_segs', '{\"from\": \"2026-01-01 00:00+00\", \"to\": \"infinity\"}'))".to_string(),
        format!("SELECT segment.delete_snapshots('{s}.segs', '2026-01-15 00:00+00')"),
        "SELECT v.view_name, v.owner FROM segment.segment_views v".to_string(),
        "SELECT s.snapshot_id, s.customers FROM segment.segment_snapshots s".to_string(),
        "SELECT r.customer_id FROM segment.segment_snapshot_rows r LIMIT 1".to_string(),
        format!("SELECT segment.drop_segment_view('{s}.coded_segs', true)"),
    ]
    .into_iter()
    // without pg_cron, schedule_refresh and unschedule_refresh only raise 55000
    .filter(|sql| has_cron() || !sql.contains("schedule_refresh"))
    {
        run(c, &sql);
    }
    let n = one(c, &format!("SELECT pg_catalog.count(*) FROM {s}.segs"));
    assert_eq!(n, "300", "{s}.segs holds every sample customer");
}

/// The test cluster's pg_cron database (scripts/test.sh): a pg_cron job only runs there.
const CRON_DB: &str = "pg_segment_cron";

/// Gives pg_segment_cron back to postgres, whatever happened.
struct CronDb;

impl Drop for CronDb {
    fn drop(&mut self) {
        if let Ok(mut c) = std::panic::catch_unwind(|| connect(CRON_DB, "postgres")) {
            let _ = c.batch_execute(
                "DELETE FROM cron.job WHERE username LIKE 'pgseg_hostile%';
                 DROP EXTENSION IF EXISTS pg_segment CASCADE;
                 DROP SCHEMA IF EXISTS su CASCADE;
                 ALTER DATABASE pg_segment_cron OWNER TO postgres;
                 ALTER DATABASE pg_segment_cron RESET track_functions;",
            );
        }
    }
}

/// Waits for a run of pg_cron job `job` (no time limit: a failed run or a missing scheduler fails
/// at once) and returns its status and message.
fn wait_for_run(c: &mut Client, job: &str) -> (String, String) {
    loop {
        let done = rows(c, &format!("SELECT status, coalesce(return_message, '') FROM cron.job_run_details WHERE jobid = {job} AND status IN ('succeeded', 'failed') LIMIT 1"));
        if let Some(r) = done.first() {
            return (r[0].clone().unwrap(), r[1].clone().unwrap());
        }
        let scheduler = one(c, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'");
        assert_eq!(scheduler, "1", "pg_cron's scheduler is not running");
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Class 2, and the pg_cron part of classes 3 and 6: a non-superuser database owner plants
/// hostile objects before CREATE EXTENSION (and callers plant more in their own schemas and
/// pg_temp); the owner installs the extension; a superuser, the owner and a plain user use every
/// SQL and PL/pgSQL function, the superuser also alters, refreshes, snapshots and schedules the
/// plain user's view, and a pg_cron job refreshes it. Nothing planted ever runs, nobody gains a
/// right, the job runs as the view's owner, who can then unschedule and drop her view.
#[test]
fn hostile_objects_on_every_path_never_run() {
    // Where the server has pg_cron the test runs in its database (a job only runs there) and
    // includes a scheduled refresh; elsewhere in a database of its own, the pg_cron part skipped.
    let cron = has_cron();
    let own_db = (!cron).then(|| TestDb::new("hostile"));
    let db: &str = own_db.as_ref().map_or(CRON_DB, |d| d.name.as_str());
    // dropped in reverse order: the database is given back before the roles go
    let roles = Roles::new("hostile", &["owner", "user"], &[db]);
    let _cron_db = cron.then_some(CronDb);
    let (owner, user) = (roles.get(0).to_string(), roles.get(1).to_string());
    let mut admin = connect(db, "postgres");
    if cron {
        assert!(one(&mut admin, "SHOW shared_preload_libraries").contains("pg_cron"), "the test cluster must preload pg_cron");
        run(
            &mut admin,
            &format!(
                "CREATE EXTENSION IF NOT EXISTS pg_cron;
                 SELECT cron.unschedule(jobid) FROM cron.job;
                 GRANT USAGE ON SCHEMA cron TO {owner}, {user};  -- what pg_cron asks of a DBA for non-superusers"
            ),
        );
    } else {
        skip("security::hostile_objects_on_every_path_never_run (the pg_cron job)", false, "this PostgreSQL has no pg_cron");
    }
    run(
        &mut admin,
        &format!(
            "DROP EXTENSION IF EXISTS pg_segment CASCADE;
             DROP SCHEMA IF EXISTS su CASCADE;
             ALTER DATABASE {db} OWNER TO {owner};
             -- PostgreSQL 15's defaults: public is the database owner's, and everyone may use it
             ALTER SCHEMA public OWNER TO pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;
             ALTER DATABASE {db} SET track_functions = 'all';
             SELECT pg_stat_reset();
             ALTER ROLE {user} SET search_path = {user}, public, pg_catalog;
             ALTER ROLE {owner} SET search_path = {owner}, public, pg_catalog;
             SET search_path = pg_catalog, pg_temp;"
        ),
    );
    let (overloads, relations) = catalog_targets(&mut admin);
    for name in
        ["format", "cardinality", "unnest", "nextval", "now", "array_agg", "quote_ident", "lower", "jsonb_typeof", "parse_ident", "btrim"]
    {
        assert!(overloads.iter().any(|o| o.name == name), "{name} is among the names read from the SQL files");
    }
    // the database owner plants in public (hers), in a schema named like the superuser (on its
    // "$user" path) and in her own schema, before CREATE EXTENSION
    {
        let mut o = connect(db, &owner);
        create_pwn_log(&mut o, &owner);
        run(&mut o, &format!("CREATE SCHEMA postgres; CREATE SCHEMA {owner}; GRANT CREATE ON DATABASE {db} TO {user}"));
        for schema in ["public", "postgres", owner.as_str()] {
            plant_all(&mut o, &plant_statements(&overloads, &relations, schema, false), schema);
        }
    }
    {
        let mut u = connect(db, &user);
        run(&mut u, &format!("CREATE SCHEMA {user}"));
        plant_all(&mut u, &plant_statements(&overloads, &relations, &user, false), &user);
    }
    let mut clean = clean_session(db, "postgres");
    assert_eq!(pwned(&mut clean), (false, vec![]), "planting ran nothing");
    let before_roles = rows(&mut clean, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles ORDER BY 1");
    let before_members = rows(&mut clean, "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2");

    // the database owner installs the trusted extension in her hostile session
    let mut o = hostile_session(db, &owner, &format!("{owner}, public"), &overloads, &relations);
    run(&mut o, "CREATE EXTENSION pg_segment");
    let mut u = hostile_session(db, &user, &format!("{user}, public"), &overloads, &relations);
    let mut su = hostile_session(db, "postgres", "su, postgres, public", &overloads, &relations);
    run(&mut su, "CREATE SCHEMA su");

    // the plain user's source reports who reads it (class 3: a superuser's refresh of her view
    // runs her code with her rights)
    run(
        &mut u,
        &format!(
            "CREATE TABLE {user}.seen (who pg_catalog.name, superuser pg_catalog.bool);
             CREATE FUNCTION {user}.spy() RETURNS pg_catalog.bool LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
             BEGIN
                 INSERT INTO {user}.seen SELECT current_user, r.rolsuper FROM pg_roles r WHERE r.rolname = current_user;
                 RETURN true;
             END $$;"
        ),
    );
    exercise(&mut u, &user);
    exercise(&mut o, &owner);
    exercise(&mut su, "su");
    // the export needs the key: only a superuser sets one in a session (after the library loaded)
    run(
        &mut su,
        "LOAD 'pg_segment'; SET pg_segment.pseudonym_key = 'pg_segment security test key 0123456789';
         SELECT * FROM segment.export_segments('su.segs', 'sms')",
    );
    run(
        &mut u,
        &format!(
            "CREATE VIEW {user}.spied AS SELECT o.* FROM {user}.orders o WHERE (SELECT {user}.spy());
             SELECT segment.create_segment_view('{user}.watched', '{user}.spied', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01 00:00+00\"}}')"
        ),
    );

    // the superuser acts on the user's views: alter, refresh, snapshot, schedule
    for sql in [
        format!("SELECT segment.alter_segment_view('{user}.watched', '{{\"lang\": \"en\"}}')"),
        format!("SELECT segment.refresh_segment_view('{user}.watched')"),
        format!("SELECT segment.refresh_segment_view('{user}.watched', false)"),
        format!("SELECT segment.take_snapshot('{user}.watched')"),
        format!("SELECT segment.alter_segment_view('{user}.segs', '{{\"lang\": \"zh\"}}')"),
    ] {
        run(&mut su, &sql);
    }
    if cron {
        let job = one(&mut su, &format!("SELECT segment.schedule_refresh('{user}.watched', '* * * * *')"));
        // alter keeps the schedule, still the user's
        run(&mut su, &format!("SELECT segment.alter_segment_view('{user}.watched', '{{\"lang\": \"zh\"}}')"));
        let jobs = rows(&mut clean, &format!("SELECT jobid, username, command FROM cron.job WHERE username = '{user}'"));
        assert_eq!(jobs.len(), 1, "one job, the user's: {jobs:?}");
        let job = jobs[0][0].clone().unwrap_or(job);
        assert_eq!(jobs[0][2].as_deref(), Some(format!("SELECT segment.refresh_segment_view('{user}.watched')").as_str()));
        let (status, message) = wait_for_run(&mut clean, &job);
        assert_eq!(status, "succeeded", "the scheduled refresh, run as {user}: {message}");
        // the owner removes the schedule a superuser made, and drops her view
        assert_eq!(one(&mut u, &format!("SELECT segment.unschedule_refresh('{user}.watched')")), "t");
        assert_eq!(one(&mut clean, &format!("SELECT count(*) FROM cron.job WHERE username = '{user}'")), "0");
    }
    run(&mut u, &format!("SELECT segment.drop_segment_view('{user}.watched')"));
    run(&mut u, &format!("SELECT segment.drop_segment_view('{user}.segs')"));

    // the user's code ran only as the user
    let seen = rows(&mut clean, &format!("SELECT DISTINCT who::text, superuser::text FROM {user}.seen ORDER BY 1"));
    assert_eq!(seen, vec![vec![Some(user.clone()), Some("false".into())]], "the source view was read only with its owner's rights");

    // every SQL and PL/pgSQL function with a body resolved when it runs was called
    for c in [&mut o, &mut u, &mut su] {
        run(c, "SELECT pg_catalog.pg_stat_force_next_flush()");
        run(c, "SELECT 1");
    }
    let uncalled = rows(
        &mut clean,
        &format!(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         LEFT JOIN pg_stat_user_functions f ON f.funcid = p.oid
         WHERE p.pronamespace = 'segment'::regnamespace AND l.lanname IN ('sql', 'plpgsql') AND p.prosqlbody IS NULL
           AND coalesce(f.calls, 0) = 0
           -- without pg_cron the schedule functions (and their workers) only raise 55000 or are
           -- never reached (an error is not a counted call)
           AND (NOT (p.proname LIKE '%schedule%' OR p.proname LIKE '%cron%') OR {cron})
         ORDER BY 1"
        ),
    );
    assert!(uncalled.is_empty(), "not exercised: {uncalled:?}");

    // the install script bound its expressions and SQL-standard bodies to pg_catalog and segment
    let bound_elsewhere = rows(
        &mut clean,
        "SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> ' || pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
         FROM pg_depend d
         JOIN pg_depend e ON e.refclassid = 'pg_extension'::regclass AND e.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_segment')
              AND e.deptype = 'e'
              AND ((d.classid = e.classid AND d.objid = e.objid)
                   OR (d.classid IN ('pg_attrdef'::regclass, 'pg_constraint'::regclass, 'pg_policy'::regclass)
                       AND e.classid = 'pg_class'::regclass
                       AND e.objid = coalesce((SELECT adrelid FROM pg_attrdef WHERE oid = d.objid AND d.classid = 'pg_attrdef'::regclass),
                                              (SELECT conrelid FROM pg_constraint WHERE oid = d.objid AND d.classid = 'pg_constraint'::regclass),
                                              (SELECT polrelid FROM pg_policy WHERE oid = d.objid AND d.classid = 'pg_policy'::regclass))))
         WHERE d.deptype = 'n' AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_type'::regclass, 'pg_class'::regclass)
           AND coalesce((pg_identify_object(d.refclassid, d.refobjid, 0)).schema, '') NOT IN ('pg_catalog', 'segment')",
    );
    assert!(bound_elsewhere.is_empty(), "bound to planted objects: {bound_elsewhere:?}");

    let (called, log) = pwned(&mut clean);
    assert!(!called && log.is_empty(), "planted objects ran: {log:?}");
    assert_eq!(
        rows(&mut clean, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles ORDER BY 1"),
        before_roles,
        "no role gained a right"
    );
    assert_eq!(
        rows(&mut clean, "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2"),
        before_members,
        "no role gained a membership"
    );
    drop((o, u, su));
    run(&mut admin, &format!("DROP EXTENSION pg_segment CASCADE; ALTER DATABASE {db} OWNER TO postgres"));
}

// ---------------------------------------------------------------------------------------------
// Class 3: a superuser's alter, refresh and snapshot run the owner's code as the owner; the
// registry is written only by the extension's functions, for views the caller may act for.
// ---------------------------------------------------------------------------------------------

/// `alice` owns views whose source calls her functions: one called per refresh (volatile), one
/// that the planner folds when it plans a query over the source (immutable, constant argument).
/// Both record who runs them and try to make alice superuser and to read a superuser's table.
fn spied_views(a: &mut Client, alice: &str) {
    run(
        a,
        &format!(
            "CREATE SCHEMA {alice};
             CREATE TABLE {alice}.seen (who name, superuser boolean, became_superuser boolean, read_secret boolean, at text);
             CREATE FUNCTION {alice}.spy(at text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
             DECLARE became boolean := false; secret boolean := false;
             BEGIN
                 BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', '{alice}'); became := true; EXCEPTION WHEN OTHERS THEN NULL; END;
                 BEGIN PERFORM count(*) FROM public.secret; secret := true; EXCEPTION WHEN OTHERS THEN NULL; END;
                 INSERT INTO {alice}.seen SELECT current_user, r.rolsuper, became, secret, at FROM pg_roles r WHERE r.rolname = current_user;
                 RETURN true;
             END $$;
             CREATE FUNCTION {alice}.folded(n integer) RETURNS boolean LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
             BEGIN RETURN {alice}.spy('plan time ' || n); END $$;
             CREATE TABLE {alice}.orders AS SELECT customer_id, 'C' || customer_id AS code, ordered_at, amount FROM segment.sample_orders(200, 3);
             CREATE VIEW {alice}.spied AS SELECT o.* FROM {alice}.orders o WHERE (SELECT {alice}.spy('run time')) AND {alice}.folded(1);
             SELECT segment.create_segment_view('{alice}.segments', '{alice}.spied', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01\"}}');
             SELECT segment.create_segment_view('{alice}.coded', '{alice}.spied', 'code', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01\"}}');"
        ),
    );
}

#[test]
fn a_superusers_alter_refresh_and_snapshot_run_the_owners_code_with_the_owners_rights() {
    let roles = Roles::new("owner_rights", &["alice", "bob"], &[]);
    let db = TestDb::new("owner_rights");
    let (alice, bob) = (roles.get(0).to_string(), roles.get(1).to_string());
    let mut su = db.client();
    run(
        &mut su,
        &format!(
            "CREATE EXTENSION pg_segment; GRANT CREATE ON DATABASE {0} TO {alice}, {bob};
             CREATE TABLE public.secret AS SELECT 42 AS answer; REVOKE ALL ON public.secret FROM PUBLIC;",
            db.name
        ),
    );
    let mut a = connect(&db.name, &alice);
    spied_views(&mut a, &alice);
    // the superuser rebuilds, refreshes and snapshots alice's views
    for view in ["segments", "coded"] {
        for sql in [
            format!("SELECT segment.alter_segment_view('{alice}.{view}', '{{\"lang\": \"en\"}}')"),
            format!("SELECT segment.refresh_segment_view('{alice}.{view}')"),
            format!("SELECT segment.refresh_segment_view('{alice}.{view}', false)"),
            format!("SELECT segment.take_snapshot('{alice}.{view}')"),
            format!("SELECT segment.alter_segment_view('{alice}.{view}', '{{\"lang\": \"zh\", \"tz\": \"UTC\"}}')"),
        ] {
            run(&mut su, &sql);
        }
        let owner = one(&mut su, &format!("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '{alice}.{view}'::regclass"));
        assert_eq!(owner, alice, "{view} stays alice's");
    }
    let seen =
        rows(&mut su, &format!("SELECT DISTINCT who::text, superuser::text, became_superuser::text, read_secret::text FROM {alice}.seen"));
    assert_eq!(
        seen,
        vec![vec![Some(alice.clone()), Some("false".into()), Some("false".into()), Some("false".into())]],
        "alice's code ran only as alice"
    );
    let plan_time = one(&mut su, &format!("SELECT count(*) FROM {alice}.seen WHERE at LIKE 'plan time%'"));
    assert_ne!(plan_time, "0", "the folded function ran (when the refresh was planned, as alice)");
    assert_eq!(one(&mut su, &format!("SELECT rolsuper::text FROM pg_roles WHERE rolname = '{alice}'")), "false");

    // nobody writes the registry directly
    for sql in [
        format!("INSERT INTO segment.segment_views (view_schema, view_name, source, customer_column, ordered_at_column, amount_column, definition, owner)
                 VALUES ('{alice}', 'forged', '{alice}.orders', 'customer_id', 'ordered_at', 'amount', 'SELECT 1', '{alice}')"),
        format!("UPDATE segment.segment_views SET source = 'public.secret'::regclass WHERE view_name = 'segments'"),
        "DELETE FROM segment.segment_views".to_string(),
        format!("INSERT INTO segment.segment_snapshots (view_schema, view_name, taken_at, customers, owner) VALUES ('{alice}', 'segments', now(), 0, '{alice}')"),
        "UPDATE segment.segment_snapshots SET customers = 0".to_string(),
        "DELETE FROM segment.segment_snapshots".to_string(),
        "INSERT INTO segment.segment_snapshot_rows VALUES (1, '1', 'x', 'x', 'x', 1, 1)".to_string(),
        "UPDATE segment.segment_snapshot_rows SET tier = 'x'".to_string(),
        "DELETE FROM segment.segment_snapshot_rows".to_string(),
        "SELECT nextval('segment.segment_snapshots_id_seq')".to_string(),
    ] {
        assert_eq!(sqlstate(&mut a, &sql), "42501", "{sql}");
    }

    // bob can neither act for alice's views through the registry's writers nor squat her names
    let mut b = connect(&db.name, &bob);
    run(
        &mut b,
        &format!(
            "CREATE SCHEMA {bob}; CREATE TABLE {bob}.orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(50, 4)"
        ),
    );
    let snapshots_before = one(&mut su, "SELECT count(*) FROM segment.segment_snapshots");
    for sql in [
        format!(
            "SELECT segment._registry_put('{alice}.segments', '{bob}.orders', 'customer_id', 'ordered_at', 'amount', '{{}}', 'SELECT 1')"
        ),
        format!("SELECT segment._registry_refreshed('{alice}.segments')"),
        format!("SELECT segment._registry_cron('{alice}.segments', 1)"),
        format!("SELECT segment._registry_drop('{alice}', 'segments', false)"),
        format!("SELECT segment._snapshot_take('{alice}.segments', now())"),
        format!("SELECT segment._grant_as('{alice}.segments', NULL, '{alice}'::regrole, '{bob}'::regrole, 'SELECT', false, false)"),
        format!("SELECT segment._grant_as('{alice}.segments', NULL, '{bob}'::regrole, '{bob}'::regrole, 'SELECT', false, false)"),
    ] {
        assert_eq!(sqlstate(&mut b, &sql), "42501", "{sql}");
    }
    assert_eq!(
        one(&mut b, &format!("SELECT segment._snapshots_delete('{alice}', 'segments', 'infinity')")),
        "0",
        "bob deletes none of alice's snapshots"
    );
    assert_eq!(
        sqlstate(&mut b, &format!("SELECT segment.drop_segment_view('{alice}.segments')")),
        "42P01",
        "bob does not see alice's view"
    );
    assert_eq!(one(&mut su, "SELECT count(*) FROM segment.segment_snapshots"), snapshots_before);
    assert_eq!(one(&mut su, &format!("SELECT has_table_privilege('{bob}', '{alice}.segments', 'SELECT')::text")), "false");

    // a shared schema: bob's view of a name, dropped behind the registry's back, leaves his
    // row and history; alice's new view of that name replaces the row but never reads his history
    run(
        &mut su,
        &format!("CREATE SCHEMA shared; GRANT CREATE, USAGE ON SCHEMA shared TO {alice}, {bob}; GRANT SELECT ON {alice}.orders TO {bob}"),
    );
    run(
        &mut b,
        &format!(
            "SELECT segment.create_segment_view('shared.seg', '{bob}.orders', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01\"}}');
             SELECT segment.take_snapshot('shared.seg', '2026-01-01');
             DROP MATERIALIZED VIEW shared.seg;"
        ),
    );
    // a plain materialized view of that name does not take the row over (nor read it)
    run(&mut a, &format!("CREATE MATERIALIZED VIEW shared.seg AS SELECT * FROM {alice}.spied"));
    for sql in [
        "SELECT segment._registry_refreshed('shared.seg')",
        "SELECT segment._registry_cron('shared.seg', 7)",
        "SELECT segment._snapshot_take('shared.seg', now())",
    ] {
        assert_eq!(sqlstate(&mut a, sql), "42501", "{sql}");
    }
    assert_eq!(
        one(&mut su, "SELECT owner::text || ' ' || (cron_job IS NULL)::text FROM segment.segment_views WHERE view_schema = 'shared'"),
        format!("{bob} true")
    );
    run(&mut a, "DROP MATERIALIZED VIEW shared.seg");
    run(
        &mut a,
        &format!(
            "SELECT segment.create_segment_view('shared.seg', '{alice}.orders', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01\"}}');
             SELECT segment.take_snapshot('shared.seg', '2026-02-01');"
        ),
    );
    for c in [&mut a, &mut su] {
        assert_eq!(
            sqlstate(c, "SELECT * FROM segment.tier_migration('shared.seg', '2026-01-15', '2026-02-15')"),
            "22023",
            "bob's snapshot is not alice's history"
        );
    }
    let owners = rows(&mut su, "SELECT owner::text FROM segment.segment_snapshots WHERE view_schema = 'shared' ORDER BY taken_at");
    assert_eq!(owners, vec![vec![Some(bob.clone())], vec![Some(alice.clone())]]);
    assert_eq!(one(&mut su, "SELECT owner::text FROM segment.segment_views WHERE view_schema = 'shared'"), alice);
    // bob keeps (and alone may delete) his history; alice's drop leaves it alone
    run(&mut a, "SELECT segment.drop_segment_view('shared.seg')");
    assert_eq!(one(&mut su, "SELECT count(*) FROM segment.segment_snapshots WHERE view_schema = 'shared'"), "1");
    assert_eq!(one(&mut b, "SELECT segment.delete_snapshots('shared.seg', 'infinity')"), "1");
    drop((a, b));
    run(&mut su, "DROP SCHEMA shared CASCADE");
}

// ---------------------------------------------------------------------------------------------
// Class 6: alter keeps privileges with their grantors and comments; DROP EXTENSION by a
// non-superuser keeps other roles' views and history.
// ---------------------------------------------------------------------------------------------

/// Privileges on a relation and its columns: (column, grantor, grantee, privilege, grantable).
fn privileges(c: &mut Client, rel: &str) -> Vec<Vec<Option<String>>> {
    rows(
        c,
        &format!(
            "SELECT NULL::text, a.grantor::regrole::text, a.grantee::regrole::text, a.privilege_type, a.is_grantable::text
             FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = '{rel}'::regclass
             UNION ALL
             SELECT t.attname::text, a.grantor::regrole::text, a.grantee::regrole::text, a.privilege_type, a.is_grantable::text
             FROM pg_attribute t, aclexplode(t.attacl) a WHERE t.attrelid = '{rel}'::regclass
             ORDER BY 1 NULLS FIRST, 2, 3, 4"
        ),
    )
}

#[test]
fn alter_keeps_privileges_with_their_grantors_and_comments() {
    let roles = Roles::new("grants", &["alice", "carol", "dave", "erin"], &[]);
    let db = TestDb::new("grants");
    let (alice, carol, dave, erin) =
        (roles.get(0).to_string(), roles.get(1).to_string(), roles.get(2).to_string(), roles.get(3).to_string());
    let mut su = db.client();
    run(&mut su, &format!("CREATE EXTENSION pg_segment; GRANT CREATE ON DATABASE {0} TO {alice}", db.name));
    let mut a = connect(&db.name, &alice);
    run(
        &mut a,
        &format!(
            "CREATE SCHEMA {alice}; GRANT USAGE ON SCHEMA {alice} TO {carol}, {dave}, {erin};
             CREATE TABLE {alice}.orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(100, 8);
             SELECT segment.create_segment_view('{alice}.v', '{alice}.orders', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01\"}}');
             GRANT SELECT ON {alice}.v TO {carol} WITH GRANT OPTION;
             GRANT SELECT (customer_id, tier) ON {alice}.v TO {erin};
             GRANT UPDATE (tier) ON {alice}.v TO {erin} WITH GRANT OPTION;
             REVOKE TRUNCATE ON {alice}.v FROM {alice};
             COMMENT ON MATERIALIZED VIEW {alice}.v IS 'alice''s tiers';
             COMMENT ON COLUMN {alice}.v.tier IS 'tier as of the last refresh';"
        ),
    );
    let mut c = connect(&db.name, &carol);
    run(&mut c, &format!("GRANT SELECT ON {alice}.v TO {dave}"));
    let before = privileges(&mut su, &format!("{alice}.v"));
    assert!(before.iter().any(|r| r[1].as_deref() == Some(carol.as_str()) && r[2].as_deref() == Some(dave.as_str())), "{before:?}");
    let comments = |c: &mut Client| {
        rows(
            c,
            &format!(
                "SELECT obj_description('{alice}.v'::regclass, 'pg_class'), col_description('{alice}.v'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = '{alice}.v'::regclass AND attname = 'tier'))"
            ),
        )
    };
    let comments_before = comments(&mut su);

    // alice cannot act as carol, so her alter would lose carol's grant: refused, nothing changes
    let oid = one(&mut su, &format!("SELECT '{alice}.v'::regclass::oid"));
    let e = a
        .batch_execute(&format!("SELECT segment.alter_segment_view('{alice}.v', '{{\"lang\": \"en\"}}')"))
        .expect_err("alice cannot re-grant as carol");
    assert_eq!(e.code().map(|s| s.code()), Some("42501"), "{}", describe(&e));
    assert!(e.as_db_error().and_then(|d| d.hint()).is_some_and(|h| h.contains(&carol)), "the hint names the grantor: {}", describe(&e));
    assert_eq!(one(&mut su, &format!("SELECT '{alice}.v'::regclass::oid")), oid, "the view was not rebuilt");

    // a superuser can: every privilege, table and column, comes back with its grantor
    run(&mut su, &format!("SELECT segment.alter_segment_view('{alice}.v', '{{\"lang\": \"en\"}}')"));
    assert_ne!(one(&mut su, &format!("SELECT '{alice}.v'::regclass::oid")), oid, "the view was rebuilt");
    assert_eq!(privileges(&mut su, &format!("{alice}.v")), before, "the same privileges, grantors and grant options");
    assert_eq!(comments(&mut su), comments_before, "the owner's comments");
    assert_eq!(one(&mut su, &format!("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '{alice}.v'::regclass")), alice);
    let mut d = connect(&db.name, &dave);
    assert_eq!(one(&mut d, &format!("SELECT count(*) FROM {alice}.v")), "100", "dave reads through carol's grant");
    // a revoke still revokes: alice takes carol's right, and dave's, granted by carol, goes too
    run(&mut a, &format!("REVOKE SELECT ON {alice}.v FROM {carol} CASCADE"));
    assert_eq!(one(&mut su, &format!("SELECT has_table_privilege('{dave}', '{alice}.v', 'SELECT')::text")), "false");
    // with no grantor she cannot act as, alice alters her view herself and keeps the rest
    let before = privileges(&mut su, &format!("{alice}.v"));
    run(&mut a, &format!("SELECT segment.alter_segment_view('{alice}.v', '{{\"lang\": \"zh\"}}')"));
    assert_eq!(privileges(&mut su, &format!("{alice}.v")), before);
    assert_eq!(comments(&mut su), comments_before);
    drop((a, c, d));
}

#[test]
fn a_non_superuser_cannot_drop_the_extension_under_other_roles_views_and_history() {
    let roles = Roles::new("dropguard", &["owner", "bob"], &[]);
    let db = TestDb::new("dropguard");
    let (owner, bob) = (roles.get(0).to_string(), roles.get(1).to_string());
    let mut su = db.client();
    run(&mut su, &format!("ALTER DATABASE {0} OWNER TO {owner}; GRANT CREATE ON DATABASE {0} TO {bob}", db.name));
    let mut o = connect(&db.name, &owner);
    run(&mut o, "CREATE EXTENSION pg_segment");
    let mut b = connect(&db.name, &bob);
    run(
        &mut b,
        &format!(
            "CREATE SCHEMA {bob}; CREATE TABLE {bob}.orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(50, 2);
             SELECT segment.create_segment_view('{bob}.v', '{bob}.orders', 'customer_id', 'ordered_at', 'amount');
             SELECT segment.take_snapshot('{bob}.v');"
        ),
    );
    for sql in [
        "DROP EXTENSION pg_segment",
        "DROP EXTENSION pg_segment CASCADE",
        &format!("DROP OWNED BY {owner} CASCADE"),
        "DROP EXTENSION IF EXISTS plpgsql, pg_segment",
    ] {
        let e = o.batch_execute(sql).expect_err(sql);
        assert_eq!(e.code().map(|s| s.code()), Some("42501"), "{sql}: {}", describe(&e));
        assert!(e.as_db_error().is_some_and(|d| d.message().contains(&bob)), "{sql}: names the role: {}", describe(&e));
    }
    assert_eq!(one(&mut b, &format!("SELECT count(*) FROM {bob}.v")), "50", "bob's view is intact");
    // other extensions drop as usual under the guard
    // (any trusted extension the installation has that needs no other: pg_trgm where contrib
    // is installed; the wheel of PostgreSQL 16 has none)
    let other = rows(
        &mut o,
        "SELECT name FROM pg_catalog.pg_available_extension_versions
         WHERE trusted AND requires IS NULL AND name NOT IN ('pg_segment', 'plpgsql')
           AND name NOT IN (SELECT extname FROM pg_catalog.pg_extension)
         ORDER BY name <> 'pg_trgm', name LIMIT 1",
    );
    match other.first().and_then(|r| r[0].clone()) {
        Some(ext) => run(&mut o, &format!("CREATE EXTENSION {ext}; DROP EXTENSION {ext}")),
        None => skip(
            "security::a_non_superuser_cannot_drop_the_extension_under_other_roles_views_and_history (another extension drops)",
            false,
            "this PostgreSQL has no other trusted extension",
        ),
    }
    // bob's history goes only when bob removes it; then an object of his that depends on the
    // extension still keeps a CASCADE from destroying it
    run(&mut b, &format!("SELECT segment.drop_segment_view('{bob}.v'); CREATE VIEW {bob}.f AS SELECT segment.frequency('v1:'::segment.rfm_summary) AS orders"));
    assert_eq!(one(&mut o, "SELECT count(*) FROM segment.segment_snapshots"), "0");
    let e = o.batch_execute("DROP EXTENSION pg_segment CASCADE").expect_err("bob's view depends on it");
    assert_eq!(e.code().map(|s| s.code()), Some("42501"), "{}", describe(&e));
    assert!(e.as_db_error().is_some_and(|d| d.message().contains(&format!("{bob}.f"))), "names bob's view: {}", describe(&e));
    assert_eq!(sqlstate(&mut o, "DROP EXTENSION pg_segment"), "2BP01", "without CASCADE PostgreSQL refuses by itself");
    run(&mut b, &format!("DROP VIEW {bob}.f"));
    // the owner's own views and history go with her drop
    run(
        &mut o,
        &format!(
            "CREATE SCHEMA {owner}; CREATE TABLE {owner}.orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(20, 1);
             SELECT segment.create_segment_view('{owner}.v', '{owner}.orders', 'customer_id', 'ordered_at', 'amount');
             SELECT segment.take_snapshot('{owner}.v');
             DROP EXTENSION pg_segment CASCADE;"
        ),
    );
    assert_eq!(one(&mut su, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_segment'"), "0");
    // a superuser may drop it under other roles' views
    run(&mut o, "CREATE EXTENSION pg_segment");
    run(&mut b, &format!("SELECT segment.create_segment_view('{bob}.v', '{bob}.orders', 'customer_id', 'ordered_at', 'amount')"));
    run(&mut su, "DROP EXTENSION pg_segment CASCADE");
    drop((o, b));
    run(&mut su, &format!("ALTER DATABASE {0} OWNER TO postgres", db.name));
}

// ---------------------------------------------------------------------------------------------
// Class 7: two sessions create one view at once
// ---------------------------------------------------------------------------------------------

#[test]
fn concurrent_creates_of_one_view_give_42p07() {
    let db = Arc::new(TestDb::new("concurrent_create"));
    let mut c = db.client();
    run(
        &mut c,
        "CREATE EXTENSION pg_segment; CREATE TABLE orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(100, 1)",
    );
    let create =
        "SELECT segment.create_segment_view('segs', 'orders', 'customer_id', 'ordered_at', 'amount', '{\"as_of\": \"2026-01-01\"}')";
    // the first session creates the view and keeps its transaction open
    run(&mut c, &format!("BEGIN; {create}"));
    let db2 = db.clone();
    let started = Arc::new(Barrier::new(2));
    let s2 = started.clone();
    let second = std::thread::spawn(move || {
        let mut c2 = db2.client();
        run(&mut c2, "SET application_name = 'pgseg_second_create'");
        s2.wait();
        c2.batch_execute(create)
    });
    started.wait();
    // the second waits for the first (on the catalogs' unique index) ...
    let mut watcher = db.client();
    loop {
        let waiting = one(
            &mut watcher,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgseg_second_create' AND wait_event_type = 'Lock'",
        );
        if waiting == "1" {
            break;
        }
        assert!(!second.is_finished(), "the second create ended before the first committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    run(&mut c, "COMMIT");
    // ... and then fails as a relation that exists does
    let e = second.join().unwrap().expect_err("the second create must fail");
    assert_eq!(e.code().map(|s| s.code()), Some("42P07"), "{}", describe(&e));
    assert_eq!(one(&mut c, "SELECT count(*) FROM segment.segment_views"), "1");
    assert_eq!(one(&mut c, "SELECT count(*) FROM segs"), "100");
}
