//! Strict reading of jsonb configuration: unknown keys, wrong types and bad values are errors
//! (SQLSTATE 22023) whose message names the key and the expected form.

use super::{Error, Result};
use serde_json::{Map, Value};

/// A JSON document to read: the text of a jsonb argument, or a value already parsed (a key of an
/// enclosing document, such as the `lifecycle` of population options), read by the same code.
pub enum Json<'a> {
    Text(&'a str),
    Value(Value),
}

impl<'a> From<&'a str> for Json<'a> {
    fn from(t: &'a str) -> Json<'a> {
        Json::Text(t)
    }
}

impl<'a> From<&'a String> for Json<'a> {
    fn from(t: &'a String) -> Json<'a> {
        Json::Text(t)
    }
}

impl From<Value> for Json<'_> {
    fn from(v: Value) -> Self {
        Json::Value(v)
    }
}

impl Json<'_> {
    /// The parsed document; invalid text is an error naming `what`.
    pub fn into_value(self, what: &str) -> Result<Value> {
        match self {
            Json::Text(t) => serde_json::from_str(t).map_err(|e| Error::invalid(format!("{what}: not valid JSON: {e}"))),
            Json::Value(v) => Ok(v),
        }
    }
}

/// A model document that one of our `*_fit` aggregates wrote (`kind`, `version` 1), parsed;
/// `bad(what)` is the error for a document that is not such a model.
pub fn model_doc(text: &str, kind: &str, bad: impl Fn(&str) -> Error) -> Result<Value> {
    let v: Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    if v.get("kind").and_then(Value::as_str) != Some(kind) {
        return Err(bad(&format!("missing \"kind\": \"{kind}\"")));
    }
    if v.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(Error::not_supported("model: version not supported by this pg_segment (expected 1)"));
    }
    Ok(v)
}

/// A JSON object being read; `finish()` rejects keys nobody asked for.
pub struct Obj<'a> {
    what: &'a str,
    map: Map<String, Value>,
}

impl<'a> Obj<'a> {
    pub fn parse(what: &'a str, text: &str) -> Result<Obj<'a>> {
        Self::read(what, text)
    }

    /// The object of a document given as text or already parsed.
    pub fn read<'d>(what: &'a str, doc: impl Into<Json<'d>>) -> Result<Obj<'a>> {
        Self::from_value(what, doc.into().into_value(what)?)
    }

    pub fn from_value(what: &'a str, v: Value) -> Result<Obj<'a>> {
        match v {
            Value::Object(map) => Ok(Obj { what, map }),
            Value::Null => Ok(Obj { what, map: Map::new() }),
            other => Err(Error::invalid(format!("{what} must be a JSON object, got {other}"))),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub fn f64(&mut self, key: &str, default: f64) -> Result<f64> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::invalid(format!("{}: key \"{key}\" must be a number, got {v}", self.what))),
        }
    }

    pub fn i64(&mut self, key: &str, default: i64) -> Result<i64> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| Error::invalid(format!("{}: key \"{key}\" must be a whole number, got {v}", self.what))),
        }
    }

    pub fn string(&mut self, key: &str, default: &str) -> Result<String> {
        match self.take(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(Error::invalid(format!("{}: key \"{key}\" must be a string, got {v}", self.what))),
        }
    }

    /// An ascending list of numbers (strictly ascending when `strict`).
    pub fn numbers(&mut self, key: &str, default: &[f64], strict: bool) -> Result<Vec<f64>> {
        let v = match self.take(key) {
            None => return Ok(default.to_vec()),
            Some(v) => v,
        };
        let form = if strict { "a strictly ascending array of 1 to 9 numbers" } else { "an ascending array of 1 to 9 numbers" };
        let err = || Error::invalid(format!("{}: key \"{key}\" must be {form}, got {v}", self.what));
        let arr = v.as_array().ok_or_else(err)?;
        let xs: Vec<f64> = arr.iter().map(|x| x.as_f64().filter(|f| f.is_finite())).collect::<Option<_>>().ok_or_else(err)?;
        let ordered = xs.windows(2).all(|w| if strict { w[0] < w[1] } else { w[0] <= w[1] });
        if xs.is_empty() || xs.len() > 9 || !ordered {
            return Err(err());
        }
        Ok(xs)
    }

    pub fn finish(self) -> Result<()> {
        if let Some(k) = self.map.keys().next() {
            return Err(Error::invalid(format!("{}: unknown key \"{k}\"", self.what)));
        }
        Ok(())
    }

    pub fn what(&self) -> &str {
        self.what
    }
}

/// Output language of labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
    /// stable snake_case codes, for storage and joins
    Code,
}

impl Lang {
    /// The text of a label in this language: `code`, `zh` or `en`.
    #[inline]
    pub fn pick<'a>(self, code: &'a str, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
            Lang::Code => code,
        }
    }

    pub fn parse(s: &str) -> Result<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            "code" => Ok(Lang::Code),
            other => Err(Error::invalid(format!("lang must be 'zh', 'en' or 'code', got '{other}'"))),
        }
    }
}

/// A label in both languages plus its code.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub code: String,
    pub zh: String,
    pub en: String,
}

impl Label {
    pub fn new(code: &str, zh: &str, en: &str) -> Label {
        Label { code: code.into(), zh: zh.into(), en: en.into() }
    }
    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.code, &self.zh, &self.en)
    }

    /// The label of a built-in table row `(code, zh, en)`.
    pub fn of(row: (&str, &str, &str)) -> Label {
        Label::new(row.0, row.1, row.2)
    }
    /// Reads `"label"`: a string (used for every language) or `{"zh": .., "en": ..}`, with an
    /// optional `"code"` beside it (defaults to the English label).
    pub fn read(obj: &mut Obj, index: usize) -> Result<Label> {
        let what = format!("{}[{index}]", obj.what());
        let code = match obj.take("code") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(v) => return Err(Error::invalid(format!("{what}: key \"code\" must be a string, got {v}"))),
        };
        let (zh, en) = match obj.take("label") {
            Some(Value::String(s)) => (s.clone(), s),
            Some(Value::Object(m)) => {
                let mut l = Obj { what: "label", map: m };
                let (zh, en) = (l.take("zh"), l.take("en"));
                l.finish().map_err(|e| Error::invalid(format!("{what}: {}", e.message)))?;
                let text = |lang: &str, v: Option<Value>| match v {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s)),
                    Some(v) => Err(Error::invalid(format!("{what}: key \"label\".\"{lang}\" must be a string, got {v}"))),
                };
                let (zh, en) = (text("zh", zh)?, text("en", en)?);
                match (zh, en) {
                    (Some(z), Some(e)) => (z, e),
                    (Some(z), None) => (z.clone(), z),
                    (None, Some(e)) => (e.clone(), e),
                    (None, None) => return Err(Error::invalid(format!("{what}: \"label\" needs \"zh\" or \"en\""))),
                }
            }
            _ => return Err(Error::invalid(format!("{what}: key \"label\" is required: a string or {{\"zh\": ..., \"en\": ...}}"))),
        };
        let code = code.unwrap_or_else(|| en.clone());
        Ok(Label { code, zh, en })
    }
}
