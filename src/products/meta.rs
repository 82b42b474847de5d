//! The attributes of a product already written, edited where it lies: the
//! global attributes and those of any variable, for every local product kind
//! (kerchunk JSON and Parquet, Zarr v3 and v2 stores, CF aggregation files).
//!
//! Each file is replaced by rename once its new version is complete, so a
//! kill leaves the old or the new one, never a mix. A store's documents are
//! changed variables first, root (consolidated metadata) last: a store read
//! between two of them is valid, with some variables edited.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::aggregate::edit::AttrEdits;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::AttrValue;

/// What [`edit`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edited {
    /// Attribute documents (or, in a netCDF file, attribute sets) rewritten.
    pub documents: usize,
}

/// Apply `edits` to the product at `path`, whatever its kind.
pub fn edit(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    if edits.is_empty() {
        return Ok(Edited::default());
    }
    if !path.exists() {
        return Err(Error::Missing { path: path.to_path_buf() });
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "nca" | "nc" => edit_netcdf(path, edits),
        "icechunk" => Err(Error::Usage(format!("{}: an Icechunk repository is edited by a new commit: record the edit in the project and run compute again", path.display()))),
        _ if path.is_file() => edit_kerchunk_json(path, edits),
        _ if path.join("zarr.json").is_file() => edit_zarr_v3(path, edits),
        _ if path.join(".zgroup").is_file() => edit_zarr_v2(path, edits),
        _ if path.join(".zmetadata").is_file() => edit_parquet(path, edits),
        _ => Err(Error::corrupt(path, "not a product this tool knows (kerchunk JSON/Parquet, Zarr store or .nca)")),
    }
}

/// The global attributes of the product at `path` (JSON values; NaN and
/// infinities as the strings "NaN"...).
pub fn read_global(path: &Path) -> Result<Map<String, Value>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let doc = match ext {
        "nca" | "nc" => {
            let f = crate::source::ncapi::NcFile::open(path).map_err(|e| Error::corrupt(path, e))?;
            let attrs = crate::source::ncapi::attributes(f.ncid, netcdf_sys::NC_GLOBAL).map_err(|e| Error::corrupt(path, e))?;
            return Ok(attrs.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect());
        }
        _ if path.is_file() => {
            let f = std::fs::File::open(path).map_err(|e| Error::input_io(path, e))?;
            let mut found = None;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| Error::input_io(path, e))?;
                if line.starts_with("\".zattrs\":") {
                    let entry = parse(&format!("{{{}}}", line.trim_end().trim_end_matches(','))).map_err(|e| Error::corrupt(path, e))?;
                    found = entry.get(".zattrs").cloned();
                    break;
                }
                if line.trim_end() != LINE_HEADER && !line.starts_with('"') {
                    // Not the line layout: the whole document.
                    found = read_json(path)?.pointer("/refs/.zattrs").cloned();
                    break;
                }
            }
            found
        }
        _ if path.join("zarr.json").is_file() => read_json(&path.join("zarr.json"))?.get("attributes").cloned(),
        _ if path.join(".zgroup").is_file() => path.join(".zattrs").is_file().then(|| read_json(&path.join(".zattrs"))).transpose()?,
        _ if path.join(".zmetadata").is_file() => read_json(&path.join(".zmetadata"))?.pointer("/metadata/.zattrs").cloned(),
        _ => return Err(Error::corrupt(path, "not a product this tool knows (kerchunk JSON/Parquet, Zarr store or .nca)")),
    };
    match doc {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(Value::String(s)) => match parse(&s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Error::corrupt(path, "the global attributes are not a JSON object")),
        },
        Some(_) => Err(Error::corrupt(path, "the global attributes are not a JSON object")),
    }
}

/// Bare NaN/Infinity (as Python's JSON writes them, and this tool's writers)
/// are held as strings between these marks while a document is edited, and
/// written back bare: a float attribute stays a float.
const MARK: &str = "\\u0000";

fn parse(s: &str) -> std::result::Result<Value, String> {
    serde_json::from_str(s).or_else(|_| serde_json::from_str(&super::reader::quote_bare_floats(s, MARK)).map_err(|e| e.to_string()))
}

fn text(v: &Value) -> String {
    let mut s = serde_json::to_string(v).expect("JSON");
    if s.contains("\\u0000") {
        for w in ["-Infinity", "Infinity", "NaN"] {
            s = s.replace(&format!("\"\\u0000{w}\\u0000\""), w);
        }
    }
    s
}

fn attr_json(v: &AttrValue) -> Value {
    let mut s = String::new();
    super::writer::attr_value_json(&mut s, v);
    parse(&s).unwrap_or(Value::Null)
}

/// Edit one attribute object; true when it changed.
fn edit_object(edits: &AttrEdits, attrs: &mut Map<String, Value>, var: Option<&str>, var_exists: &dyn Fn(&str) -> bool) -> bool {
    let before = attrs.clone();
    let (removed, set) = edits.aimed_at(var, var_exists);
    for name in removed {
        attrs.shift_remove(&name);
    }
    for (name, value) in set {
        attrs.insert(name, attr_json(value));
    }
    *attrs != before
}

/// Edit an attribute document as stored in reference metadata: a JSON object,
/// or (kerchunk's form) a string holding one; kept in the form it had.
fn edit_attr_doc(edits: &AttrEdits, doc: &mut Value, var: Option<&str>, var_exists: &dyn Fn(&str) -> bool, path: &Path) -> Result<bool> {
    let (mut attrs, as_text) = match doc {
        Value::String(s) => match parse(s) {
            Ok(Value::Object(m)) => (m, true),
            _ => return Err(Error::corrupt(path, "an attribute document is not a JSON object")),
        },
        Value::Object(m) => (m.clone(), false),
        _ => return Err(Error::corrupt(path, "an attribute document is not a JSON object")),
    };
    if !edit_object(edits, &mut attrs, var, var_exists) {
        return Ok(false);
    }
    *doc = if as_text { Value::String(text(&Value::Object(attrs))) } else { Value::Object(attrs) };
    Ok(true)
}

/// The variable a metadata key's `.zattrs` belongs to (None: the root group),
/// given the set of array paths; group attributes other than the root's are
/// not edited (Some(None)).
fn zattrs_owner<'a>(key: &'a str, arrays: &HashSet<String>) -> Option<Option<&'a str>> {
    if key == ".zattrs" {
        return Some(None);
    }
    let node = key.strip_suffix("/.zattrs")?;
    if arrays.contains(node) {
        return Some(Some(node.rsplit('/').next().unwrap_or(node)));
    }
    None
}

/// Whether `name` is a variable for `var.attr` names: a root variable, as
/// compute and validate decide (aggregate::edit::AttrEdits::apply); otherwise
/// `var.attr` is a global attribute with a dot in its name.
fn exists_in(arrays: &HashSet<String>) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| arrays.contains(name)
}

/// Edit every `.zattrs` of a kerchunk/consolidated metadata map; a root
/// `.zattrs` made here is a JSON string in kerchunk references (`as_text`),
/// an object in consolidated metadata.
fn edit_metadata_map(edits: &AttrEdits, map: &mut Map<String, Value>, path: &Path, as_text: bool) -> Result<usize> {
    let arrays: HashSet<String> = map.keys().filter_map(|k| k.strip_suffix("/.zarray")).map(String::from).collect();
    let exists = exists_in(&arrays);
    let mut n = 0;
    let keys: Vec<String> = map.keys().filter(|k| zattrs_owner(k, &arrays).is_some()).cloned().collect();
    for key in keys {
        let owner = zattrs_owner(&key, &arrays).expect("filtered");
        if edit_attr_doc(edits, map.get_mut(&key).expect("key"), owner, &exists, path)? {
            n += 1;
        }
    }
    // An edit that sets a global attribute of a store without root attributes.
    if !map.contains_key(".zattrs") {
        let mut doc = if as_text { Value::String("{}".into()) } else { Value::Object(Map::new()) };
        if edit_attr_doc(edits, &mut doc, None, &exists, path)? {
            map.insert(".zattrs".into(), doc);
            n += 1;
        }
    }
    Ok(n)
}

fn read_json(path: &Path) -> Result<Value> {
    let s = std::fs::read_to_string(path).map_err(|e| Error::input_io(path, e))?;
    parse(&s).map_err(|e| Error::corrupt(path, format!("not JSON: {e}")))
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = text(v);
    fsutil::write_file_atomic(path, |w| w.write_all(text.as_bytes()).map_err(|e| Error::output(path, e)))
}

/// The header this tool's JSON writer starts with: then one key per line.
const LINE_HEADER: &str = "{\"version\": 1, \"refs\": {";

fn edit_kerchunk_json(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    let first = {
        let f = std::fs::File::open(path).map_err(|e| Error::input_io(path, e))?;
        let mut line = String::new();
        BufReader::new(f).read_line(&mut line).map_err(|e| Error::input_io(path, e))?;
        line
    };
    if first.trim_end() == LINE_HEADER {
        return edit_kerchunk_lines(path, edits);
    }
    // Any other layout (padocc writes one line): the whole document.
    let mut doc = read_json(path)?;
    let refs = doc.get_mut("refs").and_then(Value::as_object_mut).ok_or_else(|| Error::corrupt(path, "no \"refs\" object: not kerchunk references"))?;
    let n = edit_metadata_map(edits, refs, path, true)?;
    if n > 0 {
        write_json(path, &doc)?;
    }
    Ok(Edited { documents: n })
}

/// A key-per-line reference file, streamed: only metadata lines are parsed,
/// so memory stays small however many references there are. The first pass
/// finds the arrays and keeps the attribute lines; the file is rewritten (a
/// second pass) only when an edit changes one.
fn edit_kerchunk_lines(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    let mut arrays = HashSet::new();
    let mut attr_lines: Vec<(usize, String, String)> = Vec::new();
    let open = || std::fs::File::open(path).map(BufReader::new).map_err(|e| Error::input_io(path, e));
    for (i, line) in open()?.lines().enumerate() {
        let line = line.map_err(|e| Error::input_io(path, e))?;
        if let Some(key) = line_key(&line) {
            if let Some(a) = key.strip_suffix("/.zarray") {
                arrays.insert(a.to_string());
            } else if key.ends_with(".zattrs") {
                attr_lines.push((i, key, line));
            }
        }
    }
    let exists = exists_in(&arrays);
    let mut replaced: std::collections::HashMap<usize, String> = std::collections::HashMap::new();
    let mut root_seen = false;
    for (i, key, line) in &attr_lines {
        let Some(owner) = zattrs_owner(key, &arrays) else { continue };
        root_seen |= owner.is_none();
        let body = line.trim_end().trim_end_matches(',');
        let Value::Object(mut entry) = parse(&format!("{{{body}}}")).map_err(|e| Error::corrupt(path, format!("line {}: {e}", i + 1)))? else {
            return Err(Error::corrupt(path, format!("line {}: not a key and a value", i + 1)));
        };
        let doc = entry.get_mut(key).ok_or_else(|| Error::corrupt(path, format!("line {}: no {key}", i + 1)))?;
        if edit_attr_doc(edits, doc, owner, &exists, path)? {
            let mut out = String::new();
            super::writer::json_str(&mut out, key);
            out.push_str(": ");
            out.push_str(&text(doc));
            if line.trim_end().ends_with(',') {
                out.push(',');
            }
            replaced.insert(*i, out);
        }
    }
    // Global attributes for a file that had none: a line after the header.
    let mut added_root = None;
    if !root_seen {
        let mut doc = Value::String("{}".into());
        if edit_attr_doc(edits, &mut doc, None, &exists, path)? {
            added_root = Some(format!("\".zattrs\": {},\n", text(&doc)));
        }
    }
    let n = replaced.len() + usize::from(added_root.is_some());
    if n == 0 {
        return Ok(Edited::default());
    }
    fsutil::write_file_atomic(path, |w| {
        for (i, line) in open()?.lines().enumerate() {
            let line = line.map_err(|e| Error::input_io(path, e))?;
            let out = replaced.get(&i).map_or(line.as_str(), String::as_str);
            w.write_all(out.as_bytes()).and_then(|_| w.write_all(b"\n")).map_err(|e| Error::output(path, e))?;
            if i == 0 {
                if let Some(root) = &added_root {
                    w.write_all(root.as_bytes()).map_err(|e| Error::output(path, e))?;
                }
            }
        }
        Ok(())
    })?;
    Ok(Edited { documents: n })
}

/// The key of a `"key": value` line, if the line is one.
fn line_key(line: &str) -> Option<String> {
    if !line.starts_with('"') {
        return None;
    }
    let mut it = serde_json::Deserializer::from_str(line).into_iter::<String>();
    it.next()?.ok()
}

fn edit_parquet(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    let zm = path.join(".zmetadata");
    let mut doc = read_json(&zm)?;
    let meta = doc.get_mut("metadata").and_then(Value::as_object_mut).ok_or_else(|| Error::corrupt(&zm, "no \"metadata\" object"))?;
    let n = edit_metadata_map(edits, meta, &zm, false)?;
    if n > 0 {
        write_json(&zm, &doc)?;
    }
    Ok(Edited { documents: n })
}

fn edit_zarr_v2(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    let zm = path.join(".zmetadata");
    let mut consolidated = if zm.is_file() { Some(read_json(&zm)?) } else { None };
    let mut arrays = HashSet::new();
    collect_v2_arrays(path, path, &mut arrays)?;
    let exists = exists_in(&arrays);
    let mut n = 0;
    let mut nodes: Vec<(String, Option<String>)> = arrays.iter().map(|a| (a.clone(), Some(a.rsplit('/').next().unwrap_or(a).to_string()))).collect();
    nodes.sort();
    nodes.push((String::new(), None));
    for (node, var) in nodes {
        let key = if node.is_empty() { ".zattrs".to_string() } else { format!("{node}/.zattrs") };
        let file = path.join(&key);
        let mut doc = if file.is_file() { read_json(&file)? } else { Value::Object(Map::new()) };
        if edit_attr_doc(edits, &mut doc, var.as_deref(), &exists, &file)? {
            n += 1;
            write_json(&file, &doc)?;
            if let Some(meta) = consolidated.as_mut().and_then(|c| c.get_mut("metadata")).and_then(Value::as_object_mut) {
                meta.insert(key, doc);
            }
        }
    }
    if n > 0 {
        if let Some(c) = &consolidated {
            write_json(&zm, c)?;
        }
    }
    Ok(Edited { documents: n })
}

fn collect_v2_arrays(root: &Path, dir: &Path, out: &mut HashSet<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::input_io(dir, e))? {
        let p = e.map_err(|e| Error::input_io(dir, e))?.path();
        if !p.is_dir() {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned();
        if p.join(".zarray").is_file() {
            out.insert(rel);
        } else if p.join(".zgroup").is_file() {
            collect_v2_arrays(root, &p, out)?;
        }
    }
    Ok(())
}

fn edit_zarr_v3(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    let root_file = path.join("zarr.json");
    let mut root = read_json(&root_file)?;
    let mut arrays = HashSet::new();
    collect_v3_arrays(path, path, &mut arrays)?;
    let exists = exists_in(&arrays);
    let mut n = 0;
    let mut names: Vec<&String> = arrays.iter().collect();
    names.sort();
    for node in names {
        let file = path.join(node).join("zarr.json");
        let mut doc = read_json(&file)?;
        let var = node.rsplit('/').next().unwrap_or(node);
        let attrs = attributes_of(&mut doc, &file)?;
        if edit_object(edits, attrs, Some(var), &exists) {
            n += 1;
            let new_attrs = attrs.clone();
            write_json(&file, &doc)?;
            // The root's consolidated copy of this array's metadata.
            if let Some(m) = root.pointer_mut("/consolidated_metadata/metadata").and_then(Value::as_object_mut).and_then(|m| m.get_mut(node.as_str())) {
                *attributes_of(m, &root_file)? = new_attrs;
            }
        }
    }
    let root_changed = edit_object(edits, attributes_of(&mut root, &root_file)?, None, &exists);
    if root_changed || n > 0 {
        write_json(&root_file, &root)?;
    }
    Ok(Edited { documents: n + usize::from(root_changed) })
}

fn attributes_of<'a>(doc: &'a mut Value, file: &Path) -> Result<&'a mut Map<String, Value>> {
    let obj = doc.as_object_mut().ok_or_else(|| Error::corrupt(file, "not a JSON object"))?;
    obj.entry("attributes").or_insert_with(|| Value::Object(Map::new())).as_object_mut().ok_or_else(|| Error::corrupt(file, "\"attributes\" is not an object"))
}

fn collect_v3_arrays(root: &Path, dir: &Path, out: &mut HashSet<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::input_io(dir, e))? {
        let p = e.map_err(|e| Error::input_io(dir, e))?.path();
        let doc = p.join("zarr.json");
        if !p.is_dir() || !doc.is_file() {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned();
        match read_json(&doc)?.get("node_type").and_then(Value::as_str) {
            Some("array") => {
                out.insert(rel);
            }
            Some("group") => collect_v3_arrays(root, &p, out)?,
            _ => {}
        }
    }
    Ok(())
}

/// Why a units edit of an aggregated variable cannot be made in place (the
/// aggregation file must be made again).
pub const UNITS_OF_AGGREGATED: &str =
    "an aggregated variable's units are its fragments' (cfapyx converts fragment values to them): the aggregation file must be made again, with the variable copied into it";

/// A netCDF (CF aggregation) file: edited on a copy that then replaces it
/// (none when no edit is aimed at it). Variables of every group are edited
/// by name, as in every other product kind; global attributes are the root's.
fn edit_netcdf(path: &Path, edits: &AttrEdits) -> Result<Edited> {
    use crate::source::ncapi;
    let global = netcdf_sys::NC_GLOBAL;
    // (group path, variable name) of every variable; which of them (and the
    // root) an edit is aimed at.
    let targets = |ncid: std::ffi::c_int| -> ncapi::NcResult<Vec<(String, Option<String>)>> {
        let groups = std::iter::once((String::new(), ncid)).chain(ncapi::group_paths(ncid)?);
        let mut vars = Vec::new();
        for (g, gid) in groups {
            for id in ncapi::var_ids(gid)? {
                vars.push((g.clone(), Some(ncapi::var_info(gid, id)?.name)));
            }
        }
        let roots: Vec<String> = vars.iter().filter(|(g, _)| g.is_empty()).filter_map(|(_, v)| v.clone()).collect();
        let exists = |v: &str| roots.iter().any(|r| r == v);
        Ok(std::iter::once((String::new(), None))
            .chain(vars.iter().cloned())
            .filter(|(_, v)| {
                let (removed, set) = edits.aimed_at(v.as_deref(), exists);
                !(removed.is_empty() && set.is_empty())
            })
            .collect())
    };
    let aimed = {
        let f = ncapi::NcFile::open(path).map_err(|e| Error::corrupt(path, e))?;
        targets(f.ncid).map_err(|e| Error::corrupt(path, e))?
    };
    if aimed.is_empty() {
        return Ok(Edited::default());
    }
    let mut unlabelled = None;
    let result = super::cfa::edit_copy(path, path, |o| {
        o.redef()?;
        let roots: Vec<String> = ncapi::var_ids(o.ncid)?.into_iter().map(|id| ncapi::var_info(o.ncid, id).map(|i| i.name)).collect::<ncapi::NcResult<_>>()?;
        let exists = |v: &str| roots.iter().any(|r| r == v);
        for (g, var) in &aimed {
            let gid = ncapi::group_at(o.ncid, g)?;
            let id = match var {
                None => global,
                Some(v) => ncapi::var_id(gid, v)?,
            };
            let (removed, set) = edits.aimed_at(var.as_deref(), exists);
            // See products::cfa: cfapyx converts fragments to the aggregation
            // variable's units and presents those, so a relabelling cannot be
            // written on an aggregated variable.
            let touches_units = removed.iter().any(|n| n == "units") || set.iter().any(|(n, _)| n == "units");
            if touches_units && id != global && ncapi::attributes(gid, id)?.iter().any(|(n, _)| n == "aggregated_dimensions") {
                unlabelled = Some(if g.is_empty() { var.clone().unwrap_or_default() } else { format!("{g}/{}", var.clone().unwrap_or_default()) });
                return Err(UNITS_OF_AGGREGATED.to_string());
            }
            let og = o.in_group(gid);
            for name in &removed {
                og.del_att(id, name)?;
            }
            for (name, value) in &set {
                og.put_attr(id, name, value)?;
            }
        }
        Ok(())
    });
    if let Some(var) = unlabelled {
        return Err(Error::unsupported(path, &var, UNITS_OF_AGGREGATED));
    }
    result?;
    Ok(Edited { documents: aimed.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(update: Value, remove: Value) -> AttrEdits {
        AttrEdits::from_config(Some(&update), Some(&remove)).unwrap()
    }

    #[test]
    fn line_layout_edits_only_metadata_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.json");
        let text = "{\"version\": 1, \"refs\": {\n\".zgroup\": \"{\\\"zarr_format\\\": 2}\",\n\".zattrs\": \"{\\\"title\\\": \\\"a\\\", \\\"x\\\": 1}\",\n\"t/.zarray\": \"{}\",\n\"t/.zattrs\": \"{\\\"units\\\": \\\"K\\\"}\",\n\"t/0\": [\"/f.nc\", 10, 20]\n}}\n";
        std::fs::write(&p, text).unwrap();
        let e = edits(serde_json::json!({"title": "b", "t.units": "degC"}), serde_json::json!(["x"]));
        assert_eq!(edit(&p, &e).unwrap().documents, 2);
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let root: Value = serde_json::from_str(doc["refs"][".zattrs"].as_str().unwrap()).unwrap();
        assert_eq!(root, serde_json::json!({"title": "b"}));
        let t: Value = serde_json::from_str(doc["refs"]["t/.zattrs"].as_str().unwrap()).unwrap();
        assert_eq!(t, serde_json::json!({"units": "degC"}));
        assert_eq!(doc["refs"]["t/0"], serde_json::json!(["/f.nc", 10, 20]));
        // Again: nothing left to change, the file stays as it is.
        let before = std::fs::read(&p).unwrap();
        assert_eq!(edit(&p, &e).unwrap().documents, 0);
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn one_line_documents_keep_their_object_form() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.json");
        std::fs::write(&p, r#"{"version": 1, "refs": {".zattrs": {"title": "a"}, "t/.zarray": "{}", "t/.zattrs": "{}"}}"#).unwrap();
        edit(&p, &edits(serde_json::json!({"history": "made"}), Value::Null)).unwrap();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(doc["refs"][".zattrs"], serde_json::json!({"title": "a", "history": "made"}));
    }

    #[test]
    fn nan_and_infinity_stay_numbers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.json");
        let text = "{\"version\": 1, \"refs\": {\n\".zgroup\": \"{\\\"zarr_format\\\": 2}\",\n\"t/.zarray\": \"{}\",\n\"t/.zattrs\": \"{\\\"missing_value\\\": NaN, \\\"valid_max\\\": Infinity}\"\n}}\n";
        std::fs::write(&p, text).unwrap();
        // A global edit on a file without global attributes: a root line appears.
        assert_eq!(edit(&p, &edits(serde_json::json!({"title": "x"}), Value::Null)).unwrap().documents, 1);
        assert_eq!(read_global(&p).unwrap().get("title"), Some(&Value::from("x")));
        edit(&p, &edits(serde_json::json!({"t.units": "K", "t.bad": [1.5, 2.5]}), Value::Null)).unwrap();
        let after = std::fs::read_to_string(&p).unwrap();
        let line = after.lines().find(|l| l.starts_with("\"t/.zattrs\"")).unwrap().replace(' ', "");
        assert!(line.contains("\\\"missing_value\\\":NaN") && line.contains("\\\"valid_max\\\":Infinity") && line.contains("\\\"units\\\":\\\"K\\\""), "{line}");
        // Still kerchunk's JSON for a Python reader (bare NaN inside strings is allowed).
        let doc: Value = serde_json::from_str(&after).unwrap();
        assert!(doc["refs"][".zattrs"].is_string());
    }
}
