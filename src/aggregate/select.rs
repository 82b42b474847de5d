//! Variable selection: padocc's `keep_vars` (base-cfg.json, the CSV's columns
//! after the fourth) and `drop_vars`. As padocc 1.5.1 does (spec §4.3.4), the
//! variables kept are those named plus the coordinate variables of their
//! dimensions; `drop_vars` then removes names from what is left. Every product
//! kind is made from the selection and validation compares only it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::{Group, VirtualDataset};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Variables to keep (empty: all). A name matches a variable of any
    /// group by its name, or by its path (`group/name`).
    pub keep: Vec<String>,
    /// Variables to leave out.
    pub drop: Vec<String>,
}

impl Selection {
    /// From base-cfg.json's `keep_vars` (`"all"` or a list) and `drop_vars`.
    pub fn from_config(keep_vars: &Value, drop_vars: Option<&Value>) -> Selection {
        let names = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(String::from).collect(),
                // A single name; "all" (padocc's default) selects everything.
                Some(Value::String(s)) if !s.is_empty() && s != "all" => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
                _ => vec![],
            }
        };
        Selection { keep: names(Some(keep_vars)), drop: names(drop_vars) }
    }

    pub fn is_all(&self) -> bool {
        self.keep.is_empty() && self.drop.is_empty()
    }

    fn named(list: &[String], path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        list.iter().any(|k| k == path || k == name)
    }

    /// The paths kept among `vars`, each given as (path, dimensions).
    pub fn kept<'a>(&self, vars: impl IntoIterator<Item = (&'a str, &'a [String])> + Clone) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (path, dims) in vars.clone() {
            if self.keep.is_empty() || Self::named(&self.keep, path) {
                out.insert(path.to_string());
                // The coordinate variables of its dimensions, in its group.
                let group = path.rsplit_once('/').map(|(g, _)| format!("{g}/")).unwrap_or_default();
                for d in dims {
                    let coord = format!("{group}{d}");
                    if vars.clone().into_iter().any(|(p, _)| p == coord) {
                        out.insert(coord);
                    }
                }
            }
        }
        out.retain(|p| !Self::named(&self.drop, p));
        out
    }

    /// Remove the variables not selected from one file's dataset.
    pub fn apply(&self, vds: &mut VirtualDataset) {
        if self.is_all() {
            return;
        }
        let all: Vec<(String, Vec<String>)> = vds.groups().iter().flat_map(|g| g.vars.iter().map(|v| (format!("{}{}", g.key_prefix(), v.name), v.dims.clone()))).collect();
        let kept = self.kept(all.iter().map(|(p, d)| (p.as_str(), d.as_slice())));
        retain(&mut vds.root, &kept);
        vds.coords.retain(|(name, _)| kept.contains(name));
    }
}

fn retain(g: &mut Group, kept: &BTreeSet<String>) {
    let prefix = g.key_prefix();
    g.vars.retain(|v| kept.contains(&format!("{prefix}{}", v.name)));
    for sub in &mut g.groups {
        retain(sub, kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(&'static str, Vec<String>)> {
        let d = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        vec![
            ("time", d(&["time"])),
            ("lat", d(&["lat"])),
            ("lon", d(&["lon"])),
            ("time_bnds", d(&["time", "bnds"])),
            ("tas", d(&["time", "lat", "lon"])),
            ("pr", d(&["time", "lat", "lon"])),
            ("obs/t", d(&["n"])),
            ("obs/n", d(&["n"])),
        ]
    }

    fn kept(sel: &Selection) -> Vec<String> {
        let v = vars();
        sel.kept(v.iter().map(|(p, d)| (*p, d.as_slice()))).into_iter().collect()
    }

    #[test]
    fn keep_brings_the_coordinates_of_its_dimensions() {
        let sel = Selection::from_config(&serde_json::json!(["tas"]), None);
        assert_eq!(kept(&sel), ["lat", "lon", "tas", "time"]);
        let sel = Selection::from_config(&serde_json::json!(["obs/t"]), None);
        assert_eq!(kept(&sel), ["obs/n", "obs/t"]);
    }

    #[test]
    fn all_drop_and_strings() {
        assert!(Selection::from_config(&serde_json::json!("all"), None).is_all());
        assert_eq!(kept(&Selection::from_config(&serde_json::json!("all"), None)).len(), 8);
        let sel = Selection::from_config(&serde_json::json!("all"), Some(&serde_json::json!(["pr", "time_bnds"])));
        assert_eq!(kept(&sel), ["lat", "lon", "obs/n", "obs/t", "tas", "time"]);
        let sel = Selection::from_config(&serde_json::json!("tas, pr"), Some(&serde_json::json!("lon")));
        assert_eq!(kept(&sel), ["lat", "pr", "tas", "time"]);
    }
}
