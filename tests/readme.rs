//! Executes every ```sql block of README.md, in order, in one fresh database (the test
//! cluster's pg_cron database): an example that
//! errors fails the test. Blocks that follow a line `<!-- expect-error -->` must fail instead.

use pg_segment_integration::connect;

fn readme() -> String {
    let root = std::env::var("PGSEG_ROOT").unwrap_or_else(|_| "..".into());
    std::fs::read_to_string(format!("{root}/README.md")).expect("README.md")
}

/// (line number, expect error, sql) of each ```sql block.
fn sql_blocks(text: &str) -> Vec<(usize, bool, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut expect_error = false;
    while let Some((i, line)) = lines.next() {
        if line.trim() == "<!-- expect-error -->" {
            expect_error = true;
            continue;
        }
        if line.trim() == "```sql" {
            let mut sql = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                sql.push_str(l);
                sql.push('\n');
            }
            out.push((i + 1, expect_error, sql));
        }
        if !line.trim().is_empty() {
            expect_error = false;
        }
    }
    out
}

#[test]
fn every_readme_sql_example_runs() {
    let blocks = sql_blocks(&readme());
    assert!(blocks.len() >= 5, "README should have SQL examples, found {}", blocks.len());
    // the database of cron.database_name on the test cluster (scripts/test.sh creates it), so
    // that the pg_cron recipe runs; it is never dropped (pg_cron's scheduler would stop), so
    // the test starts from a clean public schema and no pg_segment instead
    let mut c = connect("pg_segment_cron", "postgres");
    c.batch_execute("DROP EXTENSION IF EXISTS pg_segment CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public").unwrap();
    for (line, expect_error, sql) in blocks {
        // psql meta-commands are not SQL
        let sql: String = sql.lines().filter(|l| !l.trim_start().starts_with('\\')).collect::<Vec<_>>().join("\n");
        let res = c.simple_query(&sql);
        match (res, expect_error) {
            (Ok(_), false) | (Err(_), true) => {}
            (Err(e), false) => panic!("README.md line {line}: example failed: {e}\n{sql}"),
            (Ok(_), true) => panic!("README.md line {line}: example was expected to fail\n{sql}"),
        }
    }
}
