use super::*;
use serde_json::json;

/// A document shaped as `segment._report_data` builds it, with every section.
fn doc(label: &str, min_group_size: i64) -> Value {
    let seg = |l: &str, c: &str, cs: &str, r: &str, rs: &str| json!({"label": l, "customers": c, "customer_share": cs, "revenue": r, "revenue_share": rs, "average_order_value": "100.00", "repurchase_rate": "0.5000"});
    json!({
        "lang": "en", "view": "public.customers_by_segment", "generated_at": "2026-01-02T03:04:05+08:00", "version": "0.2.0",
        "min_group_size": min_group_size, "bins": 5, "from": "2025-06-30 23:59:59+08", "to": "2025-12-31 23:59:59+08",
        "sections": {
            "kpis": {"sql": "SELECT 1", "rows": [{"customers": "100", "revenue": "12345.67", "orders": "250", "average_order_value": "49.38", "repurchase_rate": "0.4000", "as_of": "2025-12-31T23:59:59+08:00"}]},
            "rf_grid": {"sql": "SELECT r", "rows": [
                {"r": "5", "f": "5", "customers": "40", "average_spend": "300.00"},
                {"r": "1", "f": "1", "customers": "3", "average_spend": "10.00"},
                {"r": "3", "f": "2", "customers": "57", "average_spend": "80.00"}]},
            "segments": {"sql": "SELECT * FROM segment.segment_kpis('public.customers_by_segment', 'segment')", "rows": [
                seg(label, "60", "0.6000", "10000.00", "0.8100"), seg("Lost", "38", "0.3800", "2300.00", "0.1863"), seg("New", "2", "0.0200", "45.67", "0.0037")]},
            "tiers": {"sql": "SELECT * FROM segment.segment_kpis('public.customers_by_segment', 'tier')", "rows": [
                seg("Member", "50", "0.5000", "2000.00", "0.1620"), seg("Diamond VIP", "10", "0.1000", "6000.00", "0.4860"),
                seg("VIP", "15", "0.1500", "3000.00", "0.2430"), seg("Senior Member", "25", "0.2500", "1345.67", "0.1090")]},
            "lorenz": {"sql": "SELECT lorenz", "rows": [
                {"customers": "50", "customer_share": "0.5000", "revenue_share": "0.1000", "gini": "0.6000", "top20_revenue_share": "0.7000"},
                {"customers": "100", "customer_share": "1.0000", "revenue_share": "1.0000", "gini": "0.6000", "top20_revenue_share": "0.7000"}]},
            "lifecycle": {"sql": "SELECT lc", "rows": [
                {"lifecycle_stage": "Churned", "cadence": "One-time", "customers": "30", "revenue": "100.00", "revenue_share": "0.0081"},
                {"lifecycle_stage": "Active", "cadence": "Monthly", "customers": "68", "revenue": "12000.00", "revenue_share": "0.9720"},
                {"lifecycle_stage": "Prospect", "cadence": null, "customers": "2", "revenue": "0", "revenue_share": "0.0000"}]},
            "migration": {"sql": "SELECT * FROM segment.tier_migration('v', 'a', 'b')", "rows": [
                {"from_tier": null, "to_tier": "Member", "customers": "20", "revenue": "500.00"},
                {"from_tier": "Member", "to_tier": "VIP", "customers": "4", "revenue": "900.00"},
                {"from_tier": "VIP", "to_tier": "VIP", "customers": "11", "revenue": "300.00"},
                {"from_tier": "Member", "to_tier": "Member", "customers": "30", "revenue": "200.00"}]},
            "p_alive": {"sql": "SELECT pa", "rows": [
                {"segment": label, "customers": "60", "p_alive_0_20": "1", "p_alive_20_40": "9", "p_alive_40_60": "10", "p_alive_60_80": "20", "p_alive_80_100": "20", "mean_p_alive": "0.6500"}]},
            "clv": {"sql": "SELECT clv", "rows": [
                {"segment": label, "customers": "60", "p10": "1.00", "p25": "5.00", "median": "10.00", "p75": "40.00", "p90": "90.00", "mean": "30.00"}]}
        }
    })
}

fn page(v: &Value) -> String {
    render(&v.to_string()).unwrap()
}

#[test]
fn every_section_is_drawn_with_its_sql_and_rows() {
    let html = page(&doc("Champions", 0));
    for (id, _) in SECTIONS {
        assert!(html.contains(&format!("data-chart=\"{id}\"")), "{id}");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("segment.segment_kpis(&#39;public.customers_by_segment&#39;, &#39;tier&#39;)"), "the SQL is shown, escaped");
    // marks carry the SQL's text of their numbers
    assert!(html.contains("data-r=\"3\" data-f=\"2\" data-customers=\"57\" data-average_spend=\"80.00\""));
    assert!(html.contains("data-from_tier=\"Member\" data-to_tier=\"VIP\" data-customers=\"4\""));
    assert!(html.contains("data-col=\"repurchase_rate\" data-value=\"0.4000\""));
    assert!(html.contains(">40.00%<"), "the KPI card shows the rate as a percentage, exactly");
    assert!(html.contains("12,345.67"));
    assert!(html.contains("Gini coefficient <b>0.6000</b>"));
    assert!(html.contains("data-segment=\"Champions\" data-band=\"p_alive_80_100\" data-customers=\"20\""));
    assert!(html.contains("data-p90=\"90.00\""));
}

#[test]
fn the_page_is_self_contained() {
    let html = page(&doc("Champions", 0));
    let lower = html.to_lowercase();
    for bad in ["<script", "http:", "https:", "//", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe", "<object"] {
        assert!(!lower.contains(bad), "{bad} in the page");
    }
    assert!(html.contains("Noto Sans CJK SC"), "a CJK font stack");
}

#[test]
fn hostile_labels_are_text() {
    let evil = "</text></svg><script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
    let html = page(&doc(evil, 0));
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("onerror=alert(2)>"));
    assert!(
        html.contains("&lt;/text&gt;&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;")
    );
    // attributes stay closed: every quote inside a value is a reference
    assert!(!html.contains("data-label=\"</text>"));
    let mut d = doc("x", 0);
    d["title"] = json!("<b>Report</b>");
    d["view"] = json!("\"a<b>\".v");
    let html = page(&d);
    assert!(html.contains("<title>&lt;b&gt;Report&lt;/b&gt;</title>") && html.contains("&quot;a&lt;b&gt;&quot;.v"));
}

#[test]
fn chinese_page_uses_chinese_words() {
    let mut d = doc("重要价值客户", 0);
    d["lang"] = json!("zh");
    let html = page(&d);
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("R × F 客户矩阵") && html.contains("基尼系数") && html.contains("重要价值客户"));
}

#[test]
fn suppression_rule() {
    let c = |v: &[f64]| v.iter().map(|x| Some(*x)).collect::<Vec<_>>();
    assert_eq!(hidden(&c(&[3.0, 40.0, 57.0]), 0), [false, false, false]);
    assert_eq!(hidden(&c(&[3.0, 40.0, 57.0]), 1), [false, false, false]);
    // one small group: the next smallest goes too, until the hidden hold 5 together
    assert_eq!(hidden(&c(&[3.0, 40.0, 57.0]), 5), [true, true, false]);
    // two small groups holding 5 together: nothing more
    assert_eq!(hidden(&c(&[3.0, 4.0, 57.0]), 5), [true, true, false]);
    // two small groups holding fewer than 5: the next smallest too
    assert_eq!(hidden(&c(&[1.0, 2.0, 40.0, 57.0]), 5), [true, true, true, false]);
    // empty groups reveal nobody and are not hidden; NULL (suppressed by the SQL) neither
    assert_eq!(hidden(&c(&[0.0, 40.0, 57.0]), 5), [false, false, false]);
    assert_eq!(hidden(&[None, Some(40.0), Some(57.0)], 5), [false, false, false]);
    // the same rule as segment.suppress_group
    let sizes = [3i64, 40, 57, 2, 90];
    let rule = crate::privacy::Suppression::new(sizes.to_vec(), 50).unwrap();
    let by_rule: Vec<bool> = sizes.iter().map(|&s| rule.suppressed(s).unwrap()).collect();
    assert_eq!(hidden(&sizes.iter().map(|&s| Some(s as f64)).collect::<Vec<_>>(), 50), by_rule);
    // a lone group has nothing to hide it with
    assert_eq!(hidden(&c(&[3.0]), 5), [true]);
}

#[test]
fn small_groups_are_suppressed_everywhere() {
    let html = page(&doc("Champions", 5));
    // rf_grid: 3 customers hidden, and the next smallest (40) with it
    assert!(!html.contains("data-customers=\"3\"") && !html.contains("data-customers=\"40\""));
    assert!(html.contains("data-customers=\"57\""));
    // segments: New (2) hidden and Lost (38) with it; numbers gone from marks, table and tooltips
    assert!(!html.contains("\"45.67\"") && !html.contains(">45.67<") && !html.contains("0.3800"));
    assert!(html.contains("data-label=\"New\"") && html.contains("<td class=\"hidden\">suppressed</td>"));
    // migration: the flow of 4 and its partner (11) are not drawn
    assert!(!html.contains("data-customers=\"4\"") && !html.contains("data-customers=\"11\""));
    // p_alive: the band of 1 customer and the next smallest (9) hidden inside the shown row
    assert!(!html.contains("data-band=\"p_alive_0_20\"") && !html.contains("data-band=\"p_alive_20_40\""));
    assert!(html.contains("Groups of fewer than 5 customers are suppressed"));
    // a population smaller than k hides the KPIs
    let mut d = doc("Champions", 500);
    d["sections"]["lorenz"]["rows"] = json!([]);
    let html = page(&d);
    assert!(!html.contains("12,345.67") && html.contains("data-col=\"customers\" data-value=\"\""));
}

#[test]
fn optional_sections_may_be_absent() {
    let mut d = doc("Champions", 0);
    let s = d["sections"].as_object_mut().unwrap();
    s.remove("migration");
    s.remove("p_alive");
    s.remove("clv");
    let html = page(&d);
    assert!(html.contains("data-missing=\"true\"") && html.contains("take_snapshot"));
    assert!(!html.contains("data-chart=\"p_alive\"") && !html.contains("data-chart=\"clv\""));
}

#[test]
fn tiers_are_drawn_from_the_highest_spend() {
    let html = page(&doc("Champions", 0));
    let tiers = &html[html.find("data-chart=\"tiers\"").unwrap()..];
    let pos = |l: &str| tiers.find(&format!("data-label=\"{l}\"")).unwrap();
    assert!(pos("Diamond VIP") < pos("VIP") && pos("VIP") < pos("Senior Member") && pos("Senior Member") < pos("Member"));
    // the Sankey's nodes follow that order, "not a customer" last
    let m = &html[html.find("class=\"matrix\"").unwrap()..];
    assert!(m.find(">VIP<").unwrap() < m.find(">Member<").unwrap() && m.find(">Member<").unwrap() < m.find(">(not a customer)<").unwrap());
}

#[test]
fn bad_documents_are_errors_not_panics() {
    for bad in [
        "[]".to_string(),
        "{\"lang\": \"fr\", \"sections\": {}}".into(),
        "{\"sections\": {}}".into(),
        "not json".into(),
        json!({"sections": {"kpis": {"rows": 3}}}).to_string(),
        json!({"sections": {"nope": {}}}).to_string(),
        json!({"title": 5, "sections": {}}).to_string(),
    ] {
        let e = render(&bad).unwrap_err();
        assert_eq!(e.code, crate::ErrCode::InvalidParameter, "{bad}: {}", e.message);
    }
    let mut d = doc("x", 0);
    d["sections"]["segments"]["rows"] = Value::Array((0..=MAX_ROWS).map(|i| json!({"label": i.to_string(), "customers": "1"})).collect());
    assert_eq!(render(&d.to_string()).unwrap_err().code, crate::ErrCode::LimitExceeded);
    // odd values draw without NaN
    let mut d = doc("x", 0);
    d["sections"]["rf_grid"]["rows"] = json!([{"r": "99", "f": "-1", "customers": "NaN", "average_spend": null}]);
    d["sections"]["lorenz"]["rows"] =
        json!([{"customers": "1", "customer_share": "1", "revenue_share": "-Infinity", "gini": null, "top20_revenue_share": null}]);
    let html = page(&d);
    assert!(!html.contains("NaN\"") || html.contains("data-customers=\"NaN\"") || !html.contains("x=\"NaN\""));
    assert!(!html.contains("=\"inf") && !html.contains("=\"NaN\" y"));
}

#[test]
fn long_labels_are_cut() {
    let long = "长".repeat(10_000);
    let html = page(&doc(&long, 0));
    assert!(!html.contains(&"长".repeat(MAX_LABEL_CHARS + 1)));
    assert!(html.len() < 400_000, "{}", html.len());
}
