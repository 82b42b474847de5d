//! A project's two JSON files as typed values: `base-cfg.json` (what the
//! project is and how to make its product) and `detail-cfg.json` (what scan
//! and compute found). Keys this tool does not know, written by padocc 1.5.1 or
//! added by users, are kept in `extra` and written back as they were; a value
//! of an unexpected type in a known key is read as padocc would (a bool
//! written as "True", a version written as a number).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `base-cfg.json`, in padocc 1.5.1's key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseCfg {
    #[serde(default)]
    pub proj_code: String,
    /// A glob, a list file, or a list of paths.
    #[serde(default)]
    pub pattern: Value,
    #[serde(default)]
    pub updates: Value,
    #[serde(default)]
    pub removals: Value,
    #[serde(default = "first_version", deserialize_with = "text")]
    pub version_no: String,
    #[serde(default = "unknown_properties")]
    pub data_properties: Value,
    #[serde(rename = "override", default)]
    pub cloud: CloudOverride,
    #[serde(default = "no_run")]
    pub last_run: Value,
    #[serde(default, deserialize_with = "flag")]
    pub remote: bool,
    #[serde(rename = "disable_CFA", default, deserialize_with = "flag")]
    pub disable_cfa: bool,
    #[serde(default = "all_vars")]
    pub keep_vars: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `override`: the product's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudOverride {
    /// kerchunk, zarr or CFA.
    #[serde(default = "kerchunk", deserialize_with = "text")]
    pub cloud_type: String,
    /// json or parq (kerchunk only).
    #[serde(default = "json_type", deserialize_with = "text")]
    pub file_type: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for CloudOverride {
    fn default() -> CloudOverride {
        CloudOverride { cloud_type: kerchunk(), file_type: json_type(), extra: Map::new() }
    }
}

/// `detail-cfg.json`: what scan and compute measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetailCfg {
    /// Sizes as padocc formats them (`15.49 KB`).
    #[serde(default)]
    pub source_data: Option<String>,
    #[serde(default)]
    pub cloud_data: Option<String>,
    #[serde(default)]
    pub scanned_with: Option<String>,
    #[serde(default)]
    pub num_files: Option<u64>,
    #[serde(default)]
    pub timings: Map<String, Value>,
    #[serde(default)]
    pub chunk_info: Value,
    #[serde(default)]
    pub kwargs: Map<String, Value>,
    #[serde(default, deserialize_with = "flag")]
    pub virtual_concat: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BaseCfg {
    /// padocc's `BASE_CFG` for a new project.
    pub fn new(code: &str) -> BaseCfg {
        let mut b: BaseCfg = serde_json::from_value(serde_json::json!({})).expect("defaults deserialise");
        b.proj_code = code.to_string();
        b
    }

    pub fn is_cfa(&self) -> bool {
        self.cloud.cloud_type.eq_ignore_ascii_case("cfa")
    }

    /// The key/value view (for `check_attr`/`set_attr` by dotted path).
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    pub fn from_map(m: Map<String, Value>) -> serde_json::Result<BaseCfg> {
        serde_json::from_value(Value::Object(m))
    }
}

impl DetailCfg {
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    pub fn from_map(m: Map<String, Value>) -> serde_json::Result<DetailCfg> {
        serde_json::from_value(Value::Object(m))
    }

    /// scan's estimate named `key` (e.g. `compute_memory_bytes`).
    pub fn estimate(&self, key: &str) -> Option<u64> {
        self.extra.get("estimates").and_then(|e| e.get(key)).and_then(Value::as_u64)
    }
}

fn first_version() -> String {
    "1.0".into()
}
fn kerchunk() -> String {
    "kerchunk".into()
}
fn json_type() -> String {
    "json".into()
}
fn no_run() -> Value {
    serde_json::json!([null, null])
}
fn all_vars() -> Value {
    Value::String("all".into())
}
fn unknown_properties() -> Value {
    serde_json::json!({"aggregated_dims": "Unknown", "pure_dims": "Unknown", "coord_dims": "Unknown", "virtual_dims": "Unknown",
        "aggregated_vars": "Unknown", "scalar_vars": "Unknown", "identical_vars": "Unknown"})
}

/// A bool as padocc may have stored it: true/false, "True"/"False", 0/1, null.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => matches!(s.as_str(), "True" | "true" | "1" | "yes" | "y"),
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => false,
    })
}

/// Text, or a number written where text belongs (`"version_no": 1.1`).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        v => v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_survive_a_round_trip_in_place() {
        let text = r#"{"proj_code":"p","pattern":"/d/*.nc","version_no":"1.1","override":{"cloud_type":"zarr","file_type":"json","chunks":{"time":12}},"remote":"False","my_note":"keep me","disable_CFA":true}"#;
        let b: BaseCfg = serde_json::from_str(text).unwrap();
        assert_eq!(b.cloud.cloud_type, "zarr");
        assert!(!b.remote && b.disable_cfa);
        assert_eq!(b.extra["my_note"], "keep me");
        let back = serde_json::to_value(&b).unwrap();
        assert_eq!(back["override"]["chunks"]["time"], 12);
        assert_eq!(back["my_note"], "keep me");
        // padocc's key order first, unknown keys after.
        let keys: Vec<&String> = back.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "proj_code");
        assert_eq!(keys.last().unwrap().as_str(), "my_note");
    }

    #[test]
    fn defaults_are_padoccs() {
        let b = BaseCfg::new("rain1");
        assert_eq!((b.version_no.as_str(), b.cloud.cloud_type.as_str(), b.cloud.file_type.as_str()), ("1.0", "kerchunk", "json"));
        assert_eq!(b.keep_vars, "all");
        let n: BaseCfg = serde_json::from_str(r#"{"proj_code":"x","version_no":1.1}"#).unwrap();
        assert_eq!(n.version_no, "1.1");
        let d: DetailCfg = serde_json::from_str(r#"{"num_files":3,"estimates":{"compute_memory_bytes":5}}"#).unwrap();
        assert_eq!((d.num_files, d.estimate("compute_memory_bytes")), (Some(3), Some(5)));
    }
}
