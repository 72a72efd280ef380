//! segment.report(): the page parses as HTML, every chart's numbers equal the SQL the page shows
//! for it (and that SQL agrees with the public functions and with figures computed here), nothing
//! is loaded from elsewhere, hostile labels and names stay text, small groups are suppressed,
//! predictions are drawn where the view has them, and a headless-Chromium screenshot shows every
//! chart.

use pg_segment_integration::TestDb;
use postgres::{Client, SimpleQueryMessage};
use scraper::{ElementRef, Html, Selector};
use std::collections::BTreeMap;

const AS_OF_1: &str = "2025-06-30 23:59:59+08";
const AS_OF_2: &str = "2025-12-31 23:59:59+08";

/// A query's rows as (column, text) pairs, by the simple protocol (the server's own text).
fn query(c: &mut Client, sql: &str) -> Vec<Vec<(String, Option<String>)>> {
    c.simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some(r.columns().iter().enumerate().map(|(i, col)| (col.name().to_string(), r.get(i).map(str::to_string))).collect())
            }
            _ => None,
        })
        .collect()
}

fn one(c: &mut Client, sql: &str) -> String {
    query(c, sql)[0][0].1.clone().unwrap_or_default()
}

/// A store of 3,000 sample customers segmented twice (as of mid-year and as of the year end),
/// with a snapshot each time.
fn store(tag: &str, view_options: &str) -> (TestDb, Client) {
    let db = TestDb::new(tag);
    let mut c = db.client();
    c.batch_execute(&format!(
        "SET client_min_messages = warning; SET TimeZone = 'Asia/Shanghai';
         CREATE EXTENSION pg_segment;
         CREATE TABLE orders AS SELECT * FROM segment.sample_orders(3000, 42);
         SELECT segment.create_segment_view('store', 'orders', 'customer_id', 'ordered_at', 'amount',
             '{{\"tz\": \"Asia/Shanghai\", \"refund_column\": \"is_refund\", \"as_of\": \"{AS_OF_1}\"}}'::jsonb || '{view_options}'::jsonb);
         SELECT segment.take_snapshot('store', '{AS_OF_1}');
         SELECT segment.alter_segment_view('store', '{{\"as_of\": \"{AS_OF_2}\"}}');
         SELECT segment.take_snapshot('store', '{AS_OF_2}');"
    ))
    .unwrap();
    (db, c)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn parse(html: &str) -> Html {
    let doc = Html::parse_document(html);
    assert!(doc.errors.is_empty(), "the page is not well-formed HTML: {:?}", &doc.errors[..doc.errors.len().min(5)]);
    doc
}

fn section<'a>(doc: &'a Html, id: &str) -> ElementRef<'a> {
    doc.select(&sel(&format!("section[data-chart=\"{id}\"]"))).next().unwrap_or_else(|| panic!("no chart {id}"))
}

/// The SQL a chart names, as the reader sees it (entities decoded).
fn sql_of(s: ElementRef) -> String {
    s.select(&sel("code.sql")).next().expect("the chart shows its SQL").text().collect()
}

/// The data table of a chart: column names and each row's cell texts.
fn table_of(s: ElementRef) -> (Vec<String>, Vec<Vec<String>>) {
    let t = s.select(&sel("table.data")).next().expect("data table");
    let cols = t.select(&sel("th")).map(|th| th.value().attr("data-col").unwrap().to_string()).collect();
    let rows = t.select(&sel("tbody tr")).map(|tr| tr.select(&sel("td")).map(|td| td.text().collect::<String>()).collect()).collect();
    (cols, rows)
}

/// The marks of a chart: their data-* attributes (names back to SQL columns).
fn marks_of(s: ElementRef) -> Vec<BTreeMap<String, String>> {
    s.select(&sel(".mark"))
        .map(|m| m.value().attrs().filter_map(|(k, v)| k.strip_prefix("data-").map(|k| (k.to_string(), v.to_string()))).collect())
        .collect()
}

fn same_instant(c: &mut Client, a: &str, b: &str) -> bool {
    one(c, &format!("SELECT ('{a}'::timestamptz = '{b}'::timestamptz)::text")) == "true"
}

/// Checks a chart against its SQL: the table holds exactly the SQL's rows (suppressed cells
/// excepted), every mark's numbers are one row's, and (unless some are suppressed) there is a
/// mark per row. Returns the SQL's rows.
fn check_chart(c: &mut Client, doc: &Html, id: &str, suppressed_word: &str) -> Vec<Vec<(String, Option<String>)>> {
    let s = section(doc, id);
    let sql = sql_of(s);
    let rows = query(c, &sql);
    let (cols, cells) = table_of(s);
    assert_eq!(cells.len(), rows.len(), "{id}: table rows against {sql}");
    let mut hidden_rows = 0;
    for (i, (row, shown)) in rows.iter().zip(&cells).enumerate() {
        assert_eq!(cols.len(), shown.len());
        let mut hidden = false;
        for (j, col) in cols.iter().enumerate() {
            let value = row.iter().find(|(k, _)| k == col).unwrap_or_else(|| panic!("{id}: column {col} not in {sql}")).1.clone();
            let cell = &shown[j];
            if cell == suppressed_word {
                hidden = true;
                continue;
            }
            match value {
                None => assert_eq!(cell, "—", "{id} row {i} {col}"),
                Some(v) if col == "as_of" => assert!(same_instant(c, &v, cell), "{id} {col}: {v} against {cell}"),
                Some(v) => assert_eq!(cell, &v, "{id} row {i} column {col}"),
            }
        }
        hidden_rows += hidden as usize;
    }
    let marks = marks_of(s);
    for m in &marks {
        let matches = rows.iter().any(|row| {
            m.iter().all(|(k, v)| {
                k == "col" || k == "value" || k == "band" || row.iter().any(|(col, val)| col == k && val.as_deref().unwrap_or("") == v)
            })
        });
        assert!(matches || id == "kpis" || id == "p_alive", "{id}: mark {m:?} is no row of {sql}");
    }
    if hidden_rows == 0 && !["kpis", "p_alive"].contains(&id) {
        assert_eq!(marks.len(), rows.len(), "{id}: one mark per row of {sql}");
    }
    rows
}

fn cell<'r>(row: &'r [(String, Option<String>)], col: &str) -> Option<&'r str> {
    row.iter().find(|(k, _)| k == col).and_then(|(_, v)| v.as_deref())
}

fn num(row: &[(String, Option<String>)], col: &str) -> f64 {
    row.iter()
        .find(|(k, _)| k == col)
        .and_then(|(_, v)| v.as_ref())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{col} in {row:?}"))
}

#[test]
fn every_chart_equals_the_sql_it_shows() {
    let (_db, mut c) = store("report_sql", "{\"lang\": \"en\"}");
    let html = one(&mut c, "SELECT segment.report('store')");
    let doc = parse(&html);
    assert_eq!(doc.select(&sel("html")).next().unwrap().value().attr("lang"), Some("en"), "the view's language by default");
    let kpis = check_chart(&mut c, &doc, "kpis", "suppressed");
    for id in ["rf_grid", "segments", "tiers", "lorenz", "lifecycle", "migration"] {
        check_chart(&mut c, &doc, id, "suppressed");
    }
    // the KPI cards show the KPI query's numbers (regrouped only)
    for m in marks_of(section(&doc, "kpis")) {
        let col = &m["col"];
        assert_eq!(m["value"], kpis[0].iter().find(|(k, _)| k == col).unwrap().1.clone().unwrap(), "{col}");
    }
    // the SQL is the public functions' and agrees with independent figures
    let segments = sql_of(section(&doc, "segments"));
    assert_eq!(segments, "SELECT * FROM segment.segment_kpis('public.store', 'segment')");
    assert_eq!(sql_of(section(&doc, "tiers")), "SELECT * FROM segment.segment_kpis('public.store', 'tier')");
    let migration = sql_of(section(&doc, "migration"));
    assert_eq!(migration, "SELECT * FROM segment.tier_migration('public.store', '2025-06-30 23:59:59+08:00', '2025-12-31 23:59:59+08:00')");
    assert_eq!(
        query(&mut c, &migration),
        query(&mut c, &format!("SELECT * FROM segment.tier_migration('store', '{AS_OF_1}', '{AS_OF_2}')")),
        "the last two snapshots by default"
    );
    let total = one(&mut c, "SELECT count(*) FROM store");
    assert_eq!(kpis[0][0].1.as_deref(), Some(total.as_str()));
    let seg_sum: f64 = query(&mut c, &segments).iter().map(|r| num(r, "customers")).sum();
    assert_eq!(seg_sum, total.parse::<f64>().unwrap());
    let grid_sum: f64 = query(&mut c, &sql_of(section(&doc, "rf_grid"))).iter().map(|r| num(r, "customers")).sum();
    assert_eq!(grid_sum.to_string(), one(&mut c, "SELECT count(*) FROM store WHERE r IS NOT NULL"));
    // Gini and top-20% share computed here from every customer's spend
    let mut spend: Vec<f64> = query(&mut c, "SELECT monetary FROM store").iter().map(|r| num(r, "monetary")).collect();
    spend.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = spend.len() as f64;
    let sum: f64 = spend.iter().sum();
    let gini = spend.iter().enumerate().map(|(i, x)| (2.0 * (i as f64 + 1.0) - n - 1.0) * x).sum::<f64>() / (n * sum);
    let top = (0.2 * n).ceil() as usize;
    let top20 = spend[spend.len() - top..].iter().sum::<f64>() / sum;
    let lorenz = query(&mut c, &sql_of(section(&doc, "lorenz")));
    assert!((num(&lorenz[0], "gini") - gini).abs() < 6e-5, "gini {} against {gini}", num(&lorenz[0], "gini"));
    assert!((num(&lorenz[0], "top20_revenue_share") - top20).abs() < 6e-5, "top 20% {top20}");
    assert_eq!(lorenz.len(), 100, "a point every 1% of 3,000 customers");
    let figures = doc.select(&sel(".lorenz-figures")).next().unwrap();
    assert_eq!(figures.value().attr("data-gini"), lorenz[0].iter().find(|(k, _)| k == "gini").unwrap().1.as_deref());
    // bars are drawn to scale: width / share is one constant across the segments
    let s = section(&doc, "segments");
    let ratios: Vec<f64> = s
        .select(&sel("rect.mark"))
        .map(|r| {
            r.value().attr("width").unwrap().parse::<f64>().unwrap()
                / r.value().attr("data-customer_share").unwrap().parse::<f64>().unwrap()
        })
        .collect();
    assert!(ratios.len() >= 8);
    let (lo, hi) = ratios.iter().fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo < 1.05, "bar widths out of scale: {ratios:?}");
    // no predictions in this view: no prediction charts
    assert!(doc.select(&sel("section[data-chart=\"p_alive\"]")).next().is_none());
}

#[test]
fn the_page_loads_nothing_from_elsewhere() {
    let (_db, mut c) = store("report_offline", "{}");
    let html = one(&mut c, "SELECT segment.report('store')");
    let lower = html.to_lowercase();
    for bad in ["http:", "https:", "//", "src=", "href=", "url(", "@import", "@font-face", "javascript:"] {
        assert!(!lower.contains(bad), "{bad} in the page");
    }
    let doc = parse(&html);
    for tag in ["script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignObject", "a", "form", "base"] {
        assert!(doc.select(&sel(tag)).next().is_none(), "<{tag}> in the page");
    }
    for e in doc.select(&sel("*")) {
        for (k, v) in e.value().attrs() {
            assert!(!k.starts_with("on") && k != "src" && k != "href" && k != "xlink:href", "{k}={v}");
        }
    }
    assert_eq!(doc.select(&sel("html")).next().unwrap().value().attr("lang"), Some("zh-CN"), "中文 by default");
    assert!(html.contains("客户分群报告") && html.contains("Noto Sans CJK SC"));
}

#[test]
fn hostile_labels_and_names_stay_text() {
    let evil = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(2)>",
        "</style></svg><svg onload=alert(3)>",
        "' onmouseover='alert(4)",
        "&lt;b&gt; &amp; ]]> <!-- -->",
    ];
    let rules: Vec<String> = evil
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.replace('\\', "\\\\").replace('"', "\\\"");
            format!("{{\"label\": \"{l}\", \"code\": \"c{i}\", \"r\": [{}, {}]}}", i + 1, i + 1)
        })
        .collect();
    let scheme = format!("[{}, {{\"label\": \"rest\"}}]", rules.join(", "));
    let tiers = "[{\"label\": \"<b>top</b>\", \"share\": 20}, {\"label\": \"</td></tr></table><script>x()</script>\", \"share\": 80}]";
    let db = TestDb::new("report_hostile");
    let mut c = db.client();
    c.batch_execute("SET client_min_messages = warning; CREATE EXTENSION pg_segment; CREATE TABLE orders AS SELECT * FROM segment.sample_orders(800, 5);").unwrap();
    c.batch_execute(&format!(
        "CREATE SCHEMA \"s</code><script>alert(5)</script>\";
         SELECT segment.create_segment_view('\"s</code><script>alert(5)</script>\".\"v\"\"<i>\"', 'orders', 'customer_id', 'ordered_at', 'amount',
             $${{\"as_of\": \"2026-01-01 00:00+00\", \"tz\": \"UTC\", \"scheme\": {scheme}, \"tiers\": {tiers}}}$$);"
    ))
    .unwrap();
    let name = "'\"s</code><script>alert(5)</script>\".\"v\"\"<i>\"'";
    let html = one(
        &mut c,
        &format!("SELECT segment.report({name}, $${{\"title\": \"<h1>t</h1><script>alert(6)</script>\", \"lang\": \"en\"}}$$)"),
    );
    let doc = parse(&html);
    for tag in ["script", "img", "i"] {
        assert!(doc.select(&sel(tag)).next().is_none(), "<{tag}> injected");
    }
    assert!(doc.select(&sel("b")).all(|b| b.text().collect::<String>() != "top"), "<b> injected");
    assert_eq!(doc.select(&sel("h1")).count(), 1);
    assert_eq!(doc.select(&sel("style")).count(), 1);
    assert_eq!(doc.select(&sel("svg")).count(), doc.select(&sel("svg.chart")).count(), "every svg is a chart of ours");
    for e in doc.select(&sel("*")) {
        for (k, _) in e.value().attrs() {
            assert!(!k.starts_with("on"), "attribute {k} injected on <{}>", e.value().name());
        }
    }
    // each label reads back as itself, in the table and in the marks
    let seg = section(&doc, "segments");
    let (_, cells) = table_of(seg);
    let labels: Vec<&str> = cells.iter().map(|r| r[0].as_str()).collect();
    let marks: Vec<String> = marks_of(seg).into_iter().map(|m| m["label"].clone()).collect();
    for l in evil {
        assert!(labels.contains(&l), "{l} not in {labels:?}");
        assert!(marks.iter().any(|m| m == l), "{l} not in the marks");
    }
    let (_, tier_cells) = table_of(section(&doc, "tiers"));
    assert!(tier_cells.iter().any(|r| r[0] == "</td></tr></table><script>x()</script>"));
    assert_eq!(doc.select(&sel("title")).next().unwrap().text().collect::<String>(), "<h1>t</h1><script>alert(6)</script>");
    // the SQL shown names the view so that it runs as it is
    let sql = sql_of(section(&doc, "segments"));
    assert_eq!(query(&mut c, &sql).len(), cells.len(), "{sql}");
    check_chart(&mut c, &doc, "rf_grid", "suppressed");
}

#[test]
fn small_groups_are_suppressed() {
    let (_db, mut c) = store("report_small", "{\"lang\": \"en\"}");
    let k = 60.0;
    let html = one(&mut c, "SELECT segment.report('store', '{\"min_group_size\": 60}')");
    let doc = parse(&html);
    for id in ["rf_grid", "segments", "tiers", "lifecycle", "migration"] {
        let rows = check_chart(&mut c, &doc, id, "suppressed");
        let s = section(&doc, id);
        // segments and tiers come from segment_kpis(view, by, min_group_size), which leaves the
        // customers of the groups it suppresses NULL; the other charts' SQL counts every group
        let small = rows.iter().filter(|r| cell(r, "customers").is_none_or(|n| n.parse::<f64>().unwrap() < k)).count();
        if ["segments", "tiers"].contains(&id) {
            assert!(sql_of(s).ends_with(", 60)"), "{id}: segment_kpis suppresses: {}", sql_of(s));
        }
        let (_, cells) = table_of(s);
        let hidden = cells.iter().filter(|r| r.iter().any(|c| c == "suppressed")).count();
        assert!(hidden >= small, "{id}: {small} small groups, {hidden} hidden");
        assert!(hidden != 1 || rows.len() == 1, "{id}: a lone hidden group can be recovered from the total");
        if !["segments", "tiers"].contains(&id) {
            // segment.suppress_group's rule: the hidden groups hold min_group_size together
            let together: f64 =
                rows.iter().zip(&cells).filter(|(_, c)| c.iter().any(|x| x == "suppressed")).map(|(r, _)| num(r, "customers")).sum();
            assert!(hidden == 0 || together >= k, "{id}: the hidden groups hold {together} customers");
        }
        for m in marks_of(s) {
            if let Some(n) = m.get("customers") {
                assert!(n.parse::<f64>().unwrap() >= k, "{id}: a group of {n} is drawn");
            }
        }
        assert!(small > 0 || id == "tiers", "{id}: the fixture should have small groups");
    }
    let lorenz = query(&mut c, &sql_of(section(&doc, "lorenz")));
    let steps: Vec<f64> = lorenz.iter().map(|r| num(r, "customers")).collect();
    assert!(steps.windows(2).all(|w| w[1] - w[0] >= k), "Lorenz points at least k customers apart");
    assert!(html.contains("Groups of fewer than 60 customers are suppressed"));
    // errors name the option
    for (opts, code) in [
        ("{\"min_group_size\": -1}", "22023"),
        ("{\"min_group_size\": 2.5}", "22023"),
        ("{\"min_group_size\": \"5\"}", "22023"),
        ("{\"lang\": \"fr\"}", "22023"),
        ("{\"lang\": 5}", "22023"),
        ("{\"colour\": \"red\"}", "22023"),
        ("{\"from\": \"2025-06-30\"}", "22023"),
        ("{\"from\": \"soon\", \"to\": \"later\"}", "22023"),
        ("{\"from\": \"2000-01-01\", \"to\": \"2025-12-31\"}", "22023"), // no snapshot then (tier_migration's error)
        ("{\"title\": 7}", "22023"),
        ("[1]", "22023"),
    ] {
        let e = c.simple_query(&format!("SELECT segment.report('store', '{opts}')")).expect_err(opts);
        assert_eq!(e.code().map(|s| s.code()), Some(code), "{opts}: {e:?}");
    }
    let e = c.simple_query("SELECT segment.report('nope')").unwrap_err();
    assert_eq!(e.code().map(|s| s.code()), Some("42P01"));
    let e = c.simple_query("SELECT segment.report(NULL)").unwrap_err();
    assert_eq!(e.code().map(|s| s.code()), Some("22004"));
    assert!(c.simple_query("SELECT 1").is_ok(), "the session lives on");
}

/// The store with a stand-in for issue 15's prediction columns: the segmentation view's
/// materialized view replaced by one with p_alive and predicted_clv (BG/NBD and Gamma-Gamma
/// fitted on the same orders).
fn with_predictions(c: &mut Client) {
    c.batch_execute(&format!(
        "ALTER MATERIALIZED VIEW store RENAME TO store_base;
         CREATE TABLE btyd AS SELECT customer_id, (segment.btyd(segment.rfm_agg(ordered_at, amount, is_refund), '{AS_OF_2}', 'days')).*
             FROM orders GROUP BY customer_id;
         CREATE TABLE model AS SELECT segment.bgnbd_fit(frequency, recency, t) AS bg, segment.gamma_gamma_fit(frequency, monetary_value) AS gg FROM btyd;
         CREATE MATERIALIZED VIEW store AS
             SELECT b.*, segment.bgnbd_p_alive(m.bg, y.frequency, y.recency, y.t) AS p_alive,
                    segment.clv(m.bg, m.gg, y.frequency, y.recency, y.t, y.monetary_value, 12, 0.01, 'days') AS predicted_clv
             FROM store_base b LEFT JOIN btyd y USING (customer_id) CROSS JOIN model m;"
    ))
    .unwrap();
}

#[test]
fn predictions_are_drawn_where_the_view_has_them() {
    let (_db, mut c) = store("report_predict", "{\"lang\": \"en\"}");
    with_predictions(&mut c);
    let html = one(&mut c, "SELECT segment.report('store')");
    let doc = parse(&html);
    let p = check_chart(&mut c, &doc, "p_alive", "suppressed");
    let bands = ["p_alive_0_20", "p_alive_20_40", "p_alive_40_60", "p_alive_60_80", "p_alive_80_100"];
    for r in &p {
        assert_eq!(bands.iter().map(|b| num(r, b)).sum::<f64>(), num(r, "customers"), "bands cover every customer: {r:?}");
    }
    // each drawn band is one cell of its segment's row
    for m in marks_of(section(&doc, "p_alive")) {
        let row = p.iter().find(|r| r.iter().any(|(k, v)| k == "segment" && v.as_deref() == Some(m["segment"].as_str()))).unwrap();
        assert_eq!(row.iter().find(|(k, _)| *k == m["band"]).unwrap().1.as_deref(), Some(m["customers"].as_str()));
    }
    let clv = check_chart(&mut c, &doc, "clv", "suppressed");
    for r in &clv {
        let q: Vec<f64> = ["p10", "p25", "median", "p75", "p90"].iter().map(|c| num(r, c)).collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
    }
    assert_eq!(
        p.iter().map(|r| num(r, "customers")).sum::<f64>().to_string(),
        one(&mut c, "SELECT count(*) FROM store WHERE p_alive IS NOT NULL")
    );
    // churn_probability is read as 1 - P(alive)
    c.batch_execute(
        "DROP MATERIALIZED VIEW store; CREATE MATERIALIZED VIEW store AS SELECT b.*, 1 - segment.bgnbd_p_alive(m.bg, y.frequency, y.recency, y.t) AS churn_probability
         FROM store_base b LEFT JOIN btyd y USING (customer_id) CROSS JOIN model m;",
    )
    .unwrap();
    let doc = parse(&one(&mut c, "SELECT segment.report('store')"));
    let again = check_chart(&mut c, &doc, "p_alive", "suppressed");
    assert_eq!(again.len(), p.len());
    assert!(doc.select(&sel("section[data-chart=\"clv\"]")).next().is_none());
}

#[test]
fn without_two_snapshots_the_page_says_how_to_get_the_migration() {
    let db = TestDb::new("report_nosnap");
    let mut c = db.client();
    c.batch_execute(
        "SET client_min_messages = warning; CREATE EXTENSION pg_segment; CREATE TABLE orders AS SELECT * FROM segment.sample_orders(300, 3);
         SELECT segment.create_segment_view('v', 'orders', 'customer_id', 'ordered_at', 'amount', '{\"as_of\": \"2026-01-01 00:00+00\", \"tz\": \"UTC\"}');
         SELECT segment.take_snapshot('v', '2026-01-01');",
    )
    .unwrap();
    let doc = parse(&one(&mut c, "SELECT segment.report('v', '{\"lang\": \"en\"}')"));
    let m = section(&doc, "migration");
    assert_eq!(m.value().attr("data-missing"), Some("true"));
    assert!(m.text().collect::<String>().contains("segment.take_snapshot(view_name)"));
    // with given instants, the same snapshot twice is a valid (diagonal) comparison
    let doc = parse(&one(&mut c, "SELECT segment.report('v', '{\"lang\": \"en\", \"from\": \"2026-01-02\", \"to\": \"2026-01-03\"}')"));
    let rows = check_chart(&mut c, &doc, "migration", "suppressed");
    assert!(rows.iter().all(|r| r[0].1 == r[1].1), "one snapshot against itself: {rows:?}");
}

/// The RGB pixels of a PNG.
fn decode_png(path: &std::path::Path) -> (usize, usize, Vec<[u8; 3]>) {
    let mut dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px =
        buf[..info.buffer_size()].chunks(channels).map(|p| if channels >= 3 { [p[0], p[1], p[2]] } else { [p[0], p[0], p[0]] }).collect();
    (info.width as usize, info.height as usize, px)
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

#[test]
fn a_headless_chromium_screenshot_shows_every_chart() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is not installed: scripts/setup.sh installs the Debian package chromium");
    let fonts = std::process::Command::new("fc-list").args([":lang=zh", "family"]).output().expect("fc-list");
    assert!(!fonts.stdout.is_empty(), "no CJK font: scripts/setup.sh installs fonts-noto-cjk");
    let (_db, mut c) = store("report_png", "{}");
    with_predictions(&mut c);
    let html = one(&mut c, "SELECT segment.report('store')");
    let dir = std::env::temp_dir().join(format!("pg_segment_report_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("profile")).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let png = dir.join("report.png");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,4000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(png.exists(), "chromium wrote no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let (w, h, px) = decode_png(&png);
    let distinct: std::collections::HashSet<[u8; 3]> = px.iter().copied().collect();
    assert!(distinct.len() > 200, "the screenshot is blank ({} colours)", distinct.len());
    // each chart's card has its own accent colour on its left edge (the page's CSS says which):
    // the region right of it must hold a drawn chart, i.e. several saturated colours
    let doc = parse(&html);
    let css: String = doc.select(&sel("style")).next().unwrap().text().collect();
    let chromatic = |p: &[u8; 3]| p.iter().max().unwrap() - p.iter().min().unwrap() > 40;
    for id in ["kpis", "rf_grid", "lifecycle", "tiers", "lorenz", "segments", "migration", "p_alive", "clv"] {
        let accent = hex(css.split(&format!(".c-{id} {{ border-left-color: ")).nth(1).unwrap().split(';').next().unwrap());
        let at: Vec<(usize, usize)> = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| px[y * w + x] == accent).collect();
        assert!(!at.is_empty(), "{id}: its card is not in the screenshot");
        let x0 = at.iter().map(|p| p.0).min().unwrap();
        let x1 = at.iter().map(|p| p.0).max().unwrap();
        let (y0, y1) = (at.iter().map(|p| p.1).min().unwrap(), at.iter().map(|p| p.1).max().unwrap());
        assert!(x1 - x0 <= 8 && y1 - y0 >= 60, "{id}: accent bar {x0}..{x1} x {y0}..{y1}");
        let mut colours = std::collections::HashSet::new();
        let mut count = 0;
        for y in y0..=y1 {
            for x in (x1 + 1)..(x1 + 540).min(w) {
                let p = px[y * w + x];
                if chromatic(&p) && p != accent {
                    colours.insert(p);
                    count += 1;
                }
            }
        }
        assert!(colours.len() >= 3 && count >= 400, "{id}: no chart drawn ({} colours, {count} pixels)", colours.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
