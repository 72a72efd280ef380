//! Executes every ```sql block of README.md, in order, in one fresh database (the test
//! cluster's pg_cron database): an example that
//! errors fails the test. Blocks that follow a line `<!-- expect-error -->` must fail instead;
//! blocks that follow `<!-- needs pg_cron -->` are skipped (and the skip counted) on a server
//! without pg_cron.

use pg_segment_integration::{connect, has_cron, root, skip};

fn readme() -> String {
    std::fs::read_to_string(format!("{}/README.md", root())).expect("README.md")
}

/// One ```sql block: its line, whether it must fail, whether it needs pg_cron, its text.
struct Block {
    line: usize,
    expect_error: bool,
    needs_cron: bool,
    sql: String,
}

fn sql_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let (mut expect_error, mut needs_cron) = (false, false);
    while let Some((i, line)) = lines.next() {
        match line.trim() {
            "<!-- expect-error -->" => {
                expect_error = true;
                continue;
            }
            "<!-- needs pg_cron -->" => {
                needs_cron = true;
                continue;
            }
            _ => {}
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
            out.push(Block { line: i + 1, expect_error, needs_cron, sql });
        }
        if !line.trim().is_empty() {
            (expect_error, needs_cron) = (false, false);
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
    let cron = has_cron();
    for Block { line, expect_error, needs_cron, sql } in blocks {
        if needs_cron && !cron {
            skip(&format!("readme: README.md line {line}"), false, "the example needs pg_cron, which this PostgreSQL has not");
            continue;
        }
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
