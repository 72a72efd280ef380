//! Escaping, number display and the page's words in 中文 and English.
//!
//! Numbers reach the page as the text PostgreSQL printed for them (the report's SQL returns
//! `numeric` and `bigint`), so what is displayed is that text, only regrouped: thousands
//! separators in the integer part, shares moved two decimal places to percent. No value goes
//! through a float on its way to the reader; floats are only used for geometry.

/// `s` escaped for HTML text and for attribute values (double or single quoted): `&`, `<`, `>`,
/// `"` and `'` become character references, so no label can open or close an element or an
/// attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // C0 controls other than tab and newline are parse errors in HTML: shown as a space
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The most characters of a label the page shows (longer ones end with "…"): bounds the page's
/// size whatever labels a rule set holds.
pub const MAX_LABEL_CHARS: usize = 120;

/// `s` cut to `max` characters, "…" marking a cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Whether PostgreSQL's text of a number is a plain decimal: an optional minus, digits, an
/// optional fraction. (NaN and infinity are not: they are shown as they are.)
fn is_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal's text with thousands separators in its integer part: "1234567.80" -> "1,234,567.80".
pub fn grouped(s: &str) -> String {
    if !is_decimal(s) {
        return s.to_string();
    }
    let (sign, body) = if let Some(b) = s.strip_prefix('-') { ("-", b) } else { ("", s) };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A share's text as a percentage, exactly: "0.1234" -> "12.34%", "1.0000" -> "100.00%",
/// "-0.05" -> "-5%". The decimal point moves two places; no digit is rounded.
pub fn percent(s: &str) -> String {
    if !is_decimal(s) {
        return s.to_string();
    }
    let (sign, body) = if let Some(b) = s.strip_prefix('-') { ("-", b) } else { ("", s) };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut digits = String::from(int);
    let mut rest: String = frac.chars().collect();
    while rest.len() < 2 {
        rest.push('0');
    }
    digits.push_str(&rest[..2]);
    let rest = &rest[2..];
    let int = digits.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = format!("{sign}{int}");
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('%');
    out
}

/// A number for the page: `None` (SQL NULL) is "—".
pub fn shown(v: Option<&str>) -> String {
    v.map(grouped).unwrap_or_else(|| "—".to_string())
}

/// Width of `s` in pixels at `size` px, estimated: CJK and full-width characters take one em,
/// others about 0.58 em (the fonts of the stack are close to that). Used to fit labels.
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars().map(|c| if is_wide(c) { 1.0 } else { 0.58 }).sum::<f64>() * size
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// `s` shortened with "…" until it fits `width` pixels at `size` px.
pub fn fit(s: &str, width: f64, size: f64) -> String {
    let s = clip(s, MAX_LABEL_CHARS);
    if text_width(&s, size) <= width {
        return s;
    }
    let mut out = String::new();
    let mut w = text_width("…", size);
    for c in s.chars() {
        let cw = if is_wide(c) { size } else { 0.58 * size };
        if w + cw > width {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// The page's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageLang {
    Zh,
    En,
}

impl PageLang {
    pub fn parse(s: &str) -> crate::Result<PageLang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Ok(PageLang::Zh),
            "en" => Ok(PageLang::En),
            other => Err(crate::Error::invalid(format!("report option \"lang\" must be 'zh' or 'en', got '{other}'"))),
        }
    }

    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            PageLang::Zh => "zh-CN",
            PageLang::En => "en",
        }
    }

    /// The page's word for `key` (see [`WORDS`]).
    pub fn word(self, key: &str) -> &'static str {
        let (_, zh, en) = WORDS.iter().find(|w| w.0 == key).unwrap_or_else(|| panic!("report: no word for {key}"));
        match self {
            PageLang::Zh => zh,
            PageLang::En => en,
        }
    }
}

/// Every fixed text of the page: (key, 中文, English).
pub const WORDS: &[(&str, &str, &str)] = &[
    ("title", "客户分群报告", "Customer segment report"),
    ("view", "分群视图", "Segmentation view"),
    ("as_of", "数据截至", "As of"),
    ("generated", "生成于", "Generated"),
    ("kpis_title", "核心指标", "Key figures"),
    ("customers", "客户数", "Customers"),
    ("revenue", "净收入", "Net revenue"),
    ("orders", "订单数", "Orders"),
    ("aov", "客单价", "Average order value"),
    ("repurchase", "复购率", "Repurchase rate"),
    ("customer_share", "客户占比", "Share of customers"),
    ("revenue_share", "收入占比", "Share of revenue"),
    ("average_spend", "平均消费", "average spend"),
    ("rf_title", "R × F 客户矩阵", "R × F grid"),
    (
        "rf_note",
        "每格为客户数与平均消费。R：最近一次消费得分（越大越近），F：消费频次得分（越大越多）。",
        "Each cell: customers and their average spend. R: recency score (higher is more recent); F: frequency score (higher is more orders).",
    ),
    ("segments_title", "各分群的客户与收入", "Customers and revenue by segment"),
    ("tiers_title", "会员等级：客户占比与收入占比", "Tiers: share of customers against share of revenue"),
    ("lorenz_title", "消费洛伦兹曲线（二八检验）", "Lorenz curve of spend (the 80/20 check)"),
    (
        "lorenz_note",
        "横轴：按消费从低到高累计的客户占比；纵轴：这些客户贡献的收入占比。曲线离对角线越远，收入越集中。",
        "Across: customers from the lowest spender up; up: their share of revenue. The further the curve from the diagonal, the more concentrated the revenue.",
    ),
    ("gini", "基尼系数", "Gini coefficient"),
    ("top20", "前 20% 客户的收入占比", "Revenue share of the top 20% of customers"),
    ("lifecycle_title", "生命周期阶段 × 购买节奏", "Lifecycle stage × purchase cadence"),
    ("lifecycle_note", "每格为客户数与其收入占比。", "Each cell: customers and their share of revenue."),
    ("no_cadence", "无购买", "no purchase"),
    ("migration_title", "等级迁移", "Tier migration"),
    ("migration_from", "从", "From"),
    ("migration_to", "到", "To"),
    ("not_customer", "（非客户）", "(not a customer)"),
    (
        "migration_missing",
        "等级迁移需要该视图的两个快照：segment.take_snapshot(视图名) 保存一个快照。",
        "Tier migration needs two snapshots of this view: segment.take_snapshot(view_name) stores one.",
    ),
    ("p_alive_title", "各分群的活跃概率 P(alive) 分布", "P(alive) by segment"),
    ("p_alive_note", "按 P(alive) 区间的客户占比，右侧为平均值。", "Share of each segment's customers by P(alive) band; the mean on the right."),
    ("clv_title", "各分群的预测客户终身价值（CLV）", "Predicted customer lifetime value (CLV) by segment"),
    (
        "clv_note",
        "线：第 10 至 90 百分位；框：第 25 至 75 百分位；竖线：中位数；菱形：平均值。",
        "Whiskers: 10th to 90th percentile; box: 25th to 75th; bar: median; diamond: mean.",
    ),
    ("no_order", "（无订单）", "(no order)"),
    ("mean", "平均", "mean"),
    ("median", "中位数", "median"),
    ("p_alive_mean", "平均", "mean"),
    ("suppressed", "已隐藏", "suppressed"),
    (
        "suppressed_note",
        "少于 {k} 位客户的组已隐藏；其次小的组也一并隐藏，直到被隐藏的组合计至少 {k} 位客户。",
        "Groups of fewer than {k} customers are suppressed, with the next smallest until the suppressed groups hold {k} customers together.",
    ),
    ("sql_and_data", "SQL 与数据", "SQL and data"),
    ("source_sql", "数据来源 SQL", "The SQL these numbers come from"),
    (
        "footer",
        "每张图的数字都来自其下方列出的 SQL，可在同一数据库中原样运行。由 pg_segment {version} 生成，无脚本，无外部资源。",
        "Every number of a chart comes from the SQL listed with it, which runs as it is in the same database. Made by pg_segment {version}: no script, nothing loaded from elsewhere.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_markup_character() {
        assert_eq!(esc(r#"<b a="x" b='y'>&amp;</b>"#), "&lt;b a=&quot;x&quot; b=&#39;y&#39;&gt;&amp;amp;&lt;/b&gt;");
        assert_eq!(esc("至尊VIP\u{1}"), "至尊VIP ");
    }

    #[test]
    fn groups_digits_without_changing_them() {
        assert_eq!(grouped("1234567.8900"), "1,234,567.8900");
        assert_eq!(grouped("-1234"), "-1,234");
        assert_eq!(grouped("123"), "123");
        assert_eq!(grouped("0.5"), "0.5");
        assert_eq!(grouped("NaN"), "NaN");
        assert_eq!(grouped("1e5"), "1e5");
    }

    #[test]
    fn percent_moves_the_point_exactly() {
        assert_eq!(percent("0.1234"), "12.34%");
        assert_eq!(percent("1.0000"), "100.00%");
        assert_eq!(percent("0.0005"), "0.05%");
        assert_eq!(percent("0"), "0%");
        assert_eq!(percent("0.5"), "50%");
        assert_eq!(percent("-0.05"), "-5%");
        assert_eq!(percent("12.3456"), "1234.56%");
    }

    #[test]
    fn fits_labels_by_width() {
        assert_eq!(fit("Champions", 200.0, 12.0), "Champions");
        let f = fit("重要价值客户重要价值客户", 60.0, 12.0);
        assert!(f.ends_with('…') && text_width(&f, 12.0) <= 60.0, "{f}");
        assert_eq!(clip(&"x".repeat(500), MAX_LABEL_CHARS).chars().count(), MAX_LABEL_CHARS);
    }

    #[test]
    fn every_word_has_both_languages() {
        for (k, zh, en) in WORDS {
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
            assert_eq!(WORDS.iter().filter(|w| w.0 == *k).count(), 1, "{k} twice");
        }
    }
}
