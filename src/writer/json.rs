//! kerchunk v1 JSON (`{"version": 1, "refs": {...}}`), streamed: references are
//! formatted straight into a buffered writer, one at a time.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;

use super::{chunk_key, json_str, metadata_entries};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::{ChunkData, VirtualDataset};

pub fn write(vds: &VirtualDataset, out: &Path) -> Result<()> {
    fsutil::write_file_atomic(out, |w| render(vds, w).map_err(|e| Error::output(out, e)))
}

pub fn render<W: Write>(vds: &VirtualDataset, w: &mut W) -> std::io::Result<()> {
    let paths: Vec<String> = vds
        .files
        .iter()
        .map(|p| {
            let mut s = String::new();
            json_str(&mut s, &p.to_string_lossy());
            s
        })
        .collect();
    w.write_all(b"{\"version\": 1, \"refs\": {")?;
    let mut first = true;
    let mut line = String::with_capacity(256);
    let mut entry = |w: &mut W, line: &str| -> std::io::Result<()> {
        if !first {
            w.write_all(b",\n")?;
        } else {
            w.write_all(b"\n")?;
        }
        first = false;
        w.write_all(line.as_bytes())
    };
    for (key, text) in metadata_entries(&vds.root) {
        line.clear();
        json_str(&mut line, &key);
        line.push_str(": ");
        json_str(&mut line, &text);
        entry(w, &line)?;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    for g in vds.groups() {
        let prefix = g.key_prefix();
        for v in &g.vars {
            let grid = v.chunk_grid();
            let missing = v.missing_chunk.as_ref().map(|b| format!("\"base64:{}\"", b64.encode(b)));
            let mut key = String::with_capacity(64);
            // The name is escaped once; the chunk index part never needs escaping.
            let mut quoted = String::new();
            json_str(&mut quoted, &format!("{prefix}{}/", v.name));
            let quoted = &quoted[..quoted.len() - 1];
            let start_key = |key: &mut String, i: u64| {
                key.clear();
                key.push_str(quoted);
                chunk_key(key, i, &grid);
                key.push_str("\": ");
            };
            match &v.data {
                ChunkData::Refs(refs) => {
                    for (i, r) in refs.iter().enumerate() {
                        start_key(&mut key, i as u64);
                        line.clear();
                        line.push_str(&key);
                        if r.is_missing() {
                            match &missing {
                                Some(m) => line.push_str(m),
                                None => continue,
                            }
                        } else {
                            use std::fmt::Write as _;
                            let _ = write!(line, "[{}, {}, {}]", paths[r.file as usize], r.offset, r.size);
                        }
                        entry(w, &line)?;
                    }
                }
                ChunkData::Inline(chunks) => {
                    for (i, c) in chunks.iter().enumerate() {
                        start_key(&mut key, i as u64);
                        line.clear();
                        line.push_str(&key);
                        line.push_str("\"base64:");
                        line.push_str(&b64.encode(c));
                        line.push('"');
                        entry(w, &line)?;
                    }
                }
            }
        }
    }
    w.write_all(b"\n}}\n")
}
