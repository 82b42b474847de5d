//! Metadata edits: the CSV's `updates` and `removals` columns (base-cfg.json's
//! `update` and `remove`), which padocc 1.5.1 stores and never applies (spec
//! §8.1 item 11). Here every product kind is made with them, and validation
//! applies them to the sources' attributes before comparing.
//!
//! `update` is a JSON object `{"name": value}`; `remove` a JSON list of names
//! (or one comma-separated string). Either may be given as the path of a JSON
//! file holding it, as padocc allows. A name `var.attr` edits the attribute
//! `attr` of variable `var` (padocc's `rem.json` has `["time.axis"]`); any other
//! name is a global attribute.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{AttrValue, Attrs, Group, VirtualDataset};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttrEdits {
    /// (variable, attribute, value); variable None: global.
    pub set: Vec<(Option<String>, String, AttrValue)>,
    /// (variable, attribute).
    pub remove: Vec<(Option<String>, String)>,
}

/// A cell of the CSV as padocc stores it: a JSON file's path, JSON text, or
/// (removals) plain comma-separated names.
fn load(cell: &Value, what: &str) -> Result<Value> {
    match cell {
        Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
        Value::String(s) if s.trim_end().ends_with(".json") => {
            let p = Path::new(s.trim());
            let text = std::fs::read_to_string(p).map_err(|e| Error::input_io(p, e))?;
            serde_json::from_str(&text).map_err(|e| Error::corrupt(p, format!("{what} is not JSON: {e}")))
        }
        Value::String(s) => Ok(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))),
        v => Ok(v.clone()),
    }
}

/// A JSON value as an attribute (None: not a string, a number or a list of them).
pub fn attr_value(v: &Value) -> Option<AttrValue> {
    let all = |a: &[Value], f: fn(&Value) -> bool| !a.is_empty() && a.iter().all(f);
    Some(match v {
        Value::String(s) => AttrValue::Str(s.clone()),
        Value::Bool(b) => AttrValue::Ints(vec![i64::from(*b)]),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AttrValue::Ints(vec![i]),
            None => AttrValue::Floats(vec![n.as_f64()?]),
        },
        Value::Array(a) if all(a, Value::is_i64) => AttrValue::Ints(a.iter().filter_map(Value::as_i64).collect()),
        Value::Array(a) if all(a, Value::is_number) => AttrValue::Floats(a.iter().filter_map(Value::as_f64).collect()),
        Value::Array(a) if all(a, Value::is_string) => AttrValue::Strs(a.iter().filter_map(|s| s.as_str().map(String::from)).collect()),
        _ => return None,
    })
}

/// `var.attr` → (Some(var), attr); a name without a dot → (None, name).
pub fn target(name: &str) -> (Option<String>, String) {
    match name.split_once('.') {
        Some((v, a)) if !v.is_empty() && !a.is_empty() => (Some(v.to_string()), a.to_string()),
        _ => (None, name.to_string()),
    }
}

impl AttrEdits {
    /// From base-cfg.json's `update` and `remove` (absent, null or "": none).
    pub fn from_config(update: Option<&Value>, remove: Option<&Value>) -> Result<AttrEdits> {
        let mut e = AttrEdits::default();
        match update.map(|u| load(u, "updates")).transpose()? {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    let value = attr_value(&v).ok_or_else(|| Error::Usage(format!("updates: the value of '{k}' ({v}) is not a string, a number or a list of them")))?;
                    let (var, attr) = target(&k);
                    e.set.push((var, attr, value));
                }
            }
            Some(other) => return Err(Error::Usage(format!("updates must be a JSON object {{\"name\": value}} (or a .json file holding one), not {other}"))),
        }
        match remove.map(|r| load(r, "removals")).transpose()? {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => e.remove.extend(a.iter().filter_map(Value::as_str).map(target)),
            Some(Value::String(s)) => e.remove.extend(s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(target)),
            Some(other) => return Err(Error::Usage(format!("removals must be a JSON list of names (or a .json file holding one), not {other}"))),
        }
        Ok(e)
    }

    /// The edits as `(update, remove)` JSON, which [`AttrEdits::from_config`]
    /// reads back (for validation shares in other processes).
    pub fn to_config(&self) -> (Value, Value) {
        let name = |v: &Option<String>, a: &str| v.as_ref().map_or_else(|| a.to_string(), |v| format!("{v}.{a}"));
        let json = |x: &AttrValue| match x {
            AttrValue::Str(s) => Value::from(s.clone()),
            AttrValue::Strs(v) => Value::from(v.clone()),
            AttrValue::Ints(v) if v.len() == 1 => Value::from(v[0]),
            AttrValue::Ints(v) => Value::from(v.clone()),
            AttrValue::UInts(v) if v.len() == 1 => Value::from(v[0]),
            AttrValue::UInts(v) => Value::from(v.clone()),
            AttrValue::Floats(v) if v.len() == 1 => Value::from(v[0]),
            AttrValue::Floats(v) => Value::from(v.clone()),
        };
        let update: serde_json::Map<String, Value> = self.set.iter().map(|(v, a, x)| (name(v, a), json(x))).collect();
        let remove: Vec<Value> = self.remove.iter().map(|(v, a)| Value::from(name(v, a))).collect();
        (Value::Object(update), Value::Array(remove))
    }

    /// Add `later`'s edits; where both name the same attribute, `later`
    /// wins (setting what was removed, or removing what was set).
    pub fn merge(&mut self, later: &AttrEdits) {
        for (v, a, x) in &later.set {
            self.remove.retain(|(rv, ra)| !(rv == v && ra == a));
            match self.set.iter_mut().find(|(sv, sa, _)| sv == v && sa == a) {
                Some(slot) => slot.2 = x.clone(),
                None => self.set.push((v.clone(), a.clone(), x.clone())),
            }
        }
        for (v, a) in &later.remove {
            self.set.retain(|(sv, sa, _)| !(sv == v && sa == a));
            if !self.remove.iter().any(|(rv, ra)| rv == v && ra == a) {
                self.remove.push((v.clone(), a.clone()));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// What the edits do to one attribute set: the names removed, then the
    /// names set. `var` is the variable's name (None: global). A `var.attr`
    /// name whose variable does not exist is a global attribute with a dot in
    /// its name.
    pub fn aimed_at(&self, var: Option<&str>, var_exists: impl Fn(&str) -> bool) -> (Vec<String>, Vec<(String, &AttrValue)>) {
        let aimed = |v: &Option<String>, a: &str| -> Option<String> {
            match (v, var) {
                (Some(v), Some(me)) if v == me => Some(a.to_string()),
                (Some(v), None) if !var_exists(v) => Some(format!("{v}.{a}")),
                (None, None) => Some(a.to_string()),
                _ => None,
            }
        };
        let removed = self.remove.iter().filter_map(|(v, a)| aimed(v, a)).collect();
        let set = self.set.iter().filter_map(|(v, a, x)| aimed(v, a).map(|n| (n, x))).collect();
        (removed, set)
    }

    /// Apply to one attribute set (see [`AttrEdits::aimed_at`]).
    pub fn apply_to(&self, attrs: &mut Attrs, var: Option<&str>, var_exists: impl Fn(&str) -> bool) {
        let (removed, set) = self.aimed_at(var, var_exists);
        for name in removed {
            attrs.remove(&name);
        }
        for (name, value) in set {
            attrs.insert(&name, value.clone());
        }
    }

    /// Apply to a dataset read from one file (every group's variables; global
    /// names to the root group).
    pub fn apply(&self, vds: &mut VirtualDataset) {
        if self.is_empty() {
            return;
        }
        let names: Vec<String> = vds.root.vars.iter().map(|v| v.name.clone()).collect();
        let exists = |n: &str| names.iter().any(|x| x == n);
        self.apply_to(&mut vds.root.attrs, None, exists);
        fn vars(g: &mut Group, e: &AttrEdits, exists: &dyn Fn(&str) -> bool) {
            for v in &mut g.vars {
                e.apply_to(&mut v.attrs, Some(&v.name.clone()), exists);
            }
            for sub in &mut g.groups {
                vars(sub, e, exists);
            }
        }
        vars(&mut vds.root, self, &exists);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padocc_cells_and_targets() {
        let e = AttrEdits::from_config(Some(&serde_json::json!(r#"{"title": "T", "time.axis": "T", "version": 3}"#)), Some(&serde_json::json!("history, lat.units"))).unwrap();
        assert_eq!(e.set.len(), 3);
        assert_eq!(e.remove, vec![(None, "history".to_string()), (Some("lat".into()), "units".into())]);
        let mut g = Attrs(vec![("history".into(), AttrValue::Str("h".into())), ("a.b".into(), AttrValue::Str("x".into()))]);
        e.apply_to(&mut g, None, |v| v == "time" || v == "lat");
        assert_eq!(g.get("title"), Some(&AttrValue::Str("T".into())));
        assert_eq!(g.get("version"), Some(&AttrValue::Ints(vec![3])));
        assert!(g.get("history").is_none() && g.get("a.b").is_some() && g.get("time.axis").is_none());
        let mut t = Attrs(vec![("axis".into(), AttrValue::Str("X".into()))]);
        e.apply_to(&mut t, Some("time"), |_| true);
        assert_eq!(t.get("axis"), Some(&AttrValue::Str("T".into())));
        let mut lat = Attrs(vec![("units".into(), AttrValue::Str("deg".into()))]);
        e.apply_to(&mut lat, Some("lat"), |_| true);
        assert!(lat.get("units").is_none());
        assert!(AttrEdits::from_config(Some(&serde_json::json!("")), None).unwrap().is_empty());
        assert!(AttrEdits::from_config(Some(&serde_json::json!("[1]")), None).is_err());
    }

    #[test]
    fn later_edits_win() {
        let mut e = AttrEdits::from_config(Some(&serde_json::json!({"title": "A", "x": 1})), Some(&serde_json::json!(["history"]))).unwrap();
        let later = AttrEdits::from_config(Some(&serde_json::json!({"history": "h", "title": "B"})), Some(&serde_json::json!(["x"]))).unwrap();
        e.merge(&later);
        let (update, remove) = e.to_config();
        assert_eq!(update, serde_json::json!({"title": "B", "history": "h"}));
        assert_eq!(remove, serde_json::json!(["x"]));
    }
}
