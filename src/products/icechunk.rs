//! `padocc refs -o NAME.icechunk`: an Icechunk repository of virtual
//! references to the source chunks, committed in one transaction.
//!
//! How, and why:
//! - The dataset is the same aggregation as the kerchunk products (combine,
//!   time re-encoding, inlining of small pieces); only the writer differs.
//!   Arrays get Zarr v3 metadata; HDF5 filters become `numcodecs.*` codecs,
//!   which zarr-python 3 reads (as VirtualiZarr writes them).
//! - A source chunk is a virtual reference `file:///...` with the file's
//!   modification time as its checksum, so a reader (and `padocc verify`)
//!   notices a source that changed after the references were made. Inline
//!   pieces (re-encoded times, small chunks) are stored in the repository.
//! - The repository's config lists its virtual chunk containers (the common
//!   directory of the sources), so a reader only authorizes that prefix.
//! - Writing to an existing repository makes one new commit: its content
//!   replaced, or with `append`, the files recorded in the last snapshot plus
//!   the new ones, where only what changed is written (new chunks along the
//!   concat dimension, grown shapes). The history stays readable.
//! - Snapshot properties record the file list (`padocc:files`), so that an
//!   append needs only the new files.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use icechunk::config::{Credentials, ObjectStoreConfig};
use icechunk::format::manifest::{Checksum, ChunkPayload, SecondsSinceEpoch, VirtualChunkLocation, VirtualChunkRef};
use icechunk::format::{ByteRange, ChunkIndices, Path as NodePath};
use icechunk::repository::VersionInfo;
use icechunk::virtual_chunks::VirtualChunkContainer;
use icechunk::{Repository, RepositoryConfig, Storage, Store};
use serde_json::Value;

use crate::aggregate::combine::Options;
use crate::control::{Control, Progress};
use crate::error::{Error, Result};
use crate::model::{ChunkData, Codec, CodecParam, Group, Variable};
use crate::products::reader::{Product, ProductVar, Ref};
use crate::products::s3::{S3Settings, S3Url};
use crate::products::writer::{json_str, zattrs};

const BRANCH: &str = "main";
const FILES_KEY: &str = "padocc:files";
/// Snapshot property: each recorded file's modification time (see [`mtime`]).
const MTIMES_KEY: &str = "padocc:mtimes";

#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    /// A local directory or `s3://bucket/prefix`.
    pub out: String,
    pub combine: Options,
    /// Add `files` to what the last snapshot holds instead of replacing it.
    pub append: bool,
    pub message: Option<String>,
    pub s3: S3Settings,
    pub inline_threshold: u64,
    pub control: Control,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    /// Files the commit added (all of them without `append`).
    pub added_files: usize,
    pub variables: usize,
    pub references: u64,
    /// Chunk references the commit wrote (the rest were already there).
    pub written: u64,
    pub snapshot: String,
    pub message: String,
    /// URL prefixes a reader must authorize (`authorize_virtual_chunk_access`).
    pub containers: Vec<String>,
    pub seconds: f64,
    pub output: String,
    pub kind: &'static str,
}

/// True for an output that names an Icechunk repository.
pub fn is_icechunk(out: &str) -> bool {
    out.trim_end_matches('/').ends_with(".icechunk")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| Error::Resources(format!("cannot start the I/O runtime: {e}")))
}

fn ic_err(out: &str, what: &str, e: impl std::fmt::Display) -> Error {
    let text = e.to_string();
    let hint = if text.contains("NoSuchBucket") {
        " (the bucket does not exist: create it, or check the bucket name and endpoint)"
    } else if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") || text.contains("403") {
        " (the credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the project's s3_credentials)"
    } else if text.contains("onnect") || text.contains("error sending request") {
        " (the endpoint did not answer: check AWS_ENDPOINT_URL and that the server is up; nothing was committed, rerun to retry)"
    } else {
        ""
    };
    let first = text.lines().next().unwrap_or("").chars().take(400).collect::<String>();
    Error::Output { path: PathBuf::from(out), source: std::io::Error::other(format!("{what}: {first}{hint}")) }
}

async fn storage(out: &str, s3: &S3Settings, create: bool) -> Result<Arc<dyn Storage + Send + Sync>> {
    if let Some(u) = S3Url::parse(out) {
        let (opts, creds) = s3.icechunk_options();
        let prefix = if u.prefix.is_empty() { None } else { Some(u.prefix.clone()) };
        return icechunk::new_s3_object_store_storage(opts, u.bucket.clone(), prefix, Some(creds), vec![], vec![]).await.map_err(|e| ic_err(out, "cannot reach the repository", e));
    }
    let p = Path::new(out);
    if create {
        std::fs::create_dir_all(p).map_err(|e| Error::output(p, e))?;
    } else if !p.is_dir() {
        return Err(Error::Missing { path: p.to_path_buf() });
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    icechunk::new_local_filesystem_storage(&abs).await.map_err(|e| ic_err(out, "cannot open the repository directory", e))
}

/// `file:///a/b/c.nc` of an absolute path (percent-encoded as a URL).
fn file_url(p: &Path) -> String {
    // Readers parse a location as a URL, which drops `..`; the container
    // prefix is matched as text, so both must be written already resolved.
    let clean = crate::fsutil::lexical_clean(p);
    let p = clean.as_path();
    url::Url::from_file_path(p).map(String::from).unwrap_or_else(|_| format!("file://{}", p.display()))
}

/// The deepest directory holding every file, as a container prefix.
fn container_prefix(files: &[PathBuf]) -> String {
    let mut common: Option<PathBuf> = None;
    for f in files {
        let dir = f.parent().unwrap_or(Path::new("/")).to_path_buf();
        common = Some(match common {
            None => dir,
            Some(c) => c.ancestors().find(|a| dir.starts_with(a)).unwrap_or(Path::new("/")).to_path_buf(),
        });
    }
    let url = file_url(&common.unwrap_or_else(|| PathBuf::from("/")));
    if url.ends_with('/') {
        url
    } else {
        format!("{url}/")
    }
}

/// Modification time in whole seconds, rounded up: readers refuse a chunk whose
/// file is newer than the recorded second (`if_unmodified_since`), and a
/// file's sub-second part must not count as a change.
fn mtime(p: &Path) -> Option<u32> {
    let d = std::fs::metadata(p).ok()?.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    u32::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).ok()
}

/// A codec of the model as a Zarr v3 codec: numcodecs' own (`numcodecs.zlib`).
fn v3_codec(c: &Codec) -> String {
    let mut out = String::from("{\"name\": ");
    json_str(&mut out, &format!("numcodecs.{}", c.id));
    out.push_str(", \"configuration\": {");
    for (i, (k, v)) in c.params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json_str(&mut out, k);
        out.push_str(": ");
        match v {
            CodecParam::Int(n) => out.push_str(&n.to_string()),
            CodecParam::Str(s) => json_str(&mut out, s),
        }
    }
    out.push_str("}}");
    out
}

/// The Zarr v3 `zarr.json` of a variable of the aggregation.
pub fn array_doc(v: &Variable) -> Result<String> {
    let order = v.dtype.chars().next().unwrap_or('<');
    let kind = v.dtype.as_bytes().get(1).copied().unwrap_or(b'?');
    let size = v.itemsize() as usize;
    let mut attrs = v.attrs.clone();
    let mut codecs: Vec<String> = Vec::new();
    let (dtype, fill) = match kind {
        b'O' => {
            codecs.push("{\"name\": \"vlen-utf8\"}".into());
            ("\"string\"".to_string(), "\"\"".to_string())
        }
        b'S' => {
            crate::products::zarr::v3_fill_attr(&mut attrs, &v.fill_value, kind);
            (format!("{{\"name\": \"null_terminated_bytes\", \"configuration\": {{\"length_bytes\": {size}}}}}"), "\"\"".to_string())
        }
        _ => {
            let name = crate::products::zarr::v3_dtype(kind, size)
                .ok_or_else(|| Error::Incompatible(format!("variable '{}': dtype {} has no Zarr v3 equivalent padocc writes", v.name, v.dtype)))?;
            crate::products::zarr::v3_fill_attr(&mut attrs, &v.fill_value, kind);
            let mut fill = String::new();
            crate::products::zarr::fill_json(&mut fill, &v.fill_value, kind);
            (format!("\"{name}\""), fill)
        }
    };
    if kind != b'O' {
        codecs.push(if size <= 1 || kind == b'S' {
            "{\"name\": \"bytes\"}".to_string()
        } else {
            format!("{{\"name\": \"bytes\", \"configuration\": {{\"endian\": \"{}\"}}}}", if order == '>' { "big" } else { "little" })
        });
    }
    for c in v.filters.iter().filter(|c| c.id != "vlen-utf8").chain(v.compressor.iter()) {
        codecs.push(v3_codec(c));
    }
    // Chunk shape 0 (an empty dimension) is not a valid v3 grid: one element.
    let chunks: Vec<u64> = v.chunks.iter().map(|c| (*c).max(1)).collect();
    let list = |xs: &[u64]| format!("[{}]", xs.iter().map(u64::to_string).collect::<Vec<_>>().join(", "));
    let mut dims = String::from("[");
    for (i, d) in v.dims.iter().enumerate() {
        if i > 0 {
            dims.push_str(", ");
        }
        json_str(&mut dims, d);
    }
    dims.push(']');
    Ok(format!(
        "{{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": {}, \"data_type\": {dtype}, \"chunk_grid\": {{\"name\": \"regular\", \"configuration\": {{\"chunk_shape\": {}}}}}, \"chunk_key_encoding\": {{\"name\": \"default\", \"configuration\": {{\"separator\": \"/\"}}}}, \"fill_value\": {fill}, \"codecs\": [{}], \"attributes\": {}, \"dimension_names\": {dims}}}",
        list(&v.shape),
        list(&chunks),
        codecs.join(", "),
        zattrs(&attrs, None)
    ))
}

fn group_doc(g: &Group) -> String {
    format!("{{\"zarr_format\": 3, \"node_type\": \"group\", \"attributes\": {}}}", zattrs(&g.attrs, None))
}

fn node_path(group: &Group, name: &str) -> String {
    format!("{}{name}", group.key_prefix())
}

fn unravel(mut lin: u64, grid: &[u64]) -> Vec<u32> {
    let mut idx = vec![0u32; grid.len()];
    for d in (0..grid.len()).rev() {
        let g = grid[d].max(1);
        idx[d] = (lin % g) as u32;
        lin /= g;
    }
    idx
}

fn chunk_key(path: &str, idx: &[u32]) -> String {
    if idx.is_empty() {
        format!("{path}/c")
    } else {
        format!("{path}/c/{}", idx.iter().map(u32::to_string).collect::<Vec<_>>().join("/"))
    }
}

/// The payload each chunk of a variable should have (None: missing, reads as fill).
fn payloads(v: &Variable, locations: &[VirtualChunkLocation], mtimes: &[Option<u32>]) -> Vec<(Vec<u32>, Option<ChunkPayload>)> {
    let grid = v.chunk_grid();
    match &v.data {
        ChunkData::Refs(refs) => refs
            .iter()
            .enumerate()
            .map(|(lin, r)| {
                let idx = unravel(lin as u64, &grid);
                let p = if r.is_missing() {
                    v.missing_chunk.as_ref().map(|b| ChunkPayload::Inline(Bytes::from(b.clone())))
                } else {
                    let f = r.file as usize;
                    Some(ChunkPayload::Virtual(VirtualChunkRef {
                        location: locations[f].clone(),
                        offset: r.offset,
                        length: r.size,
                        checksum: mtimes[f].map(|t| Checksum::LastModified(SecondsSinceEpoch(t))),
                    }))
                };
                (idx, p)
            })
            .collect(),
        ChunkData::Inline(chunks) => chunks.iter().enumerate().map(|(lin, b)| (unravel(lin as u64, &grid), Some(ChunkPayload::Inline(Bytes::from(b.clone()))))).collect(),
    }
}

/// Files recorded by the last snapshot of the branch, each with its recorded
/// modification time (empty for a new repository or one padocc did not make).
async fn recorded_files(repo: &Repository) -> Result<Vec<(PathBuf, Option<u32>)>> {
    let mut stream = Box::pin(repo.ancestry(&VersionInfo::BranchTipRef(BRANCH.into())).await.map_err(|e| Error::Internal(format!("icechunk ancestry: {e}")))?);
    if let Some(info) = stream.next().await {
        let info = info.map_err(|e| Error::Internal(format!("icechunk ancestry: {e}")))?;
        if let Some(Value::Array(files)) = info.metadata.get(FILES_KEY) {
            let times = info.metadata.get(MTIMES_KEY).and_then(Value::as_array);
            return Ok(files.iter().enumerate().filter_map(|(i, f)| Some((PathBuf::from(f.as_str()?), times.and_then(|t| t.get(i)?.as_u64()?.try_into().ok())))).collect());
        }
    }
    Ok(vec![])
}

pub fn run(req: &Request) -> Result<Summary> {
    runtime()?.block_on(write(req))
}

async fn write(req: &Request) -> Result<Summary> {
    let t0 = Instant::now();
    let out = req.out.as_str();
    let st = storage(out, &req.s3, true).await?;
    let exists = Repository::exists(st.clone(), None).await.map_err(|e| ic_err(out, "cannot read the repository", e))?;
    if req.append && !exists {
        return Err(Error::Usage(format!("{out}: --append needs an existing repository; make it first without --append")));
    }
    let new_files: Vec<PathBuf> = req.files.iter().map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())).collect();

    let repo = if exists {
        Repository::open(st.clone()).execute().await.map_err(|e| ic_err(out, "cannot open the repository", e))?
    } else {
        Repository::create(st.clone()).execute().await.map_err(|e| ic_err(out, "cannot create the repository", e))?
    };
    // What the last snapshot holds: an append's starting list, and what a
    // rerun that changes nothing is compared with before committing.
    let recorded = if exists { recorded_files(&repo).await? } else { vec![] };
    let mut files: Vec<PathBuf> = if req.append { recorded.iter().map(|(f, _)| f.clone()).collect() } else { vec![] };
    if req.append && files.is_empty() {
        return Err(Error::Usage(format!("{out}: the last snapshot records no file list (not made by padocc): rebuild it without --append")));
    }
    let before: BTreeSet<PathBuf> = files.iter().cloned().collect();
    let added = new_files.iter().filter(|f| !before.contains(*f)).count();
    for f in new_files {
        if !before.contains(&f) {
            files.push(f);
        }
    }

    let mut vds = crate::aggregate::build(&files, &req.combine, &req.control)?;
    crate::products::inline::consolidate(&mut vds, req.inline_threshold)?;

    // Containers: the existing ones, plus one for these sources if none covers them.
    let prefix = container_prefix(&vds.files);
    let mut config: RepositoryConfig = repo.config().clone();
    let covered = config.virtual_chunk_containers.as_ref().is_some_and(|c| c.values().any(|vc| prefix.starts_with(vc.url_prefix())));
    let repo = if covered {
        repo
    } else {
        let dir = url::Url::parse(&prefix).ok().and_then(|u| u.to_file_path().ok()).unwrap_or_else(|| PathBuf::from("/"));
        let vc =
            VirtualChunkContainer::new(prefix.clone(), ObjectStoreConfig::LocalFileSystem(dir)).map_err(|e| Error::Internal(format!("virtual chunk container {prefix}: {e}")))?;
        config.set_virtual_chunk_container(vc).map_err(|e| Error::Internal(format!("virtual chunk container {prefix}: {e}")))?;
        let r = repo.reopen(Some(config), None).await.map_err(|e| ic_err(out, "cannot update the repository config", e))?;
        r.save_config().await.map_err(|e| ic_err(out, "cannot save the repository config", e))?;
        r
    };
    let containers: Vec<String> = repo.config().virtual_chunk_containers.as_ref().map(|c| c.values().map(|vc| vc.url_prefix().to_string()).collect()).unwrap_or_default();

    let session = repo.writable_session(BRANCH).await.map_err(|e| ic_err(out, "cannot start a session", e))?;
    let store = Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await;
    if exists && !req.append {
        store.clear().await.map_err(|e| ic_err(out, "cannot clear the previous content", e))?;
    }
    // Parsed once per file, not once per reference.
    let locations: Vec<VirtualChunkLocation> = vds
        .files
        .iter()
        .map(|f| VirtualChunkLocation::from_url(&file_url(f)).map_err(|e| Error::Internal(format!("{}: not a file URL ({e})", f.display()))))
        .collect::<Result<_>>()?;
    let mtimes: Vec<Option<u32>> = vds.files.iter().map(|f| mtime(f)).collect();
    // In an append, metadata equal to what is there is not set again, so a
    // rerun that adds nothing leaves the session clean (and makes no commit).
    let keep_equal = req.append;
    let set = |key: String, doc: String| {
        let store = &store;
        async move {
            let doc = Bytes::from(doc);
            if keep_equal && store.get(&key, &ByteRange::ALL).await.is_ok_and(|b| b == doc) {
                return Ok(());
            }
            store.set(&key, doc).await.map_err(|e| ic_err(out, &format!("cannot write {key}"), e))
        }
    };
    set("zarr.json".into(), group_doc(&vds.root)).await?;
    let groups = vds.groups();
    let total: u64 = groups.iter().flat_map(|g| g.vars.iter()).map(|v| v.n_chunks()).sum();
    let progress = Progress::new("writing references", total, &req.control.progress);
    let mut written = 0u64;
    for g in &groups {
        if !g.path.is_empty() {
            set(format!("{}/zarr.json", g.path), group_doc(g)).await?;
        }
        for v in &g.vars {
            req.control.cancel.check()?;
            let path = node_path(g, &v.name);
            set(format!("{path}/zarr.json"), array_doc(v)?).await?;
            let np = NodePath::try_from(format!("/{path}").as_str()).map_err(|e| Error::Internal(format!("node path {path}: {e}")))?;
            let want = payloads(v, &locations, &mtimes);
            let session = store.session();
            let mut s = session.write().await;
            // In an append, what is already there is left alone.
            let mut have: HashMap<Vec<u32>, ChunkPayload> = HashMap::new();
            if req.append {
                let mut it = Box::pin(s.array_chunk_iterator(&np).await);
                while let Some(ci) = it.next().await {
                    let ci = ci.map_err(|e| ic_err(out, &format!("cannot list the chunks of {path}"), e))?;
                    have.insert(ci.coord.0, ci.payload);
                }
            }
            let wanted: BTreeSet<Vec<u32>> = want.iter().filter(|(_, p)| p.is_some()).map(|(i, _)| i.clone()).collect();
            let stale: Vec<ChunkIndices> = have.keys().filter(|k| !wanted.contains(*k)).map(|k| ChunkIndices(k.clone())).collect();
            if !stale.is_empty() {
                s.delete_chunks(&np, stale).await.map_err(|e| ic_err(out, &format!("cannot drop old chunks of {path}"), e))?;
            }
            for (idx, p) in want {
                progress.inc();
                let Some(p) = p else { continue };
                match (have.get(&idx), &p) {
                    (Some(h), p) if h == p => continue,
                    // An inline piece too big for the manifest was stored as a
                    // native chunk: compare its bytes.
                    (Some(ChunkPayload::Ref(_)), ChunkPayload::Inline(b)) => {
                        drop(s);
                        let same = store.get(&chunk_key(&path, &idx), &ByteRange::ALL).await.is_ok_and(|have| have == b);
                        s = session.write().await;
                        if same {
                            continue;
                        }
                    }
                    _ => {}
                }
                written += 1;
                match p {
                    ChunkPayload::Inline(b) if b.len() > usize::from(repo.config().inline_chunk_threshold_bytes()) => {
                        drop(s);
                        store.set(&chunk_key(&path, &idx), b).await.map_err(|e| ic_err(out, &format!("cannot write {path}"), e))?;
                        s = session.write().await;
                    }
                    p => s.set_chunk_ref(np.clone(), ChunkIndices(idx), Some(p)).await.map_err(|e| ic_err(out, &format!("cannot set a reference of {path}"), e))?,
                }
            }
        }
    }
    progress.finish();
    let message = req.message.clone().unwrap_or_else(|| {
        if req.append {
            format!("padocc: appended {added} file(s), {} in all", vds.files.len())
        } else {
            format!("padocc: {} file(s)", vds.files.len())
        }
    });
    let mut props = icechunk::format::snapshot::SnapshotProperties::new();
    props.insert(FILES_KEY.into(), Value::from(vds.files.iter().map(|f| f.to_string_lossy().into_owned()).collect::<Vec<_>>()));
    // Inline pieces carry no per-reference checksum: the file list's times
    // let `verify` notice any source changed since.
    props.insert(MTIMES_KEY.into(), Value::from(mtimes.iter().map(|t| t.map_or(Value::Null, Value::from)).collect::<Vec<_>>()));
    props.insert("padocc:version".into(), Value::from(env!("CARGO_PKG_VERSION")));
    let session = store.session();
    let mut s = session.write().await;
    // A rerun that finds everything in place makes no empty commit.
    let now: Vec<(PathBuf, Option<u32>)> = vds.files.iter().cloned().zip(mtimes.iter().copied()).collect();
    let (snapshot, message) = if exists && !s.has_uncommitted_changes() && recorded == now {
        (s.snapshot_id().clone(), "unchanged (no commit)".to_string())
    } else {
        (
            s.commit(message.clone()).properties(props).allow_empty(true).execute().await.map_err(|e| ic_err(out, "the commit failed (nothing was changed; rerun to retry)", e))?,
            message,
        )
    };
    Ok(Summary {
        files: vds.files.len(),
        added_files: added,
        variables: vds.n_vars(),
        references: vds.n_refs(),
        written,
        snapshot: snapshot.to_string(),
        message,
        containers,
        seconds: t0.elapsed().as_secs_f64(),
        output: req.out.clone(),
        kind: "icechunk",
    })
}

/// The newest snapshot of a repository: (id, message).
pub fn tip(out: &str, s3: &S3Settings) -> Result<(String, String)> {
    runtime()?.block_on(async {
        let st = storage(out, s3, false).await?;
        let repo = Repository::open(st).execute().await.map_err(|e| ic_err(out, "cannot open the repository", e))?;
        let mut stream = Box::pin(repo.ancestry(&VersionInfo::BranchTipRef(BRANCH.into())).await.map_err(|e| ic_err(out, "cannot read its history", e))?);
        match stream.next().await {
            Some(Ok(info)) => Ok((info.id.to_string(), info.message)),
            Some(Err(e)) => Err(ic_err(out, "cannot read its history", e)),
            None => Err(Error::corrupt(Path::new(out), "the repository has no snapshot")),
        }
    })
}

/// numcodecs' description of a Zarr v3 codec written by [`v3_codec`].
fn v2_codec(c: &Value) -> Value {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let mut m = c.get("configuration").and_then(Value::as_object).cloned().unwrap_or_default();
    m.insert("id".into(), Value::from(name.strip_prefix("numcodecs.").unwrap_or(name)));
    Value::Object(m)
}

/// The newest snapshot of a repository read back as a client would, for
/// validation: its metadata and every chunk's payload. A source changed
/// since its references were made is an error naming it.
pub fn open_product(out: &str, s3: &S3Settings) -> Result<Product> {
    runtime()?.block_on(async {
        let st = storage(out, s3, false).await?;
        let repo = Repository::open(st).execute().await.map_err(|e| ic_err(out, "cannot open the repository", e))?;
        let session = repo.readonly_session(&VersionInfo::BranchTipRef(BRANCH.into())).await.map_err(|e| ic_err(out, "cannot read the branch", e))?;
        let store = Store::from_session(Arc::new(tokio::sync::RwLock::new(session))).await;
        let sess = store.session();
        let s = sess.read().await;
        let mut nodes: Vec<_> = s
            .list_nodes(&NodePath::root())
            .await
            .map_err(|e| ic_err(out, "cannot list nodes", e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ic_err(out, "cannot list nodes", e))?;
        nodes.sort_by_key(|n| n.path.to_string());
        let (mut attrs, mut groups, mut vars, mut files) = (serde_json::Map::new(), Vec::new(), Vec::new(), Vec::<PathBuf>::new());
        let mut file_index: HashMap<String, u32> = HashMap::new();
        let mut stale: Vec<String> = Vec::new();
        for (f, t) in recorded_files(&repo).await? {
            if let Some(t) = t {
                if mtime(&f).is_some_and(|now| now > t) {
                    stale.push(f.display().to_string());
                }
            }
        }
        for n in &nodes {
            let name = n.path.to_string().trim_start_matches('/').to_string();
            let md: Value = serde_json::from_slice(&n.user_data).map_err(|e| Error::corrupt(Path::new(out), format!("{name}/zarr.json: {e}")))?;
            let node_attrs = md.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
            if md.get("node_type").and_then(Value::as_str) != Some("array") {
                if name.is_empty() {
                    attrs = node_attrs;
                } else {
                    groups.push((name, node_attrs));
                }
                continue;
            }
            let nums = |v: Option<&Value>| -> Vec<u64> { v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default() };
            let shape = nums(md.get("shape"));
            let chunks = nums(md.pointer("/chunk_grid/configuration/chunk_shape"));
            let codecs: Vec<Value> = md.get("codecs").and_then(Value::as_array).cloned().unwrap_or_default();
            let big = codecs.iter().any(|c| c.pointer("/configuration/endian").and_then(Value::as_str) == Some("big"));
            let dt = md.get("data_type").cloned().unwrap_or(Value::Null);
            let dtype = match dt.as_str() {
                Some("string") => "|O".to_string(),
                Some(n) => {
                    let (k, bits): (char, usize) = match n {
                        "bool" => ('b', 8),
                        _ if n.starts_with("float") => ('f', n[5..].parse().unwrap_or(0)),
                        _ if n.starts_with("uint") => ('u', n[4..].parse().unwrap_or(0)),
                        _ if n.starts_with("int") => ('i', n[3..].parse().unwrap_or(0)),
                        _ => return Err(Error::corrupt(Path::new(out), format!("{name}: data type {n} is not one padocc writes"))),
                    };
                    crate::model::numpy_dtype(k, bits / 8, big)
                }
                None => format!("|S{}", dt.pointer("/configuration/length_bytes").and_then(Value::as_u64).unwrap_or(1)),
            };
            let mut extra: Vec<Value> = codecs.iter().filter(|c| c.get("name").and_then(Value::as_str).is_some_and(|n| n.starts_with("numcodecs."))).map(v2_codec).collect();
            let compressor = extra.pop();
            let mut filters = extra;
            if dtype == "|O" {
                filters.insert(0, serde_json::json!({"id": "vlen-utf8"}));
            }
            let mut vattrs = node_attrs;
            let fill = match vattrs.remove("_FillValue") {
                Some(f) => f,
                None if dtype.starts_with("|S") || dtype == "|O" => Value::Null,
                None => md.get("fill_value").cloned().unwrap_or(Value::Null),
            };
            let dims = md.get("dimension_names").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
            let mut v = ProductVar { name: name.clone(), dims, shape, chunks, dtype, fill_value: fill, compressor, filters, attrs: vattrs, refs: vec![] };
            let grid = v.grid();
            v.refs = vec![None; grid.iter().product::<u64>() as usize];
            let mut it = Box::pin(s.array_chunk_iterator(&n.path).await);
            while let Some(ci) = it.next().await {
                let ci = ci.map_err(|e| ic_err(out, &format!("cannot list the chunks of {name}"), e))?;
                let lin = crate::model::ravel(&ci.coord.0.iter().map(|c| u64::from(*c)).collect::<Vec<_>>(), &grid) as usize;
                let r = match ci.payload {
                    ChunkPayload::Inline(b) => Ref::Inline(b.to_vec()),
                    ChunkPayload::Virtual(vr) => {
                        let url = vr.location.url().to_string();
                        let file = match file_index.get(&url) {
                            Some(i) => *i,
                            None => {
                                let p = url::Url::parse(&url)
                                    .ok()
                                    .and_then(|u| u.to_file_path().ok())
                                    .ok_or_else(|| Error::corrupt(Path::new(out), format!("{name}: reference to {url}: padocc verifies local sources only")))?;
                                if let Some(Checksum::LastModified(SecondsSinceEpoch(t))) = &vr.checksum {
                                    if mtime(&p).is_some_and(|now| now > *t) && !stale.contains(&p.display().to_string()) {
                                        stale.push(p.display().to_string());
                                    }
                                }
                                files.push(p);
                                file_index.insert(url, (files.len() - 1) as u32);
                                (files.len() - 1) as u32
                            }
                        };
                        Ref::Range { file, offset: vr.offset, size: vr.length }
                    }
                    _ => {
                        let key = chunk_key(&name, &ci.coord.0);
                        let b = store.get(&key, &ByteRange::ALL).await.map_err(|e| ic_err(out, &format!("cannot read {key}"), e))?;
                        Ref::Inline(b.to_vec())
                    }
                };
                if lin < v.refs.len() {
                    v.refs[lin] = Some(r);
                }
            }
            vars.push(v);
        }
        if !stale.is_empty() {
            return Err(Error::Incompatible(format!(
                "{out}: {} source file(s) changed after the references were made (first: {}); make the references again (`padocc refs ... -o {out}` commits a new snapshot)",
                stale.len(),
                stale[0]
            )));
        }
        Ok(Product::from_parts(PathBuf::from(out), files, attrs, groups, vars))
    })
}

/// Prefixes a reader must authorize, as `authorize_virtual_chunk_access` keys.
pub fn authorized(containers: &[String]) -> HashMap<String, Option<Credentials>> {
    containers.iter().map(|c| (c.clone(), c.starts_with("file:").then_some(Credentials::LocalFileSystemAccess))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_is_the_common_directory() {
        let f = |s: &str| PathBuf::from(s);
        assert_eq!(container_prefix(&[f("/a/b/x.nc"), f("/a/b/c/y.nc")]), "file:///a/b/");
        assert_eq!(container_prefix(&[f("/a/b/x.nc"), f("/z/y.nc")]), "file:///");
        assert_eq!(file_url(Path::new("/a b/x.nc")), "file:///a%20b/x.nc");
        assert_eq!(container_prefix(&[f("/w/main/../shared/s/x.nc")]), "file:///w/shared/s/");
    }

    #[test]
    fn hdf5_filters_become_numcodecs_v3_codecs() {
        let mut v = crate::model::tests::test_var(vec![4, 6], vec![2, 6]);
        v.dtype = ">i2".into();
        v.filters = vec![Codec::new("shuffle").with("elementsize", 2)];
        v.compressor = Some(Codec::new("zlib").with("level", 4));
        v.fill_value = crate::model::FillValue::Int(-9);
        let doc: Value = serde_json::from_str(&array_doc(&v).unwrap()).unwrap();
        assert_eq!(doc["data_type"], "int16");
        assert_eq!(doc["codecs"][0]["configuration"]["endian"], "big");
        assert_eq!(doc["codecs"][1], serde_json::json!({"name": "numcodecs.shuffle", "configuration": {"elementsize": 2}}));
        assert_eq!(doc["codecs"][2]["name"], "numcodecs.zlib");
        assert_eq!(doc["attributes"]["_FillValue"], -9);
        assert_eq!(v2_codec(&doc["codecs"][2]), serde_json::json!({"id": "zlib", "level": 4}));
    }

    #[test]
    fn chunk_keys_and_indices() {
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(chunk_key("a/v", &[1, 2]), "a/v/c/1/2");
        assert_eq!(chunk_key("s", &[]), "s/c");
    }
}
