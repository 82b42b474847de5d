//! kerchunk v1 JSON (`{"version": 1, "refs": {...}}`), streamed: references are
//! formatted straight into a buffered writer, one at a time.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;

use super::{json_str, metadata_entries, push_u64, ChunkKeys};
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
    for (key, text) in metadata_entries(&vds.root) {
        line.clear();
        json_str(&mut line, &key);
        line.push_str(": ");
        json_str(&mut line, &text);
        w.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        w.write_all(line.as_bytes())?;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    for g in vds.groups() {
        let prefix = g.key_prefix();
        for v in &g.vars {
            let grid = v.chunk_grid();
            let missing = v.missing_chunk.as_ref().map(|b| format!("\"base64:{}\"", b64.encode(b)));
            // The name is escaped once; chunk indices never need escaping.
            let mut quoted = String::new();
            json_str(&mut quoted, &format!("{prefix}{}/", v.name));
            let quoted = &quoted.as_bytes()[..quoted.len() - 1];
            let mut keys = ChunkKeys::new(&grid);
            let mut buf: Vec<u8> = Vec::with_capacity(256);
            let n = v.n_chunks();
            for i in 0..n {
                buf.clear();
                buf.extend_from_slice(quoted);
                keys.write(&mut buf);
                buf.extend_from_slice(b"\": ");
                keys.advance();
                let ok = match &v.data {
                    ChunkData::Refs(refs) => {
                        let r = refs[i as usize];
                        if r.is_missing() {
                            match &missing {
                                Some(m) => {
                                    buf.extend_from_slice(m.as_bytes());
                                    true
                                }
                                None => false,
                            }
                        } else {
                            buf.push(b'[');
                            buf.extend_from_slice(paths[r.file as usize].as_bytes());
                            buf.extend_from_slice(b", ");
                            push_u64(&mut buf, r.offset);
                            buf.extend_from_slice(b", ");
                            push_u64(&mut buf, r.size);
                            buf.push(b']');
                            true
                        }
                    }
                    ChunkData::Inline(chunks) => match chunks.get(i as usize) {
                        Some(c) => {
                            buf.extend_from_slice(b"\"base64:");
                            buf.extend_from_slice(b64.encode(c).as_bytes());
                            buf.push(b'"');
                            true
                        }
                        None => false,
                    },
                };
                if ok {
                    w.write_all(if first { b"\n" } else { b",\n" })?;
                    first = false;
                    w.write_all(&buf)?;
                }
            }
        }
    }
    w.write_all(b"\n}}\n")
}
