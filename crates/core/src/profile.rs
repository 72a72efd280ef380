//! Profile helpers: age bands, birthday windows, provinces to regions and north/south.
//!
//! Conventions (documented in the README and tested over their whole tables):
//! - Age is completed years, as PostgreSQL's `age()` counts them: someone born on 29 February
//!   turns a year older on 1 March in a non-leap year.
//! - Default age bands (upper bounds inclusive): 18 and under, 19-24, 25-28, 29-33, 34-40,
//!   41-50, over 50. The guide says "under 18" and "19-24", which leaves 18 itself in neither:
//!   18 belongs to the first band, so the bands are contiguous.
//! - A birthday on 29 February is celebrated on 28 February in non-leap years (the care message
//!   then stays in the birthday month and never arrives after the day).
//! - Regions: the seven geographic regions (七大地理分区). Taiwan → 华东; Hong Kong and Macao →
//!   华南.
//! - North/south: the Qinling–Huaihe line. A province the line crosses (Jiangsu, Anhui, Henan,
//!   Shaanxi, Gansu, Sichuan...) goes to the side of its capital; in the west, where the line is
//!   continued along about 33°N, Qinghai (Xining) is north and Tibet (Lhasa) south.

use super::config::{Label, Lang, Obj};
use super::time::{civil_of_pg_day, is_leap, pg_day};
use super::{Error, Result};

// ---------------------------------------------------------------------------------------------
// Age bands
// ---------------------------------------------------------------------------------------------

/// Completed years between a birthday and a date (both PostgreSQL day numbers); None when the
/// birthday is after `as_of`.
pub fn age_years(birthday: i64, as_of: i64) -> Option<i64> {
    if birthday > as_of {
        return None;
    }
    let (by, bm, bd) = civil_of_pg_day(birthday);
    let (y, m, d) = civil_of_pg_day(as_of);
    let mut age = y - by;
    if (m, d) < (bm, bd) {
        age -= 1;
    }
    Some(age)
}

/// Age bands by inclusive upper bounds; one more open band above the last bound.
#[derive(Clone, Debug, PartialEq)]
pub struct AgeBands {
    pub upper: Vec<i64>,
    labels: Vec<Label>,
}

pub const DEFAULT_AGE_UPPER: [i64; 6] = [18, 24, 28, 33, 40, 50];

impl AgeBands {
    pub fn new(upper: Vec<i64>) -> AgeBands {
        let mut labels = Vec::with_capacity(upper.len() + 1);
        let mut low = 0i64;
        for (i, &u) in upper.iter().enumerate() {
            labels.push(if i == 0 {
                Label::new(&format!("0-{u}"), &format!("{u}岁及以下"), &format!("{u} and under"))
            } else if low == u {
                Label::new(&format!("{u}-{u}"), &format!("{u}岁"), &format!("{u}"))
            } else {
                Label::new(&format!("{low}-{u}"), &format!("{low}-{u}岁"), &format!("{low}-{u}"))
            });
            low = u + 1;
        }
        let last = *upper.last().unwrap();
        labels.push(Label::new(&format!("{}+", last + 1), &format!("{last}岁以上"), &format!("over {last}")));
        AgeBands { upper, labels }
    }

    /// Reads `{"upper": [18, 24, ...]}` (strictly ascending whole numbers 0..150; 1 to 9 of them).
    pub fn parse(json: &str) -> Result<AgeBands> {
        let mut o = Obj::parse("config", json)?;
        let d: Vec<f64> = DEFAULT_AGE_UPPER.iter().map(|&x| x as f64).collect();
        let xs = o.numbers("upper", &d, true)?;
        o.finish()?;
        if xs.iter().any(|x| x.fract() != 0.0 || *x < 0.0 || *x > 150.0) {
            return Err(Error::invalid("config: key \"upper\" must hold whole numbers of years between 0 and 150"));
        }
        Ok(AgeBands::new(xs.into_iter().map(|x| x as i64).collect()))
    }

    pub fn band(&self, age: i64) -> &Label {
        let i = self.upper.iter().position(|&u| age <= u).unwrap_or(self.upper.len());
        &self.labels[i]
    }
}

impl Default for AgeBands {
    fn default() -> Self {
        AgeBands::new(DEFAULT_AGE_UPPER.to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// Birthdays
// ---------------------------------------------------------------------------------------------

/// The day a birthday is celebrated in year `y`: 29 February becomes 28 February in a
/// non-leap year.
fn birthday_in(y: i64, m: u32, d: u32) -> i64 {
    if m == 2 && d == 29 && !is_leap(y) {
        pg_day(y, 2, 28)
    } else {
        pg_day(y, m, d)
    }
}

/// The first celebration of `birthday` on or after `as_of` (day numbers).
pub fn next_birthday(birthday: i64, as_of: i64) -> i64 {
    let (_, bm, bd) = civil_of_pg_day(birthday);
    let (y, _, _) = civil_of_pg_day(as_of);
    let this = birthday_in(y, bm, bd);
    if this >= as_of {
        this
    } else {
        birthday_in(y + 1, bm, bd)
    }
}

pub const MAX_BIRTHDAY_WINDOW: i64 = 366;

/// Whether the birthday is celebrated within `days` days from `as_of` (0 = today only). A
/// birthday after `as_of` (not yet born) is never within the window.
pub fn birthday_within(birthday: i64, as_of: i64, days: i64) -> Result<bool> {
    if !(0..=MAX_BIRTHDAY_WINDOW).contains(&days) {
        return Err(Error::invalid(format!("days must be between 0 and {MAX_BIRTHDAY_WINDOW}, got {days}")));
    }
    if birthday > as_of {
        return Ok(false);
    }
    Ok(next_birthday(birthday, as_of) - as_of <= days)
}

// ---------------------------------------------------------------------------------------------
// Provinces
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    Northeast,
    North,
    East,
    Central,
    South,
    Southwest,
    Northwest,
}

impl Region {
    pub const ALL: [Region; 7] =
        [Region::Northeast, Region::North, Region::East, Region::Central, Region::South, Region::Southwest, Region::Northwest];

    pub fn label(self, lang: Lang) -> &'static str {
        let (code, zh, en) = match self {
            Region::Northeast => ("northeast", "东北", "Northeast"),
            Region::North => ("north", "华北", "North"),
            Region::East => ("east", "华东", "East"),
            Region::Central => ("central", "华中", "Central"),
            Region::South => ("south", "华南", "South"),
            Region::Southwest => ("southwest", "西南", "Southwest"),
            Region::Northwest => ("northwest", "西北", "Northwest"),
        };
        lang.pick(code, zh, en)
    }
}

/// The label of a city tier code (`tier1`, `new_tier1`, `tier2` ... `tier5`); `None` for another
/// code.
pub fn city_tier_label(tier: &str, lang: Lang) -> Option<&str> {
    let (zh, en) = match tier {
        "tier1" => ("一线城市", "Tier 1"),
        "new_tier1" => ("新一线城市", "New tier 1"),
        "tier2" => ("二线城市", "Tier 2"),
        "tier3" => ("三线城市", "Tier 3"),
        "tier4" => ("四线城市", "Tier 4"),
        "tier5" => ("五线城市", "Tier 5"),
        _ => return None,
    };
    Some(lang.pick(tier, zh, en))
}

/// North or south of the Qinling–Huaihe line.
pub fn side_label(north: bool, lang: Lang) -> &'static str {
    match (north, lang) {
        (true, Lang::Zh) => "北方",
        (false, Lang::Zh) => "南方",
        (true, Lang::En) => "North",
        (false, Lang::En) => "South",
        (true, Lang::Code) => "north",
        (false, Lang::Code) => "south",
    }
}

/// One provincial-level division.
#[derive(Debug)]
pub struct Province {
    /// short Chinese name (广东)
    pub zh: &'static str,
    /// official Chinese name (广东省, 广西壮族自治区)
    pub official: &'static str,
    /// English name, then other romanisations accepted on input
    pub en: &'static str,
    pub en_aliases: &'static [&'static str],
    pub region: Region,
    pub north: bool,
}

macro_rules! prov {
    ($zh:literal, $off:literal, $en:literal, [$($al:literal),*], $r:ident, $n:literal) => {
        Province { zh: $zh, official: $off, en: $en, en_aliases: &[$($al),*], region: Region::$r, north: $n }
    };
}

/// All 34 provincial-level divisions.
pub static PROVINCES: [Province; 34] = [
    prov!("北京", "北京市", "Beijing", ["Peking"], North, true),
    prov!("天津", "天津市", "Tianjin", [], North, true),
    prov!("河北", "河北省", "Hebei", [], North, true),
    prov!("山西", "山西省", "Shanxi", [], North, true),
    prov!("内蒙古", "内蒙古自治区", "Inner Mongolia", ["Nei Mongol", "Neimenggu"], North, true),
    prov!("辽宁", "辽宁省", "Liaoning", [], Northeast, true),
    prov!("吉林", "吉林省", "Jilin", [], Northeast, true),
    prov!("黑龙江", "黑龙江省", "Heilongjiang", [], Northeast, true),
    prov!("上海", "上海市", "Shanghai", [], East, false),
    prov!("江苏", "江苏省", "Jiangsu", [], East, false),
    prov!("浙江", "浙江省", "Zhejiang", [], East, false),
    prov!("安徽", "安徽省", "Anhui", [], East, false),
    prov!("福建", "福建省", "Fujian", [], East, false),
    prov!("江西", "江西省", "Jiangxi", [], East, false),
    prov!("山东", "山东省", "Shandong", [], East, true),
    prov!("台湾", "台湾省", "Taiwan", [], East, false),
    prov!("河南", "河南省", "Henan", [], Central, true),
    prov!("湖北", "湖北省", "Hubei", [], Central, false),
    prov!("湖南", "湖南省", "Hunan", [], Central, false),
    prov!("广东", "广东省", "Guangdong", [], South, false),
    prov!("广西", "广西壮族自治区", "Guangxi", [], South, false),
    prov!("海南", "海南省", "Hainan", [], South, false),
    prov!("香港", "香港特别行政区", "Hong Kong", ["Hongkong"], South, false),
    prov!("澳门", "澳门特别行政区", "Macao", ["Macau"], South, false),
    prov!("重庆", "重庆市", "Chongqing", [], Southwest, false),
    prov!("四川", "四川省", "Sichuan", [], Southwest, false),
    prov!("贵州", "贵州省", "Guizhou", [], Southwest, false),
    prov!("云南", "云南省", "Yunnan", [], Southwest, false),
    prov!("西藏", "西藏自治区", "Tibet", ["Xizang"], Southwest, false),
    prov!("陕西", "陕西省", "Shaanxi", [], Northwest, true),
    prov!("甘肃", "甘肃省", "Gansu", [], Northwest, true),
    prov!("青海", "青海省", "Qinghai", [], Northwest, true),
    prov!("宁夏", "宁夏回族自治区", "Ningxia", [], Northwest, true),
    prov!("新疆", "新疆维吾尔自治区", "Xinjiang", [], Northwest, true),
];

/// ASCII letters and digits only, lower-cased ("Inner Mongolia" -> "innermongolia").
fn latin_key(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// English suffixes dropped before matching, longest first.
const EN_SUFFIXES: [&str; 9] = [
    "zhuangautonomousregion",
    "uyghurautonomousregion",
    "uygurautonomousregion",
    "huiautonomousregion",
    "specialadministrativeregion",
    "autonomousregion",
    "municipality",
    "province",
    "sar",
];

/// The province a name denotes: short (广东) or official (广东省, 广西壮族自治区) Chinese name,
/// the short name plus 省/市, or the English name (case, spaces and a suffix such as
/// "Province", "Autonomous Region" or "SAR" ignored). Unknown names give None.
pub fn province(name: &str) -> Option<&'static Province> {
    let s = name.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(p) = PROVINCES.iter().find(|p| p.zh == s || p.official == s) {
        return Some(p);
    }
    if let Some(short) = s.strip_suffix('省').or_else(|| s.strip_suffix('市')) {
        if let Some(p) = PROVINCES.iter().find(|p| p.zh == short) {
            return Some(p);
        }
    }
    if !s.is_ascii() {
        return None;
    }
    let mut k = latin_key(s);
    for suf in EN_SUFFIXES {
        if k.len() > suf.len() {
            if let Some(stripped) = k.strip_suffix(suf) {
                k = stripped.to_string();
                break;
            }
        }
    }
    // "Xinjiang Uyghur" (suffix already dropped) -> "xinjianguyghur"
    PROVINCES.iter().find(|p| {
        latin_key(p.en) == k
            || p.en_aliases.iter().any(|a| latin_key(a) == k)
            || (p.zh == "新疆" && (k == "xinjianguyghur" || k == "xinjianguygur"))
    })
}

pub fn province_name(name: &str, lang: Lang) -> Option<&'static str> {
    province(name).map(|p| match lang {
        Lang::Zh => p.zh,
        Lang::En | Lang::Code => p.en,
    })
}

pub fn china_region(name: &str) -> Option<Region> {
    province(name).map(|p| p.region)
}

pub fn is_north(name: &str) -> Option<bool> {
    province(name).map(|p| p.north)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i64, m: u32, day: u32) -> i64 {
        pg_day(y, m, day)
    }

    #[test]
    fn age_is_completed_years() {
        assert_eq!(age_years(d(2000, 5, 10), d(2025, 5, 9)), Some(24));
        assert_eq!(age_years(d(2000, 5, 10), d(2025, 5, 10)), Some(25));
        assert_eq!(age_years(d(2000, 2, 29), d(2025, 2, 28)), Some(24));
        assert_eq!(age_years(d(2000, 2, 29), d(2025, 3, 1)), Some(25));
        assert_eq!(age_years(d(2000, 2, 29), d(2024, 2, 29)), Some(24));
        assert_eq!(age_years(d(2025, 1, 2), d(2025, 1, 1)), None);
        assert_eq!(age_years(d(2025, 1, 1), d(2025, 1, 1)), Some(0));
    }

    #[test]
    fn default_bands_put_18_in_the_first_band() {
        let b = AgeBands::default();
        let code = |age| b.band(age).code.clone();
        assert_eq!(code(0), "0-18");
        assert_eq!(code(18), "0-18");
        assert_eq!(code(19), "19-24");
        assert_eq!(code(24), "19-24");
        assert_eq!(code(25), "25-28");
        assert_eq!(code(28), "25-28");
        assert_eq!(code(29), "29-33");
        assert_eq!(code(33), "29-33");
        assert_eq!(code(34), "34-40");
        assert_eq!(code(40), "34-40");
        assert_eq!(code(41), "41-50");
        assert_eq!(code(50), "41-50");
        assert_eq!(code(51), "51+");
        assert_eq!(code(120), "51+");
        assert_eq!(b.band(18).zh, "18岁及以下");
        assert_eq!(b.band(51).en, "over 50");
        assert_eq!(b.band(30).zh, "29-33岁");
    }

    #[test]
    fn configured_bands() {
        let b = AgeBands::parse(r#"{"upper": [17, 30]}"#).unwrap();
        assert_eq!(b.band(17).code, "0-17");
        assert_eq!(b.band(18).code, "18-30");
        assert_eq!(b.band(31).code, "31+");
        assert!(AgeBands::parse(r#"{"upper": [30, 20]}"#).unwrap_err().message.contains("upper"));
        assert!(AgeBands::parse(r#"{"upper": [20.5]}"#).unwrap_err().message.contains("whole"));
        assert!(AgeBands::parse(r#"{"bands": [20]}"#).unwrap_err().message.contains("unknown key"));
        assert_eq!(AgeBands::parse("{}").unwrap(), AgeBands::default());
    }

    #[test]
    fn birthday_windows() {
        // plain
        assert!(birthday_within(d(1990, 6, 10), d(2025, 6, 3), 7).unwrap());
        assert!(!birthday_within(d(1990, 6, 10), d(2025, 6, 2), 7).unwrap());
        assert!(birthday_within(d(1990, 6, 10), d(2025, 6, 10), 0).unwrap());
        assert!(!birthday_within(d(1990, 6, 10), d(2025, 6, 11), 30).unwrap());
        // across the year end
        assert!(birthday_within(d(1990, 1, 3), d(2025, 12, 28), 7).unwrap());
        assert!(!birthday_within(d(1990, 1, 5), d(2025, 12, 28), 7).unwrap());
        assert_eq!(next_birthday(d(1990, 1, 3), d(2025, 12, 28)), d(2026, 1, 3));
        // 29 February: 28 February in non-leap years
        assert_eq!(next_birthday(d(2000, 2, 29), d(2025, 2, 1)), d(2025, 2, 28));
        assert_eq!(next_birthday(d(2000, 2, 29), d(2024, 2, 1)), d(2024, 2, 29));
        assert_eq!(next_birthday(d(2000, 2, 29), d(2025, 3, 1)), d(2026, 2, 28));
        assert_eq!(next_birthday(d(2000, 2, 29), d(2027, 3, 1)), d(2028, 2, 29));
        assert!(birthday_within(d(2000, 2, 29), d(2025, 2, 28), 0).unwrap());
        assert!(!birthday_within(d(2000, 2, 29), d(2025, 3, 1), 300).unwrap());
        // window of a whole year always contains the birthday
        for start in [d(2025, 1, 1), d(2025, 3, 1), d(2027, 12, 31)] {
            assert!(birthday_within(d(2000, 2, 29), start, 366).unwrap());
            assert!(birthday_within(d(1999, 12, 31), start, 365).unwrap());
        }
        // not born yet
        assert!(!birthday_within(d(2026, 1, 1), d(2025, 12, 30), 10).unwrap());
        assert!(birthday_within(d(1990, 1, 1), d(2025, 1, 1), -1).unwrap_err().message.contains("days"));
        assert!(birthday_within(d(1990, 1, 1), d(2025, 1, 1), 367).is_err());
    }

    #[test]
    fn every_province_by_every_name() {
        assert_eq!(PROVINCES.len(), 34);
        for p in &PROVINCES {
            let mut forms = vec![
                p.zh.to_string(),
                p.official.to_string(),
                p.en.to_string(),
                p.en.to_uppercase(),
                p.en.to_lowercase(),
                format!(" {} ", p.en),
            ];
            forms.extend(p.en_aliases.iter().map(|a| a.to_string()));
            for f in forms {
                assert!(std::ptr::eq(province(&f).unwrap_or_else(|| panic!("{f}")), p), "{f}");
            }
        }
        assert_eq!(province("广东省").unwrap().zh, "广东");
        assert_eq!(province("北京市").unwrap().zh, "北京");
        assert_eq!(province("广西壮族自治区").unwrap().zh, "广西");
        assert_eq!(province("Guangdong Province").unwrap().zh, "广东");
        assert_eq!(province("Guangxi Zhuang Autonomous Region").unwrap().zh, "广西");
        assert_eq!(province("Xinjiang Uyghur Autonomous Region").unwrap().zh, "新疆");
        assert_eq!(province("Hong Kong SAR").unwrap().zh, "香港");
        assert_eq!(province("hongkong").unwrap().zh, "香港");
        assert_eq!(province("Shaanxi").unwrap().zh, "陕西");
        assert_eq!(province("Shanxi").unwrap().zh, "山西");
        assert_eq!(province("Beijing Municipality").unwrap().zh, "北京");
        for unknown in ["", "  ", "广", "Atlantis", "省", "sar", "province", "东京", "广东东"] {
            assert!(province(unknown).is_none(), "{unknown}");
        }
    }

    #[test]
    fn regions_and_sides_over_the_whole_table() {
        let count = |r: Region| PROVINCES.iter().filter(|p| p.region == r).count();
        assert_eq!(Region::ALL.map(count), [3, 5, 8, 3, 5, 5, 5]);
        assert_eq!(china_region("香港"), Some(Region::South));
        assert_eq!(china_region("澳门"), Some(Region::South));
        assert_eq!(china_region("台湾"), Some(Region::East));
        assert_eq!(china_region("Atlantis"), None);
        let north: Vec<&str> = PROVINCES.iter().filter(|p| p.north).map(|p| p.zh).collect();
        assert_eq!(
            north,
            ["北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "山东", "河南", "陕西", "甘肃", "青海", "宁夏", "新疆"]
        );
        assert_eq!(is_north("江苏"), Some(false));
        assert_eq!(is_north("Anhui"), Some(false));
        assert_eq!(is_north("西藏"), Some(false));
        assert_eq!(is_north("Nowhere"), None);
        assert_eq!(side_label(true, Lang::Zh), "北方");
        assert_eq!(Region::East.label(Lang::En), "East");
    }
}
