//! The segment report: one self-contained HTML page (inline SVG and CSS, no script, nothing
//! loaded from anywhere) drawn from the results of the SQL that `segment.report()` runs.
//!
//! `segment._report_data` (sql/report.sql) runs each chart's query and hands this module one
//! document: for every section the SQL text and its rows, each value as the text PostgreSQL
//! printed. [`render`] turns that document into the page. Each chart shows its SQL beside it
//! (the reader can run it as it is) and a table of exactly the rows it drew; every mark of a
//! chart carries its numbers in `data-*` attributes (see [`svg`]).
//!
//! Small groups: with `min_group_size` k > 1 the groups `segment.suppress_group` would suppress
//! (fewer than k customers, and the next smallest until the suppressed hold k together) are shown
//! as suppressed ([`hidden`]); the segment and tier rows come suppressed already from
//! `segment_kpis(view, by, k)` (a `suppressed` column, NULL figures). Lorenz points are at least
//! k customers apart.

pub mod fmt;
pub mod lorenz;
pub mod svg;

use self::fmt::{clip, esc, fit, grouped, percent, shown, PageLang, MAX_LABEL_CHARS};
use self::svg::*;
use super::cancel::Ticker;
use super::config::Obj;
use super::labels::{Cadence, Lifecycle};
use super::privacy::Suppression;
use super::{Error, Result};
use serde_json::Value;

/// The most rows one section may hand to the page: a chart of more groups is unreadable, and the
/// bound keeps the page (and the memory it takes) small whatever the view holds.
pub const MAX_ROWS: usize = 1000;

/// The sections, in page order: (id, whether the page needs it).
pub const SECTIONS: [(&str, bool); 9] = [
    ("kpis", true),
    ("rf_grid", true),
    ("segments", true),
    ("tiers", true),
    ("lorenz", true),
    ("lifecycle", true),
    ("migration", false),
    ("p_alive", false),
    ("clv", false),
];

/// One result row: column name and the SQL's text of its value (None for NULL).
#[derive(Debug, Clone, Default)]
pub struct Row(Vec<(String, Option<String>)>);

impl Row {
    pub fn get(&self, col: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == col).and_then(|(_, v)| v.as_deref())
    }

    /// The value as a number for geometry (None for NULL or text that is not a number).
    pub fn num(&self, col: &str) -> Option<f64> {
        self.get(col).and_then(|v| v.parse::<f64>().ok()).filter(|x| x.is_finite())
    }

    /// `data-*` attributes of `cols`, named by the column (underscores as dashes).
    fn data(&self, cols: &[&'static str]) -> Data {
        cols.iter().map(|c| (*c, self.text(c))).collect()
    }

    /// The value's text for an attribute ("" for NULL), cut as labels are.
    fn text(&self, col: &str) -> String {
        clip(self.get(col).unwrap_or(""), MAX_LABEL_CHARS)
    }
}

/// A section's SQL and the rows it returned.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub sql: String,
    pub rows: Vec<Row>,
}

/// The document `segment._report_data` builds.
#[derive(Debug)]
pub struct Doc {
    pub lang: PageLang,
    pub title: Option<String>,
    pub view: String,
    pub generated_at: String,
    pub version: String,
    pub min_group_size: i64,
    pub bins: usize,
    pub from: Option<String>,
    pub to: Option<String>,
    pub sections: Vec<(String, Section)>,
}

fn text_of(v: Value, what: &str) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(Error::invalid(format!("report document: {what} must be a string, got {other}"))),
    }
}

impl Doc {
    /// Reads the document (JSON text); a malformed one is a 22023 error naming the key.
    pub fn parse(text: &str) -> Result<Doc> {
        let mut o = Obj::parse("report document", text)?;
        let lang = PageLang::parse(&o.string("lang", "zh")?)?;
        let title = match o.take("title") {
            None => None,
            Some(Value::String(s)) => Some(clip(&s, MAX_LABEL_CHARS)),
            Some(v) => return Err(Error::invalid(format!("report option \"title\" must be a string, got {v}"))),
        };
        let view = o.string("view", "")?;
        let generated_at = o.string("generated_at", "")?;
        let version = o.string("version", "")?;
        let min_group_size = o.i64("min_group_size", 0)?;
        let bins = o.i64("bins", 5)?.clamp(1, 10) as usize;
        let from = text_of(o.take("from").unwrap_or(Value::Null), "from")?;
        let to = text_of(o.take("to").unwrap_or(Value::Null), "to")?;
        let mut sections = Vec::new();
        let mut given = match o.take("sections") {
            Some(Value::Object(m)) => m,
            Some(v) => return Err(Error::invalid(format!("report document: \"sections\" must be an object, got {v}"))),
            None => Default::default(),
        };
        o.finish()?;
        for (id, needed) in SECTIONS {
            let Some(s) = given.remove(id) else {
                if needed {
                    return Err(Error::invalid(format!("report document: section \"{id}\" is missing")));
                }
                continue;
            };
            sections.push((id.to_string(), Self::section(id, s)?));
        }
        if let Some(k) = given.keys().next() {
            return Err(Error::invalid(format!("report document: unknown section \"{k}\"")));
        }
        Ok(Doc { lang, title, view, generated_at, version, min_group_size, bins, from, to, sections })
    }

    fn section(id: &str, v: Value) -> Result<Section> {
        let what = format!("report document: section \"{id}\"");
        let mut o = Obj::from_value(&what, v)?;
        let sql = o.string("sql", "")?;
        let rows = match o.take("rows") {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                if a.len() > MAX_ROWS {
                    return Err(Error::limit(format!(
                        "report: the {id} chart would have {} groups, more than the {MAX_ROWS} a report draws",
                        a.len()
                    ))
                    .with_hint("a rule set with that many segments is better read with segment.segment_kpis()"));
                }
                let mut rows = Vec::with_capacity(a.len());
                for r in a {
                    let Value::Object(m) = r else { return Err(Error::invalid(format!("{what}: every row must be an object"))) };
                    let cells = m.into_iter().map(|(k, v)| Ok((k.clone(), text_of(v, &k)?))).collect::<Result<Vec<_>>>()?;
                    rows.push(Row(cells));
                }
                rows
            }
            Some(v) => return Err(Error::invalid(format!("{what}: \"rows\" must be an array, got {v}"))),
        };
        o.finish()?;
        Ok(Section { sql, rows })
    }

    fn get(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|(k, _)| k == id).map(|(_, s)| s)
    }

    fn w(&self, key: &str) -> &'static str {
        self.lang.word(key)
    }
}

/// Which groups to hide: the rule of `segment.suppress_group` and `segment_kpis(view, by,
/// min_group_size)` ([`Suppression`]): every group of fewer than `k` customers (but more than
/// none), and the next smallest until the hidden groups hold `k` customers together, so that no
/// hidden group can be recovered from a total shown elsewhere. A count the SQL left NULL (a row it
/// suppressed itself) counts as no customer here; `k` of 1 or less hides nothing.
pub fn hidden(counts: &[Option<f64>], k: i64) -> Vec<bool> {
    let sizes: Vec<i64> = counts.iter().map(|c| c.filter(|c| *c > 0.0).map_or(0, |c| c.round() as i64)).collect();
    match Suppression::new(sizes.clone(), k.max(1)) {
        Ok(rule) if k > 1 => sizes.iter().map(|&c| rule.suppressed(c).unwrap_or(true)).collect(),
        _ => vec![false; counts.len()],
    }
}

/// The page.
pub fn render(doc_text: &str) -> Result<String> {
    let doc = Doc::parse(doc_text)?;
    Ok(Page::new(&doc).html())
}

struct Page<'a> {
    doc: &'a Doc,
    out: String,
    tick: Ticker,
}

/// Card accent colours, one per section in [`SECTIONS`] order. Each card's left border has its
/// colour, used nowhere else on the page, so a screenshot can be cut into chart regions.
pub const ACCENTS: [&str; 9] = ["#0b5394", "#b45f06", "#38761d", "#741b47", "#990000", "#134f5c", "#7f6000", "#20124d", "#4c1130"];

const CSS: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #333333;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
main { width: 1180px; margin: 0 auto; padding: 20px 10px 30px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header p { margin: 0; color: #666666; font-size: 13px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-top: 16px; }
.card { background: #ffffff; border-left: 6px solid #999999; border-radius: 4px; padding: 12px 14px 10px; box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
.card.wide { grid-column: 1 / -1; }
.card h2 { font-size: 16px; margin: 0 0 4px; }
.note { font-size: 12px; color: #666666; margin: 0 0 8px; }
.kpi-row { display: flex; gap: 12px; flex-wrap: wrap; }
.kpi { flex: 1 1 150px; background: #f8f9fb; border-radius: 4px; padding: 8px 10px; }
.kpi .k { font-size: 12px; color: #666666; }
.kpi .v { font-size: 22px; font-weight: 700; margin-top: 2px; color: #1f4e79; }
.pair { display: flex; gap: 18px; align-items: flex-start; flex-wrap: wrap; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #e3e3e3; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
table.matrix td.diag { font-weight: 700; background: #f2f6fb; }
td.hidden, td.null { color: #999999; }
details { margin-top: 6px; font-size: 12px; }
summary { cursor: pointer; color: #555555; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; font-size: 11px; }
footer { margin-top: 18px; font-size: 12px; color: #777777; }
"#;

impl<'a> Page<'a> {
    fn new(doc: &'a Doc) -> Page<'a> {
        Page { doc, out: String::with_capacity(256 << 10), tick: Ticker::new() }
    }

    fn w(&self, key: &str) -> &'static str {
        self.doc.w(key)
    }

    fn label_or(&self, v: Option<&str>, none: &str) -> String {
        clip(v.unwrap_or(self.w(none)), MAX_LABEL_CHARS)
    }

    fn html(mut self) -> String {
        let d = self.doc;
        let title = d.title.clone().unwrap_or_else(|| self.w("title").to_string());
        let as_of =
            d.get("kpis").and_then(|s| s.rows.first()).and_then(|r| r.get("as_of")).map(|t| t.replace('T', " ")).unwrap_or_default();
        self.out.push_str(&format!(
            "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"generator\" content=\"pg_segment {}\"><title>{}</title><style>{CSS}",
            d.lang.tag(),
            esc(&d.version),
            esc(&title)
        ));
        for (i, (id, _)) in SECTIONS.iter().enumerate() {
            self.out.push_str(&format!(".c-{id} {{ border-left-color: {}; }}\n", ACCENTS[i]));
        }
        self.out.push_str("</style></head><body><main>");
        self.out.push_str(&format!(
            "<header><h1>{}</h1><p>{} <b>{}</b> · {} <b>{}</b> · {} {}</p></header>",
            esc(&title),
            self.w("view"),
            esc(&d.view),
            self.w("as_of"),
            esc(&as_of),
            self.w("generated"),
            esc(&d.generated_at.replace('T', " "))
        ));
        if d.min_group_size > 1 {
            self.out.push_str(&format!(
                "<p class=\"note\">{}</p>",
                esc(&self.w("suppressed_note").replace("{k}", &d.min_group_size.to_string()))
            ));
        }
        self.kpis();
        self.out.push_str("<div class=\"grid\">");
        self.rf_grid();
        self.lifecycle();
        self.shares("tiers", "tiers_title", "no_order");
        self.lorenz();
        self.shares("segments", "segments_title", "no_order");
        self.migration();
        self.p_alive();
        self.clv();
        self.out.push_str("</div>");
        self.out.push_str(&format!("<footer>{}</footer></main></body></html>\n", esc(&self.w("footer").replace("{version}", &d.version))));
        self.out
    }

    /// A card: heading, note, figure, and the SQL with the rows as a table.
    #[allow(clippy::too_many_arguments)]
    fn card(&mut self, id: &str, wide: bool, title: &str, note: &str, figure: &str, cols: &[&str], labels: usize, rows: &[(Row, bool)]) {
        self.out.push_str(&format!(
            "<section class=\"card c-{id}{}\" id=\"{id}\" data-chart=\"{id}\"><h2>{}</h2>",
            if wide { " wide" } else { "" },
            esc(title)
        ));
        if !note.is_empty() {
            self.out.push_str(&format!("<p class=\"note\">{}</p>", esc(note)));
        }
        self.out.push_str(figure);
        let sql = self.doc.get(id).map(|s| s.sql.clone()).unwrap_or_default();
        self.out.push_str(&format!(
            "<details><summary>{}</summary><p class=\"note\">{}</p><pre><code class=\"sql\">{}</code></pre>",
            self.w("sql_and_data"),
            self.w("source_sql"),
            esc(&sql)
        ));
        self.table(cols, labels, rows);
        self.out.push_str("</details></section>");
    }

    /// The rows as the SQL returned them (NULL as "—"); a suppressed row shows its first
    /// `labels` columns (what names the group) and hides the others.
    fn table(&mut self, cols: &[&str], labels: usize, rows: &[(Row, bool)]) {
        self.out.push_str("<table class=\"data\"><thead><tr>");
        for c in cols {
            self.out.push_str(&format!("<th data-col=\"{}\">{}</th>", esc(c), esc(c)));
        }
        self.out.push_str("</tr></thead><tbody>");
        for (row, hide) in rows {
            self.tick.tick(cols.len() as u64 * 64);
            self.out.push_str("<tr>");
            for (j, c) in cols.iter().enumerate() {
                match row.get(c) {
                    _ if *hide && j >= labels => self.out.push_str(&format!("<td class=\"hidden\">{}</td>", self.w("suppressed"))),
                    Some(v) => self.out.push_str(&format!("<td>{}</td>", esc(&clip(v, MAX_LABEL_CHARS)))),
                    None => self.out.push_str("<td class=\"null\">—</td>"),
                }
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</tbody></table>");
    }

    fn rows(&self, id: &str) -> Vec<Row> {
        self.doc.get(id).map(|s| s.rows.clone()).unwrap_or_default()
    }

    /// Rows paired with whether each is suppressed: by the SQL (a `suppressed` column, as
    /// `segment_kpis(view, by, min_group_size)` returns) or by the same rule on its `col` count.
    fn hide_by(&self, rows: Vec<Row>, col: &str) -> Vec<(Row, bool)> {
        let h = hidden(&rows.iter().map(|r| r.num(col)).collect::<Vec<_>>(), self.doc.min_group_size);
        rows.into_iter()
            .zip(h)
            .map(|(r, h)| {
                let by_sql = matches!(r.get("suppressed"), Some("true"));
                (r, h || by_sql)
            })
            .collect()
    }

    fn kpis(&mut self) {
        let rows = self.rows("kpis");
        let k = self.doc.min_group_size;
        let hide = rows.first().and_then(|r| r.num("customers")).is_some_and(|c| k > 1 && c < k as f64);
        let r = rows.first().cloned().unwrap_or_default();
        let v = |col: &str, f: fn(&str) -> String| {
            if hide {
                self.w("suppressed").to_string()
            } else {
                r.get(col).map(f).unwrap_or_else(|| "—".into())
            }
        };
        let cards = [
            ("customers", "customers", v("customers", grouped)),
            ("revenue", "revenue", v("revenue", grouped)),
            ("orders", "orders", v("orders", grouped)),
            ("aov", "average_order_value", v("average_order_value", grouped)),
            ("repurchase", "repurchase_rate", v("repurchase_rate", percent)),
        ];
        let mut fig = String::from("<div class=\"kpi-row\">");
        for (word, col, text) in cards {
            let raw = if hide { "" } else { r.get(col).unwrap_or("") };
            fig.push_str(&format!(
                "<div class=\"kpi mark\" data-col=\"{col}\" data-value=\"{}\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
                esc(raw),
                self.w(word),
                esc(&text)
            ));
        }
        fig.push_str("</div>");
        let cols = ["customers", "revenue", "orders", "average_order_value", "repurchase_rate", "as_of"];
        let rows: Vec<(Row, bool)> = rows.into_iter().map(|r| (r, hide)).collect();
        self.card("kpis", true, self.w("kpis_title"), "", &fig, &cols, 0, &rows);
    }

    fn rf_grid(&mut self) {
        let rows = self.hide_by(self.rows("rf_grid"), "customers");
        let bins =
            rows.iter().flat_map(|(r, _)| [r.num("r"), r.num("f")]).flatten().fold(self.doc.bins as f64, f64::max).min(10.0) as usize;
        let row_names: Vec<String> = (1..=bins).rev().map(|r| format!("R{r}")).collect();
        let col_names: Vec<String> = (1..=bins).map(|f| format!("F{f}")).collect();
        let mut cells = Vec::new();
        for (r, hide) in &rows {
            let (Some(rv), Some(fv)) = (r.num("r"), r.num("f")) else { continue };
            if !(1.0..=bins as f64).contains(&rv) || !(1.0..=bins as f64).contains(&fv) {
                continue;
            }
            let title = format!(
                "R{} F{}: {} {}, {} {}",
                rv,
                fv,
                if *hide { self.w("suppressed").to_string() } else { shown(r.get("customers")) },
                self.w("customers"),
                self.w("average_spend"),
                if *hide { self.w("suppressed").to_string() } else { shown(r.get("average_spend")) }
            );
            cells.push(Cell {
                row: bins - rv as usize,
                col: fv as usize - 1,
                value: if *hide { None } else { r.num("customers") },
                main: if *hide { "—".into() } else { shown(r.get("customers")) },
                sub: if *hide { String::new() } else { shown(r.get("average_spend")) },
                data: if *hide { r.data(&["r", "f"]) } else { r.data(&["r", "f", "customers", "average_spend"]) },
                title,
            });
        }
        let fig = heatmap(&row_names, &col_names, &cells, ("R", "F"), BLUES, self.w("rf_title"));
        self.card("rf_grid", false, self.w("rf_title"), self.w("rf_note"), &fig, &["r", "f", "customers", "average_spend"], 2, &rows);
    }

    fn lifecycle(&mut self) {
        let rows = self.hide_by(self.rows("lifecycle"), "customers");
        let stage_order = |l: &str| {
            (0..Lifecycle::STAGES)
                .position(|i| [&Lifecycle::label(i).code, &Lifecycle::label(i).zh, &Lifecycle::label(i).en].contains(&&l.to_string()))
        };
        let cadence_order = |l: &str| {
            (0..Cadence::CLASSES)
                .position(|i| [&Cadence::label(i).code, &Cadence::label(i).zh, &Cadence::label(i).en].contains(&&l.to_string()))
        };
        let stages = ordered(rows.iter().map(|(r, _)| r.get("lifecycle_stage")), &stage_order);
        let cadences = ordered(rows.iter().map(|(r, _)| r.get("cadence")), &cadence_order);
        let name = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| self.w(none).to_string());
        let row_names: Vec<String> = stages.iter().map(|s| name(s, "no_order")).collect();
        let col_names: Vec<String> = cadences.iter().map(|c| name(c, "no_cadence")).collect();
        let mut cells = Vec::new();
        for (r, hide) in &rows {
            let i = stages.iter().position(|s| s.as_deref() == r.get("lifecycle_stage")).unwrap_or(0);
            let j = cadences.iter().position(|c| c.as_deref() == r.get("cadence")).unwrap_or(0);
            let sub = if *hide { String::new() } else { r.get("revenue_share").map(percent).unwrap_or_default() };
            cells.push(Cell {
                row: i,
                col: j,
                value: if *hide { None } else { r.num("customers") },
                main: if *hide { "—".into() } else { shown(r.get("customers")) },
                sub: sub.clone(),
                data: if *hide {
                    vec![("lifecycle_stage", r.text("lifecycle_stage")), ("cadence", r.text("cadence"))]
                } else {
                    r.data(&["lifecycle_stage", "cadence", "customers", "revenue", "revenue_share"])
                },
                title: format!(
                    "{} × {}: {} {}, {} {}",
                    row_names[i],
                    col_names[j],
                    if *hide { self.w("suppressed").to_string() } else { shown(r.get("customers")) },
                    self.w("customers"),
                    self.w("revenue_share"),
                    if *hide { self.w("suppressed").to_string() } else { sub }
                ),
            });
        }
        let fig = heatmap(&row_names, &col_names, &cells, ("", ""), GREENS, self.w("lifecycle_title"));
        self.card(
            "lifecycle",
            false,
            self.w("lifecycle_title"),
            self.w("lifecycle_note"),
            &fig,
            &["lifecycle_stage", "cadence", "customers", "revenue", "revenue_share"],
            2,
            &rows,
        );
    }

    /// Customers and revenue shares per group (segment_kpis rows): segments in the SQL's order
    /// (revenue first), tiers from the highest average spend down.
    fn shares(&mut self, id: &str, title_word: &str, none: &str) {
        let rows = self.hide_by(self.rows(id), "customers");
        let mut drawn: Vec<&(Row, bool)> = rows.iter().collect();
        if id == "tiers" {
            drawn.sort_by(|a, b| avg_spend(&b.0).partial_cmp(&avg_spend(&a.0)).unwrap_or(std::cmp::Ordering::Equal));
        }
        let bars: Vec<ShareRow> = drawn
            .iter()
            .map(|(r, hide)| {
                let label = self.label_or(r.get("label"), none);
                let sup = self.w("suppressed").to_string();
                let pick = |c: &str| if *hide { sup.clone() } else { r.get(c).map(percent).unwrap_or_else(|| "—".into()) };
                ShareRow {
                    caption: if *hide { sup.clone() } else { format!("{} {}", shown(r.get("customers")), self.w("customers")) },
                    shares: if *hide { [None, None] } else { [r.num("customer_share"), r.num("revenue_share")] },
                    texts: [pick("customer_share"), pick("revenue_share")],
                    data: if *hide {
                        vec![("label", r.text("label"))]
                    } else {
                        r.data(&["label", "customers", "customer_share", "revenue", "revenue_share"])
                    },
                    title: format!(
                        "{label}: {} {}, {} {}, {} {}",
                        if *hide { sup.clone() } else { shown(r.get("customers")) },
                        self.w("customers"),
                        self.w("revenue"),
                        if *hide { sup.clone() } else { shown(r.get("revenue")) },
                        self.w("aov"),
                        if *hide { sup.clone() } else { shown(r.get("average_order_value")) }
                    ),
                    label,
                }
            })
            .collect();
        // segments take the page's width (a rule set may have many), tiers half of it
        let wide = id == "segments";
        let fig =
            share_bars(&bars, [self.w("customer_share"), self.w("revenue_share")], if wide { 1110.0 } else { 540.0 }, self.w(title_word));
        self.card(
            id,
            wide,
            self.w(title_word),
            "",
            &fig,
            &["label", "customers", "customer_share", "revenue", "revenue_share", "average_order_value", "repurchase_rate"],
            1,
            &rows,
        );
    }

    fn lorenz(&mut self) {
        let rows = self.rows("lorenz");
        let mut points = vec![Point { x: 0.0, y: 0.0, data: Vec::new() }];
        for r in &rows {
            self.tick.tick(64);
            if let (Some(x), Some(y)) = (r.num("customer_share"), r.num("revenue_share")) {
                points.push(Point { x, y, data: r.data(&["customers", "customer_share", "revenue_share"]) });
            }
        }
        let first = rows.first();
        let notes = [
            format!("{}: {}", self.w("gini"), first.and_then(|r| r.get("gini")).unwrap_or("—")),
            self.w("top20").to_string(),
            first.and_then(|r| r.get("top20_revenue_share")).map(percent).unwrap_or_else(|| "—".into()),
        ];
        let fig = lorenz(&points, &notes, (self.w("customer_share"), self.w("revenue_share")), self.w("lorenz_title"));
        let fig = format!(
            "{fig}<p class=\"note lorenz-figures\" data-gini=\"{}\" data-top20-revenue-share=\"{}\">{} <b>{}</b> · {} <b>{}</b></p>",
            esc(first.and_then(|r| r.get("gini")).unwrap_or("")),
            esc(first.and_then(|r| r.get("top20_revenue_share")).unwrap_or("")),
            self.w("gini"),
            esc(first.and_then(|r| r.get("gini")).unwrap_or("—")),
            self.w("top20"),
            esc(&first.and_then(|r| r.get("top20_revenue_share")).map(percent).unwrap_or_else(|| "—".into()))
        );
        let rows: Vec<(Row, bool)> = rows.into_iter().map(|r| (r, false)).collect();
        self.card(
            "lorenz",
            false,
            self.w("lorenz_title"),
            self.w("lorenz_note"),
            &fig,
            &["customers", "customer_share", "revenue_share", "gini", "top20_revenue_share"],
            0,
            &rows,
        );
    }

    fn migration(&mut self) {
        let Some(section) = self.doc.get("migration") else {
            self.out.push_str(&format!(
                "<section class=\"card c-migration wide\" id=\"migration\" data-chart=\"migration\" data-missing=\"true\"><h2>{}</h2><p class=\"note\">{}</p></section>",
                self.w("migration_title"),
                self.w("migration_missing")
            ));
            return;
        };
        let rows = self.hide_by(section.rows.clone(), "customers");
        // tiers from the highest average spend down (as the tier chart), then any others, then NULL
        let mut tiers: Vec<(Option<String>, f64)> =
            self.rows("tiers").iter().map(|r| (r.get("label").map(str::to_string), avg_spend(r))).collect();
        tiers.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        let rank = |t: Option<&str>| match t {
            None => usize::MAX,
            Some(t) => tiers.iter().position(|(l, _)| l.as_deref() == Some(t)).unwrap_or(usize::MAX - 1),
        };
        let sorted = |col: &str| {
            let mut v: Vec<Option<String>> = Vec::new();
            for (r, _) in &rows {
                let t = r.get(col).map(str::to_string);
                if !v.contains(&t) {
                    v.push(t);
                }
            }
            v.sort_by(|a, b| rank(a.as_deref()).cmp(&rank(b.as_deref())).then(a.cmp(b)));
            v
        };
        let (lefts, rights) = (sorted("from_tier"), sorted("to_tier"));
        let name = |t: &Option<String>| clip(t.as_deref().unwrap_or(self.w("not_customer")), MAX_LABEL_CHARS);
        let mut flows = Vec::new();
        for (r, hide) in &rows {
            if *hide {
                continue;
            }
            let from = lefts.iter().position(|t| t.as_deref() == r.get("from_tier")).unwrap_or(0);
            let to = rights.iter().position(|t| t.as_deref() == r.get("to_tier")).unwrap_or(0);
            flows.push(Flow {
                from,
                to,
                customers: r.num("customers").unwrap_or(0.0),
                data: r.data(&["from_tier", "to_tier", "customers", "revenue"]),
                title: format!(
                    "{} → {}: {} {}, {} {}",
                    name(&lefts[from]),
                    name(&rights[to]),
                    shown(r.get("customers")),
                    self.w("customers"),
                    self.w("revenue"),
                    shown(r.get("revenue"))
                ),
            });
        }
        let (from, to) = (self.doc.from.clone().unwrap_or_default(), self.doc.to.clone().unwrap_or_default());
        let titles = (format!("{} {}", self.w("migration_from"), from), format!("{} {}", self.w("migration_to"), to));
        let left_names: Vec<String> = lefts.iter().map(name).collect();
        let right_names: Vec<String> = rights.iter().map(name).collect();
        let fig = sankey(&left_names, &right_names, &flows, (&titles.0, &titles.1), self.w("migration_title"));
        // the matrix beside it: customers from (rows) to (columns)
        let mut m = String::from("<table class=\"matrix\"><thead><tr><th>");
        m.push_str(&format!("{} \\ {}", esc(self.w("migration_from")), esc(self.w("migration_to"))));
        m.push_str("</th>");
        for t in &right_names {
            m.push_str(&format!("<th>{}</th>", esc(&fit(t, 150.0, 12.0))));
        }
        m.push_str("</tr></thead><tbody>");
        for (i, lt) in lefts.iter().enumerate() {
            self.tick.tick(rights.len() as u64 * 64);
            m.push_str(&format!("<tr><th>{}</th>", esc(&fit(&left_names[i], 150.0, 12.0))));
            for rt in &rights {
                let cell = rows.iter().find(|(r, _)| r.get("from_tier") == lt.as_deref() && r.get("to_tier") == rt.as_deref());
                let diag = if lt.is_some() && lt == rt { " class=\"diag\"" } else { "" };
                match cell {
                    Some((_, true)) => m.push_str(&format!("<td class=\"hidden\">{}</td>", self.w("suppressed"))),
                    Some((r, false)) => m.push_str(&format!(
                        "<td{diag} data-from-tier=\"{}\" data-to-tier=\"{}\" data-customers=\"{}\">{}</td>",
                        esc(&r.text("from_tier")),
                        esc(&r.text("to_tier")),
                        esc(&r.text("customers")),
                        esc(&shown(r.get("customers")))
                    )),
                    None => m.push_str(&format!("<td{diag}>0</td>")),
                }
            }
            m.push_str("</tr>");
        }
        m.push_str("</tbody></table>");
        let fig = format!("<div class=\"pair\">{fig}{m}</div>");
        self.card("migration", true, self.w("migration_title"), "", &fig, &["from_tier", "to_tier", "customers", "revenue"], 2, &rows);
    }

    fn p_alive(&mut self) {
        if self.doc.get("p_alive").is_none() {
            return;
        }
        let bands = ["p_alive_0_20", "p_alive_20_40", "p_alive_40_60", "p_alive_60_80", "p_alive_80_100"];
        let band_names = ["0–20%", "20–40%", "40–60%", "60–80%", "80–100%"];
        let rows = self.hide_by(self.rows("p_alive"), "customers");
        let mut drawn = Vec::new();
        for (r, hide) in &rows {
            let label = self.label_or(r.get("segment"), "no_order");
            let total = r.num("customers").unwrap_or(0.0);
            let hide_band =
                if *hide { vec![true; 5] } else { hidden(&bands.iter().map(|b| r.num(b)).collect::<Vec<_>>(), self.doc.min_group_size) };
            let mut parts = Vec::new();
            let mut hidden_share = 0.0;
            for (k, b) in bands.iter().enumerate() {
                let c = r.num(b).unwrap_or(0.0);
                let share = if total > 0.0 { c / total } else { 0.0 };
                if hide_band[k] {
                    hidden_share += share;
                    continue;
                }
                parts.push(Part {
                    share,
                    colour: Some(BAND_COLOURS[k]),
                    data: vec![("segment", r.text("segment")), ("band", b.to_string()), ("customers", r.text(b))],
                    title: format!("{label} · P(alive) {}: {} {}", band_names[k], shown(r.get(b)), self.w("customers")),
                });
            }
            if hidden_share > 0.0 || *hide {
                parts.push(Part {
                    share: if *hide { 0.04 } else { hidden_share },
                    colour: None,
                    data: Vec::new(),
                    title: format!("{label}: {}", self.w("suppressed")),
                });
            }
            let right = if *hide {
                self.w("suppressed").to_string()
            } else {
                format!("{} {}", self.w("p_alive_mean"), shown(r.get("mean_p_alive")))
            };
            drawn.push(StackRow { label, parts, right });
        }
        let legend: Vec<(String, &str)> = band_names.iter().zip(BAND_COLOURS).map(|(n, c)| (n.to_string(), c)).collect();
        let fig = stacked(&drawn, &legend, self.w("p_alive_title"));
        let mut cols = vec!["segment", "customers"];
        cols.extend_from_slice(&bands);
        cols.push("mean_p_alive");
        // a band hidden inside a shown row: its cell in the table is hidden too
        let table_rows: Vec<(Row, bool)> = rows
            .iter()
            .map(|(r, hide)| {
                if *hide {
                    return (r.clone(), true);
                }
                let hb = hidden(&bands.iter().map(|b| r.num(b)).collect::<Vec<_>>(), self.doc.min_group_size);
                let mut r = r.clone();
                for (k, b) in bands.iter().enumerate() {
                    if hb[k] {
                        if let Some(cell) = r.0.iter_mut().find(|(c, _)| c == b) {
                            cell.1 = Some(self.w("suppressed").to_string());
                        }
                    }
                }
                (r, false)
            })
            .collect();
        self.card("p_alive", false, self.w("p_alive_title"), self.w("p_alive_note"), &fig, &cols, 1, &table_rows);
    }

    fn clv(&mut self) {
        if self.doc.get("clv").is_none() {
            return;
        }
        let rows = self.hide_by(self.rows("clv"), "customers");
        let qs = ["p10", "p25", "median", "p75", "p90"];
        let drawn: Vec<BoxRow> = rows
            .iter()
            .map(|(r, hide)| {
                let label = self.label_or(r.get("segment"), "no_order");
                let q: Option<Vec<f64>> = qs.iter().map(|c| r.num(c)).collect();
                let q = if *hide { None } else { q.map(|v| [v[0], v[1], v[2], v[3], v[4]]) };
                BoxRow {
                    title: if *hide {
                        format!("{label}: {}", self.w("suppressed"))
                    } else {
                        format!(
                            "{label}: {} {}; P10 {} · P25 {} · {} {} · P75 {} · P90 {} · {} {}",
                            shown(r.get("customers")),
                            self.w("customers"),
                            shown(r.get("p10")),
                            shown(r.get("p25")),
                            self.w("median"),
                            shown(r.get("median")),
                            shown(r.get("p75")),
                            shown(r.get("p90")),
                            self.w("mean"),
                            shown(r.get("mean"))
                        )
                    },
                    data: if *hide {
                        vec![("segment", r.text("segment"))]
                    } else {
                        r.data(&["segment", "customers", "p10", "p25", "median", "p75", "p90", "mean"])
                    },
                    right: if *hide { self.w("suppressed").to_string() } else { format!("{} {}", self.w("mean"), shown(r.get("mean"))) },
                    mean: if *hide { None } else { r.num("mean") },
                    q,
                    label,
                }
            })
            .collect();
        let fig = boxes(&drawn, &|v| grouped(&format!("{v:.0}")), self.w("clv_title"));
        self.card(
            "clv",
            false,
            self.w("clv_title"),
            self.w("clv_note"),
            &fig,
            &["segment", "customers", "p10", "p25", "median", "p75", "p90", "mean"],
            1,
            &rows,
        );
    }
}

/// Revenue per customer of a segment_kpis row (orders tiers from the top).
fn avg_spend(r: &Row) -> f64 {
    match (r.num("revenue"), r.num("customers")) {
        (Some(m), Some(c)) if c > 0.0 => m / c,
        _ => f64::NEG_INFINITY,
    }
}

/// The distinct values in the order `known` gives the labels it knows, then the others by text,
/// then NULL.
fn ordered<'v>(values: impl Iterator<Item = Option<&'v str>>, known: &dyn Fn(&str) -> Option<usize>) -> Vec<Option<String>> {
    let mut v: Vec<Option<String>> = Vec::new();
    for x in values {
        let x = x.map(str::to_string);
        if !v.contains(&x) {
            v.push(x);
        }
    }
    let key = |x: &Option<String>| match x {
        None => (2, 0, String::new()),
        Some(s) => match known(s) {
            Some(i) => (0, i, String::new()),
            None => (1, 0, s.clone()),
        },
    };
    v.sort_by_key(key);
    v
}

#[cfg(test)]
mod tests;
