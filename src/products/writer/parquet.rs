//! kerchunk Parquet references in fsspec's `LazyReferenceMapper` layout:
//! `OUT/.zmetadata` holds every metadata key and `record_size`; each variable's
//! chunk references are in `OUT/<var>/refs.<n>.parq`, `record_size` rows per
//! file in C order of the chunk grid, columns `path`, `offset`, `size`, `raw`.
//! One record file is built at a time, so memory stays bounded.

use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;

use super::metadata_entries;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::{ChunkData, VirtualDataset};

pub const DEFAULT_RECORD_SIZE: u64 = 100_000;

/// Column types for pandas readers: without this, fastparquet (fsspec's default
/// engine) reads the int64 columns as nullable integers and hands out floats as
/// byte offsets, which then fail as file positions.
const PANDAS_METADATA: &str = r#"{"column_indexes": [{"field_name": null, "metadata": null, "name": null, "numpy_type": "str", "pandas_type": "mixed-integer"}], "columns": [{"field_name": "path", "metadata": null, "name": "path", "numpy_type": "object", "pandas_type": "unicode"}, {"field_name": "offset", "metadata": null, "name": "offset", "numpy_type": "int64", "pandas_type": "int64"}, {"field_name": "size", "metadata": null, "name": "size", "numpy_type": "int64", "pandas_type": "int64"}, {"field_name": "raw", "metadata": null, "name": "raw", "numpy_type": "object", "pandas_type": "bytes"}], "creator": {"library": "padocc", "version": "0"}, "index_columns": [], "pandas_version": "2.2.0", "partition_columns": []}"#;

const SCHEMA: &str = "message schema {
    optional binary path (STRING);
    required int64 offset;
    required int64 size;
    optional binary raw;
}";

pub fn write(vds: &VirtualDataset, out: &Path, record_size: u64) -> Result<()> {
    let record_size = record_size.max(1);
    fsutil::write_dir_atomic(out, |dir| {
        let meta = format!("{{\"metadata\": {}, \"record_size\": {record_size}}}", super::json_object(&metadata_entries(&vds.root)));
        fsutil::write_new_file(&dir.join(".zmetadata"), meta.as_bytes())?;

        let (schema, props) = (schema(), properties());
        let paths: Vec<ByteArray> = vds.files.iter().map(|p| ByteArray::from(p.to_string_lossy().as_bytes().to_vec())).collect();
        for g in vds.groups() {
            for v in &g.vars {
                let n = v.n_chunks();
                if n == 0 {
                    continue;
                }
                let vdir = dir.join(format!("{}{}", g.key_prefix(), v.name));
                std::fs::create_dir_all(&vdir).map_err(|e| Error::output(&vdir, e))?;
                let missing = v.missing_chunk.as_ref().map(|b| ByteArray::from(b.clone()));
                let mut rec = Record::default();
                for rno in 0..n.div_ceil(record_size) {
                    rec.clear();
                    let lo = rno * record_size;
                    let hi = (lo + record_size).min(n);
                    for i in lo..hi {
                        match &v.data {
                            ChunkData::Refs(refs) => {
                                let r = refs[i as usize];
                                if r.is_missing() {
                                    rec.push(None, 0, 0, missing.clone());
                                } else {
                                    rec.push(Some(paths[r.file as usize].clone()), r.offset as i64, r.size as i64, None);
                                }
                            }
                            ChunkData::Inline(chunks) => {
                                let raw = chunks.get(i as usize).map(|c| ByteArray::from(c.clone()));
                                rec.push(None, 0, 0, raw);
                            }
                        }
                    }
                    let file = vdir.join(format!("refs.{rno}.parq"));
                    rec.write(&file, schema.clone(), props.clone())?;
                }
            }
        }
        Ok(())
    })
}

fn schema() -> Arc<Type> {
    Arc::new(parse_message_type(SCHEMA).expect("static schema parses"))
}

fn properties() -> Arc<WriterProperties> {
    Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::None)
            // Offsets and sizes are nearly all distinct: a dictionary only adds bytes.
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from("offset"), false)
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from("size"), false)
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new("pandas".to_string(), PANDAS_METADATA.to_string())]))
            .build(),
    )
}

/// Copy a Parquet reference directory to `dest` (atomically), rewriting the
/// reference paths that start with `from` to start with `to` instead.
pub fn copy_rewriting(src: &Path, dest: &Path, from: &str, to: &str) -> Result<()> {
    let (schema, props) = (schema(), properties());
    fsutil::write_dir_atomic(dest, |dir| {
        let zm = src.join(".zmetadata");
        std::fs::copy(&zm, dir.join(".zmetadata")).map_err(|e| Error::input_io(&zm, e))?;
        let mut rec = Record::default();
        for e in std::fs::read_dir(src).map_err(|e| Error::input_io(src, e))?.flatten().filter(|e| e.path().is_dir()) {
            let vdir = dir.join(e.file_name());
            std::fs::create_dir_all(&vdir).map_err(|x| Error::output(&vdir, x))?;
            for f in std::fs::read_dir(e.path()).map_err(|x| Error::input_io(&e.path(), x))?.flatten() {
                rec.clear();
                for (path, offset, size, raw) in crate::products::reader::read_parquet_refs(&f.path())? {
                    let path = path.map(|p| match p.strip_prefix(from) {
                        Some(rest) => format!("{to}{rest}"),
                        None => p,
                    });
                    rec.push(path.map(|p| ByteArray::from(p.into_bytes())), offset as i64, size as i64, raw.map(ByteArray::from));
                }
                rec.write(&vdir.join(f.file_name()), schema.clone(), props.clone())?;
            }
        }
        Ok(())
    })
}

#[derive(Default)]
struct Record {
    paths: Vec<ByteArray>,
    path_def: Vec<i16>,
    offsets: Vec<i64>,
    sizes: Vec<i64>,
    raws: Vec<ByteArray>,
    raw_def: Vec<i16>,
}

impl Record {
    fn clear(&mut self) {
        self.paths.clear();
        self.path_def.clear();
        self.offsets.clear();
        self.sizes.clear();
        self.raws.clear();
        self.raw_def.clear();
    }

    fn push(&mut self, path: Option<ByteArray>, offset: i64, size: i64, raw: Option<ByteArray>) {
        self.path_def.push(i16::from(path.is_some()));
        self.paths.extend(path);
        self.offsets.push(offset);
        self.sizes.push(size);
        self.raw_def.push(i16::from(raw.is_some()));
        self.raws.extend(raw);
    }

    fn write(&self, file: &Path, schema: Arc<Type>, props: Arc<WriterProperties>) -> Result<()> {
        let err = |e: parquet::errors::ParquetError| Error::output(file, std::io::Error::other(e.to_string()));
        let f = std::fs::File::create(file).map_err(|e| Error::output(file, e))?;
        let mut w = SerializedFileWriter::new(f, schema, props).map_err(err)?;
        let mut rg = w.next_row_group().map_err(err)?;
        let mut col = rg.next_column().map_err(err)?.expect("path column");
        col.typed::<ByteArrayType>().write_batch(&self.paths, Some(&self.path_def), None).map_err(err)?;
        col.close().map_err(err)?;
        let mut col = rg.next_column().map_err(err)?.expect("offset column");
        col.typed::<Int64Type>().write_batch(&self.offsets, None, None).map_err(err)?;
        col.close().map_err(err)?;
        let mut col = rg.next_column().map_err(err)?.expect("size column");
        col.typed::<Int64Type>().write_batch(&self.sizes, None, None).map_err(err)?;
        col.close().map_err(err)?;
        let mut col = rg.next_column().map_err(err)?.expect("raw column");
        col.typed::<ByteArrayType>().write_batch(&self.raws, Some(&self.raw_def), None).map_err(err)?;
        col.close().map_err(err)?;
        rg.close().map_err(err)?;
        let f = w.into_inner().map_err(err)?;
        f.sync_all().map_err(|e| Error::output(file, e))
    }
}
