//! The views family's C functions (the rest of the family is PL/pgSQL in `sql/views.sql`): the only writers of the
//! registry tables, grants re-issued by their original grantor, the key-type check and the
//! guard that keeps a non-superuser's `DROP EXTENSION` from destroying other roles' history.
//!
//! Why C: everyone may read the registry tables (`segment.segment_views`, `segment_snapshots`,
//! `segment_snapshot_rows`; row security shows the rows of roles one is a member of), nobody but
//! their owner (the superuser that ran the install script) may write them. A SECURITY DEFINER
//! function in PL/pgSQL could write them but could not learn who called it: inside it
//! `current_user` is the definer and `session_user` may be anybody. These functions are
//! SECURITY INVOKER. Each takes the caller's identity with `GetUserId()` before anything else,
//! checks that the caller may act for the relation concerned (has the privileges of its owner,
//! as PostgreSQL's own ownership checks do; superusers may), and only then runs one fixed,
//! parameterized statement (never SQL text from the caller) as the tables' owner, with
//! `search_path` pinned to `pg_catalog, pg_temp`.
//!
//! The switch of user (`SetUserIdAndSecContext` with `SECURITY_LOCAL_USERID_CHANGE` and
//! `SECURITY_RESTRICTED_OPERATION`) and the GUC nest level of `search_path` are undone
//! explicitly when the statement returns. When it raises, PostgreSQL undoes both: the abort of
//! the transaction, or of the caller's subtransaction (a PL/pgSQL `EXCEPTION` block), restores
//! the user id and security context saved when that (sub)transaction began and pops every GUC
//! nest level opened inside it (`AbortSubTransaction`, `AtEOSubXact_GUC`), so no error leaves
//! the session running as the owner. Statements run as the owner touch only the registry tables
//! and the catalogs, through PostgreSQL's own functions; the one read of a user's relation (the
//! snapshot) is explained at `pgseg_snapshot_take`.

use crate::pg::fmgr::{arg, arg_str, is_null, raise_code};
use crate::pg::spi::{as_role, quote, role_name, spi, value};
use crate::pg_fn;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo, Oid};
use pgrx::PgSqlErrorCode;
use std::ffi::{c_char, CStr, CString};

fn text<'a>(s: &str) -> DatumWithOid<'a> {
    s.to_string().into()
}

unsafe fn raw<'a>(d: Datum, type_oid: Oid) -> DatumWithOid<'a> {
    DatumWithOid::new(d, type_oid)
}

unsafe fn oid_arg(fc: FunctionCallInfo, n: usize) -> Oid {
    Oid::from(arg(fc, n).value() as u32)
}

unsafe fn name_arg(fc: FunctionCallInfo, n: usize) -> String {
    CStr::from_ptr(arg(fc, n).cast_mut_ptr::<c_char>()).to_string_lossy().into_owned()
}

unsafe fn require_args(fc: FunctionCallInfo, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        if !name.is_empty() && is_null(fc, i) {
            raise_code(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, format!("{name} must not be NULL"), None);
        }
    }
}

/// A relation as the catalogs describe it now.
struct Relation {
    oid: Oid,
    owner: Oid,
    owner_name: String,
    schema: String,
    name: String,
    kind: String,
}

impl Relation {
    unsafe fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }
}

unsafe fn relation(oid: Oid) -> Option<Relation> {
    spi(|c| {
        let rows = c
            .select(
                "SELECT c.relowner, pg_catalog.pg_get_userbyid(c.relowner)::text, n.nspname::text, c.relname::text, c.relkind::text
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                None,
                &[oid.into()],
            )
            .expect("pg_class lookup");
        rows.into_iter().next().map(|r| Relation {
            oid,
            owner: r.get::<Oid>(1).unwrap().unwrap(),
            owner_name: r.get::<String>(2).unwrap().unwrap(),
            schema: r.get::<String>(3).unwrap().unwrap(),
            name: r.get::<String>(4).unwrap().unwrap(),
            kind: r.get::<String>(5).unwrap().unwrap(),
        })
    })
}

/// The materialized view named `schema.name`, if there is one.
unsafe fn matview_named(schema: &str, name: &str) -> Option<Oid> {
    value(
        "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1::name AND c.relname = $2::name AND c.relkind = 'm'",
        &[text(schema), text(name)],
    )
}

fn not_allowed(invoker: &str, what: &str, owner: &str) -> ! {
    raise_code(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("role {invoker} may not act for segmentation view {what}, which belongs to role {owner}"),
        Some(
            "A segmentation view's registry row, snapshots, schedule and privileges are changed by its owner (or a role with the owner's privileges) and by superusers."
                .into(),
        ),
    )
}

/// The materialized view `oid`, locked against a concurrent drop or rename, which the caller
/// may act for.
unsafe fn acted_on(oid: Oid, invoker: Oid) -> Relation {
    pg_sys::LockRelationOid(oid, pg_sys::AccessShareLock as i32);
    let rel = relation(oid).unwrap_or_else(|| {
        raise_code(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("relation with OID {} does not exist", oid.to_u32()), None)
    });
    if rel.kind != "m" {
        raise_code(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("{} is not a materialized view", rel.qualified()), None);
    }
    if !pg_sys::has_privs_of_role(invoker, rel.owner) {
        not_allowed(&role_name(invoker), &rel.qualified(), &rel.owner_name);
    }
    rel
}

/// The owner of the registry tables.
unsafe fn registry_owner() -> Oid {
    value("SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = 'segment.segment_views'::regclass", &[]).expect("registry owner")
}

/// `statements` in order as the registry owner; returns the row count of each.
unsafe fn as_registry(statements: &[(&str, &[DatumWithOid<'_>])]) -> Vec<usize> {
    let owner = registry_owner();
    as_role(owner, || spi(|c| statements.iter().map(|(sql, args)| c.update(*sql, None, args).expect("registry statement").len()).collect()))
}

// ---- registry rows ----

// _registry_put(view regclass, source regclass, customer_column name, ordered_at_column name,
//               amount_column name, options jsonb, definition text): the registry row of a
// segmentation view the caller may act for, owned by the view's owner. A row left under the
// same name by a view dropped without drop_segment_view is replaced: a row can only exist for
// a relation its owner owns, so nobody can squat another role's view name.
pg_fn!(fn pgseg_registry_put(fc) {
    require_args(fc, &["view", "source", "customer_column", "ordered_at_column", "amount_column", "options", "definition"]);
    let invoker = pg_sys::GetUserId();
    let view = acted_on(oid_arg(fc, 0), invoker);
    let key = [text(&view.schema), text(&view.name)];
    let row = [
        text(&view.schema),
        text(&view.name),
        raw(arg(fc, 1), pg_sys::REGCLASSOID),
        raw(arg(fc, 2), pg_sys::NAMEOID),
        raw(arg(fc, 3), pg_sys::NAMEOID),
        raw(arg(fc, 4), pg_sys::NAMEOID),
        raw(arg(fc, 5), pg_sys::JSONBOID),
        raw(arg(fc, 6), pg_sys::TEXTOID),
        text(&view.owner_name),
    ];
    as_registry(&[
        ("DELETE FROM segment.segment_views v WHERE v.view_schema = $1::name AND v.view_name = $2::name", &key),
        (
            "INSERT INTO segment.segment_views (view_schema, view_name, source, customer_column, ordered_at_column, amount_column,
                                                options, definition, owner, created_at, refreshed_at)
             VALUES ($1::name, $2::name, $3, $4, $5, $6, $7, $8, $9::name, now(), now())",
            &row,
        ),
    ]);
    Datum::from(0usize)
});

// _registry_refreshed(view regclass) -> timestamptz: records a refresh (and the view's current
// owner, which ALTER MATERIALIZED VIEW ... OWNER TO may have changed)
pg_fn!(fn pgseg_registry_refreshed(fc) {
    require_args(fc, &["view"]);
    let invoker = pg_sys::GetUserId();
    let view = acted_on(oid_arg(fc, 0), invoker);
    require_registered(&view, invoker);
    let now = pg_sys::GetCurrentTransactionStartTimestamp();
    let args = [text(&view.schema), text(&view.name), text(&view.owner_name), raw(Datum::from(now), pg_sys::TIMESTAMPTZOID)];
    as_registry(&[(
        "UPDATE segment.segment_views v SET refreshed_at = $4, owner = $3::name WHERE v.view_schema = $1::name AND v.view_name = $2::name",
        &args,
    )]);
    Datum::from(now)
});

// _registry_cron(view regclass, job bigint): records the pg_cron job of a view (NULL: none)
pg_fn!(fn pgseg_registry_cron(fc) {
    require_args(fc, &["view"]);
    let invoker = pg_sys::GetUserId();
    let view = acted_on(oid_arg(fc, 0), invoker);
    require_registered(&view, invoker);
    let job = if is_null(fc, 1) { DatumWithOid::null_oid(pg_sys::INT8OID) } else { raw(arg(fc, 1), pg_sys::INT8OID) };
    let args = [text(&view.schema), text(&view.name), job, text(&view.owner_name)];
    as_registry(&[(
        "UPDATE segment.segment_views v SET cron_job = $3, owner = $4::name WHERE v.view_schema = $1::name AND v.view_name = $2::name",
        &args,
    )]);
    Datum::from(0usize)
});

/// The owner named by the registry row of `schema.name`, if there is one (read as the registry
/// owner: row security does not hide it).
unsafe fn row_owner(schema: &str, name: &str) -> Option<String> {
    as_role(registry_owner(), || {
        value(
            "SELECT v.owner::text FROM segment.segment_views v WHERE v.view_schema = $1::name AND v.view_name = $2::name",
            &[text(schema), text(name)],
        )
    })
}

/// Fails unless the caller has the privileges of the role named `owner` (superusers: also of a
/// role that no longer exists).
unsafe fn require_acts_for_name(invoker: Oid, owner: &str, what: &str) {
    let c = CString::new(owner).unwrap();
    let role = pg_sys::get_role_oid(c.as_ptr(), true);
    let allowed = if role == Oid::INVALID { pg_sys::superuser_arg(invoker) } else { pg_sys::has_privs_of_role(invoker, role) };
    if !allowed {
        not_allowed(&role_name(invoker), what, owner);
    }
}

/// The registry row of the live view `view` (which the caller may act for) exists, and the
/// caller may also act for the role that row names when it is not the view's owner now: after
/// ALTER MATERIALIZED VIEW ... OWNER TO the row follows the view's owner with the next write, but
/// a role that merely reused the name of a view dropped behind the registry's back may not take
/// over (and so read) the row left by that view.
unsafe fn require_registered(view: &Relation, invoker: Oid) {
    match row_owner(&view.schema, &view.name) {
        None => {
            raise_code(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("{} is not a registered segmentation view", view.qualified()), None)
        }
        Some(o) if o != view.owner_name => require_acts_for_name(invoker, &o, &view.qualified()),
        Some(_) => {}
    }
}

/// The owner of the registered view `schema.name`: the materialized view's when it still
/// exists and still belongs to the registry row's owner, else the row's (a view dropped
/// without drop_segment_view). `None` when nothing is registered under that name. Fails unless
/// the caller may act for that owner.
unsafe fn registered_owner(invoker: Oid, schema: &str, name: &str) -> Option<String> {
    let row_owner = row_owner(schema, name)?;
    if let Some(oid) = matview_named(schema, name) {
        if relation(oid).is_some_and(|r| r.owner_name == row_owner) {
            acted_on(oid, invoker);
            return Some(row_owner);
        }
    }
    require_acts_for_name(invoker, &row_owner, &format!("{}.{}", quote(schema), quote(name)));
    Some(row_owner)
}

/// The condition on `s.owner` that keeps the snapshots the caller may delete: its own and those
/// of roles it has the privileges of; a superuser's: all, also those of dropped roles. `$n` is
/// the caller's oid, `$n+1` whether it is a superuser.
fn deletable_snapshot(n: usize) -> String {
    format!(
        "(${} OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = s.owner AND pg_catalog.pg_has_role(${n}, r.oid, 'USAGE')))",
        n + 1
    )
}

// _registry_drop(view_schema name, view_name name, keep_history boolean): removes the registry
// row of a view the caller may act for and, unless keep_history, the snapshots of that view
// name the caller may delete (deletable_snapshot)
pg_fn!(fn pgseg_registry_drop(fc) {
    require_args(fc, &["view_schema", "view_name", "keep_history"]);
    let invoker = pg_sys::GetUserId();
    let (schema, name) = (name_arg(fc, 0), name_arg(fc, 1));
    let keep_history = arg(fc, 2).value() != 0;
    if registered_owner(invoker, &schema, &name).is_none() {
        raise_code(PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE, format!("segmentation view {}.{} does not exist", quote(&schema), quote(&name)), None);
    }
    let args = [text(&schema), text(&name), invoker.into(), pg_sys::superuser_arg(invoker).into()];
    let delete_snapshots = format!(
        "DELETE FROM segment.segment_snapshots s WHERE s.view_schema = $1::name AND s.view_name = $2::name AND {}",
        deletable_snapshot(3)
    );
    let mut statements: Vec<(&str, &[DatumWithOid<'_>])> =
        vec![("DELETE FROM segment.segment_views v WHERE v.view_schema = $1::name AND v.view_name = $2::name", &args[..2])];
    if !keep_history {
        statements.push((&delete_snapshots, &args));
    }
    as_registry(&statements);
    Datum::from(0usize)
});

// ---- snapshots ----

/// The column types a segmentation view has (customer_id may be of any type).
const SNAPSHOT_COLUMNS: [(&str, Oid); 6] = [
    ("tier", pg_sys::TEXTOID),
    ("segment", pg_sys::TEXTOID),
    ("lifecycle_stage", pg_sys::TEXTOID),
    ("orders", pg_sys::INT8OID),
    ("monetary", pg_sys::NUMERICOID),
    ("as_of", pg_sys::TIMESTAMPTZOID),
];

// _snapshot_take(view regclass, taken_at timestamptz) -> bigint: stores a snapshot of a
// registered segmentation view the caller may act for, owned by the view's owner.
//
// The copy is one INSERT ... SELECT run as the registry owner, so it reads the view with that
// owner's rights. No user code can run in it: the view is a materialized view (no rules,
// triggers or row security; reading it runs nothing), the columns copied have exactly the
// built-in types checked below (so no user-defined cast or assignment coercion applies), and
// the key becomes text through its type's output function (format('%s')), which is C code of
// PostgreSQL or of a superuser's extension for every type a role can create, never a
// user-defined cast to text.
pg_fn!(fn pgseg_snapshot_take(fc) {
    require_args(fc, &["view", "taken_at"]);
    let invoker = pg_sys::GetUserId();
    let view = acted_on(oid_arg(fc, 0), invoker);
    require_registered(&view, invoker);
    let columns: Vec<(String, Oid)> = spi(|c| {
        c.select(
            "SELECT a.attname::text, a.atttypid FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            None,
            &[view.oid.into()],
        )
        .expect("pg_attribute lookup")
        .into_iter()
        .map(|r| (r.get::<String>(1).unwrap().unwrap(), r.get::<Oid>(2).unwrap().unwrap()))
        .collect()
    });
    let not_segmentation = |why: String| -> ! {
        raise_code(PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("{} is not a segmentation view: {why}", view.qualified()), None)
    };
    if !columns.iter().any(|(n, _)| n == "customer_id") {
        not_segmentation("it has no column customer_id".into());
    }
    for (col, want) in SNAPSHOT_COLUMNS {
        match columns.iter().find(|(n, _)| n == col) {
            Some((_, t)) if *t == want => {}
            Some(_) => not_segmentation(format!("column {col} has another type than segment.population_rows gives")),
            None => not_segmentation(format!("it has no column {col}")),
        }
    }
    let owner = registry_owner();
    let q = view.qualified();
    let id = as_role(owner, || {
        spi(|c| {
            // the row follows the view's owner, as at every registry write
            c.update(
                "UPDATE segment.segment_views v SET owner = $3::name WHERE v.view_schema = $1::name AND v.view_name = $2::name",
                None,
                &[text(&view.schema), text(&view.name), text(&view.owner_name)],
            )
            .expect("registry owner");
            let id: i64 = c
                .update(
                    "INSERT INTO segment.segment_snapshots (view_schema, view_name, taken_at, customers, owner)
                     VALUES ($1::name, $2::name, $3, 0, $4::name) RETURNING snapshot_id",
                    None,
                    &[text(&view.schema), text(&view.name), raw(arg(fc, 1), pg_sys::TIMESTAMPTZOID), text(&view.owner_name)],
                )
                .expect("snapshot header")
                .first()
                .get_one::<i64>()
                .expect("snapshot id")
                .expect("snapshot id");
            let rows = c
                .update(
                    &format!(
                        "INSERT INTO segment.segment_snapshot_rows (snapshot_id, customer_id, tier, segment, lifecycle_stage, orders, monetary)
                         SELECT $1, format('%s', v.customer_id), v.tier, v.segment, v.lifecycle_stage, v.orders, v.monetary FROM {q} v"
                    ),
                    None,
                    &[id.into()],
                )
                .expect("snapshot rows")
                .len() as i64;
            c.update(
                &format!("UPDATE segment.segment_snapshots s SET customers = $2, as_of = (SELECT max(v.as_of) FROM {q} v) WHERE s.snapshot_id = $1"),
                None,
                &[id.into(), rows.into()],
            )
            .expect("snapshot count");
            id
        })
    });
    Datum::from(id)
});

// _snapshots_delete(view_schema name, view_name name, taken_before timestamptz) -> bigint:
// deletes the snapshots of a view name taken before an instant whose owner the caller has the
// privileges of (superusers: every owner's, also those of dropped roles); their rows follow
pg_fn!(fn pgseg_snapshots_delete(fc) {
    require_args(fc, &["view_schema", "view_name", "taken_before"]);
    let invoker = pg_sys::GetUserId();
    let args = [
        raw(arg(fc, 0), pg_sys::NAMEOID),
        raw(arg(fc, 1), pg_sys::NAMEOID),
        raw(arg(fc, 2), pg_sys::TIMESTAMPTZOID),
        invoker.into(),
        pg_sys::superuser_arg(invoker).into(),
    ];
    let sql = format!(
        "DELETE FROM segment.segment_snapshots s WHERE s.view_schema = $1 AND s.view_name = $2 AND s.taken_at < $3 AND {}",
        deletable_snapshot(4)
    );
    let done = as_registry(&[(&sql, &args)]);
    Datum::from(done[0] as i64)
});

// ---- privileges ----

const TABLE_PRIVILEGES: [&str; 8] = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"];
const COLUMN_PRIVILEGES: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "REFERENCES"];

// _grant_as(view regclass, column_name name, grantor oid, grantee oid, privilege text,
//           grantable boolean, revoke boolean): GRANT (or REVOKE) one privilege on a
// materialized view (or one of its columns; NULL: the whole view) to a role (0: PUBLIC) with
// the rights of the grantor, so that PostgreSQL records the original grantor and a later
// REVOKE by that grantor still revokes. PostgreSQL's GRANTED BY accepts only the current user,
// hence the switch. The caller must have the privileges of the view's owner and of the grantor:
// with those it could already grant as the grantor itself, so this gives it nothing new.
pg_fn!(fn pgseg_grant_as(fc) {
    require_args(fc, &["view", "", "grantor", "grantee", "privilege", "grantable", "revoke"]);
    let invoker = pg_sys::GetUserId();
    let view = acted_on(oid_arg(fc, 0), invoker);
    let grantor = oid_arg(fc, 2);
    let grantee = oid_arg(fc, 3);
    let privilege = arg_str(fc, 4, "privilege").to_string();
    let grantable = arg(fc, 5).value() != 0;
    let revoke = arg(fc, 6).value() != 0;
    if grantor == Oid::INVALID || !pg_sys::has_privs_of_role(invoker, grantor) {
        raise_code(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("role {} may not grant as role {} on {}", role_name(invoker), role_name(grantor), view.qualified()),
            None,
        );
    }
    let column = if is_null(fc, 1) { None } else { Some(name_arg(fc, 1)) };
    let allowed: &[&str] = if column.is_some() { &COLUMN_PRIVILEGES } else { &TABLE_PRIVILEGES };
    if !allowed.contains(&privilege.as_str()) {
        raise_code(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("privilege must be one of {}, got {privilege:?}", allowed.join(", ")), None);
    }
    let columns = match &column {
        None => String::new(),
        Some(col) => {
            let exists: Option<i32> = value(
                "SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2::name AND a.attnum > 0 AND NOT a.attisdropped",
                &[view.oid.into(), text(col)],
            );
            if exists.is_none() {
                raise_code(PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN, format!("column {} of {} does not exist", quote(col), view.qualified()), None);
            }
            format!(" ({})", quote(col))
        }
    };
    let to = if grantee == Oid::INVALID {
        "PUBLIC".to_string()
    } else {
        let p = pg_sys::GetUserNameFromId(grantee, true);
        if p.is_null() {
            raise_code(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("role with OID {} does not exist", grantee.to_u32()), None);
        }
        quote(&CStr::from_ptr(p).to_string_lossy())
    };
    let statement = if revoke {
        format!("REVOKE {privilege}{columns} ON {} FROM {to}", view.qualified())
    } else {
        format!("GRANT {privilege}{columns} ON {} TO {to}{}", view.qualified(), if grantable { " WITH GRANT OPTION" } else { "" })
    };
    as_role(grantor, || spi(|c| c.update(statement.as_str(), None, &[]).map(|_| ()))).expect("grant");
    Datum::from(0usize)
});

// ---- key types ----

// _key_equality(regtype) -> regoper: the equality operator of a type's default btree operator
// class (what GROUP BY, DISTINCT, ORDER BY and a unique index use), NULL when the type has none
// (or no ordering). A catalog check: nothing runs against any table.
pg_fn!(fn pgseg_key_equality(fc) {
    let t = pg_sys::lookup_type_cache(oid_arg(fc, 0), (pg_sys::TYPECACHE_EQ_OPR | pg_sys::TYPECACHE_LT_OPR) as i32);
    if (*t).eq_opr == Oid::INVALID || (*t).lt_opr == Oid::INVALID {
        (*fc).isnull = true;
        return Datum::from(0usize);
    }
    Datum::from((*t).eq_opr)
});

// ---- DROP EXTENSION guard ----

/// Roles other than the caller's (and roles it has the privileges of) that own segmentation
/// views or snapshots; read as the registry owner, whom row security does not filter.
unsafe fn other_owners(invoker: Oid) -> Option<String> {
    as_role(registry_owner(), || {
        value(
            "SELECT string_agg(o.owner::text, ', ' ORDER BY o.owner::text)
             FROM (SELECT v.owner FROM segment.segment_views v UNION SELECT s.owner FROM segment.segment_snapshots s) o
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = o.owner AND pg_catalog.pg_has_role($1, r.oid, 'USAGE'))",
            &[invoker.into()],
        )
    })
}

/// Objects outside the extension that `DROP EXTENSION pg_segment CASCADE` would drop (directly
/// or through other dropped objects) and that belong to a role the caller does not have the
/// privileges of; objects whose owner is not found are counted too. At most six, described.
unsafe fn foreign_dependents(extension: Oid, invoker: Oid) -> Vec<String> {
    spi(|c| {
        c.select(
            "WITH RECURSIVE members AS (
                 SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
                 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = $1 AND d.deptype = 'e'
             ), doomed(classid, objid, foreign_) AS (
                 -- foreign_: not part of one of the extension's objects. A member table's
                 -- constraints and indexes are reached as its parts ('a'), and a check constraint
                 -- also through its columns ('n'): an object is foreign only if no path makes it
                 -- a part of something that is not (bool_and below).
                 SELECT m.classid, m.objid, false FROM members m
                 UNION
                 SELECT n.classid, n.objid, n.foreign_ FROM doomed x CROSS JOIN LATERAL (
                     -- what depends on a dropped object is dropped with it: normally (another
                     -- object) or automatically (a part of it)
                     SELECT d.classid, d.objid, d.deptype = 'n' OR x.foreign_ FROM pg_catalog.pg_depend d
                     WHERE d.refclassid = x.classid AND d.refobjid = x.objid AND d.deptype IN ('n', 'a')
                     UNION ALL
                     -- and so is what a dropped object is part of (a view's rewrite rule: the view)
                     SELECT d.refclassid, d.refobjid, x.foreign_ FROM pg_catalog.pg_depend d
                     WHERE d.classid = x.classid AND d.objid = x.objid AND d.deptype = 'i') n(classid, objid, foreign_)
             ), owned AS (
                 SELECT x.classid, x.objid, CASE x.classid
                     WHEN 'pg_catalog.pg_class'::regclass THEN (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = x.objid)
                     WHEN 'pg_catalog.pg_proc'::regclass THEN (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = x.objid)
                     WHEN 'pg_catalog.pg_type'::regclass THEN (SELECT t.typowner FROM pg_catalog.pg_type t WHERE t.oid = x.objid)
                     WHEN 'pg_catalog.pg_namespace'::regclass THEN (SELECT s.nspowner FROM pg_catalog.pg_namespace s WHERE s.oid = x.objid)
                     WHEN 'pg_catalog.pg_operator'::regclass THEN (SELECT o.oprowner FROM pg_catalog.pg_operator o WHERE o.oid = x.objid)
                     WHEN 'pg_catalog.pg_statistic_ext'::regclass THEN (SELECT e.stxowner FROM pg_catalog.pg_statistic_ext e WHERE e.oid = x.objid)
                     WHEN 'pg_catalog.pg_rewrite'::regclass THEN
                         (SELECT c.relowner FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class WHERE r.oid = x.objid)
                     WHEN 'pg_catalog.pg_attrdef'::regclass THEN
                         (SELECT c.relowner FROM pg_catalog.pg_attrdef a JOIN pg_catalog.pg_class c ON c.oid = a.adrelid WHERE a.oid = x.objid)
                     WHEN 'pg_catalog.pg_trigger'::regclass THEN
                         (SELECT c.relowner FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid WHERE g.oid = x.objid)
                     WHEN 'pg_catalog.pg_policy'::regclass THEN
                         (SELECT c.relowner FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid WHERE p.oid = x.objid)
                     WHEN 'pg_catalog.pg_constraint'::regclass THEN
                         (SELECT coalesce(c.relowner, t.typowner) FROM pg_catalog.pg_constraint k
                          LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid LEFT JOIN pg_catalog.pg_type t ON t.oid = k.contypid
                          WHERE k.oid = x.objid)
                 END AS owner
                 FROM (SELECT d.classid, d.objid FROM doomed d GROUP BY 1, 2 HAVING bool_and(d.foreign_)) x
                 WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.classid = x.classid AND m.objid = x.objid)
             )
             SELECT pg_catalog.pg_describe_object(o.classid, o.objid, 0) || coalesce(' (owner ' || pg_catalog.pg_get_userbyid(o.owner) || ')', '')
             FROM owned o
             WHERE o.owner IS NULL OR NOT pg_catalog.pg_has_role($2, o.owner, 'USAGE')
             ORDER BY 1 LIMIT 6",
            None,
            &[extension.into(), invoker.into()],
        )
        .expect("dependents")
        .into_iter()
        .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
        .collect()
    })
}

unsafe fn list_items(list: *mut pg_sys::List) -> Vec<*mut std::ffi::c_void> {
    if list.is_null() {
        return Vec::new();
    }
    (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value).collect()
}

// _drop_guard(): event trigger on ddl_command_start for DROP EXTENSION and DROP OWNED. A
// non-superuser who drops pg_segment (DROP EXTENSION, or DROP OWNED BY its owner) would drop
// the registry tables with every role's history, and with CASCADE every object that uses the
// extension. Refused while other roles own segmentation views or snapshots, or, with CASCADE,
// while objects of other roles depend on the extension; superusers may.
pg_fn!(fn pgseg_drop_guard(fc) {
    let context = (*fc).context;
    if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
        raise_code(PgSqlErrorCode::ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED, "_drop_guard() is an event trigger".into(), None);
    }
    let invoker = pg_sys::GetUserId();
    if pg_sys::superuser_arg(invoker) {
        return Datum::from(0usize);
    }
    let extension = pg_sys::get_extension_oid(c"pg_segment".as_ptr(), true);
    if extension == Oid::INVALID {
        return Datum::from(0usize);
    }
    let tree = (*(context as *mut pg_sys::EventTriggerData)).parsetree;
    let (dropped, cascade) = match (*tree).type_ {
        pg_sys::NodeTag::T_DropStmt => {
            let stmt = tree as *mut pg_sys::DropStmt;
            let ours = (*stmt).removeType == pg_sys::ObjectType::OBJECT_EXTENSION
                && list_items((*stmt).objects).into_iter().any(|n| {
                    let node = n as *mut pg_sys::Node;
                    (*node).type_ == pg_sys::NodeTag::T_String && CStr::from_ptr((*(n as *mut pg_sys::String)).sval).to_bytes() == b"pg_segment"
                });
            (ours, (*stmt).behavior == pg_sys::DropBehavior::DROP_CASCADE)
        }
        pg_sys::NodeTag::T_DropOwnedStmt => {
            let stmt = tree as *mut pg_sys::DropOwnedStmt;
            let owner: Option<Oid> = value("SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.oid = $1", &[extension.into()]);
            let ours = list_items((*stmt).roles)
                .into_iter()
                .any(|r| Some(pg_sys::get_rolespec_oid(r as *const pg_sys::RoleSpec, true)) == owner);
            (ours, (*stmt).behavior == pg_sys::DropBehavior::DROP_CASCADE)
        }
        _ => (false, false),
    };
    if !dropped {
        return Datum::from(0usize);
    }
    // a registry a superuser dropped by hand protects nothing more
    let registry: Option<Oid> = value("SELECT to_regclass('segment.segment_views')::oid", &[]);
    let hint = "A superuser may drop it. Otherwise those roles first drop their views (segment.drop_segment_view) and delete their snapshots (segment.delete_snapshots).";
    if let Some(owners) = registry.and_then(|_| other_owners(invoker)) {
        raise_code(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied to drop extension pg_segment: roles {owners} own segmentation views or snapshots, which it would destroy"),
            Some(hint.into()),
        );
    }
    if cascade {
        let objects = foreign_dependents(extension, invoker);
        if !objects.is_empty() {
            raise_code(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!(
                    "permission denied to drop extension pg_segment with CASCADE: it would drop objects of other roles: {}{}",
                    objects.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                    if objects.len() > 5 { ", ..." } else { "" }
                ),
                Some("A superuser may drop it. Otherwise the owners of those objects drop them first.".into()),
            );
        }
    }
    Datum::from(0usize)
});
