//! Publishing a finished local store (Zarr) to an object store.
//!
//! Order, so that no reader sees a half-written store:
//! 1. if the bucket holds an older store under the prefix, its root metadata
//!    (`zarr.json`, `.zmetadata`, `.zgroup`, `.zattrs`) is deleted first:
//!    clients then see no store at all rather than a mix;
//! 2. chunks and other objects are uploaded, in parallel (bounded), large
//!    ones in parts;
//! 3. objects under the prefix that the new store does not have are deleted;
//! 4. array and group metadata, the root's last.
//!
//! Resuming: a rerun lists the prefix once and skips every object whose size
//! and ETag (MD5, or S3's MD5 of part MD5s for multipart uploads) equal the
//! local file's, so a killed upload sends only what is missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{StreamExt as _, TryStreamExt as _};
use md5::{Digest as _, Md5};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};

use crate::control::{Control, Progress};
use crate::error::{Error, Result};
use crate::products::s3::{output_error, S3Settings, S3Url};

/// Objects larger than this go up in parts of this size.
pub const PART_SIZE: u64 = 16 << 20;
/// Requests in flight at once.
pub const CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub objects: u64,
    pub uploaded: u64,
    /// Objects already there with the same content (a resumed upload).
    pub skipped: u64,
    pub deleted: u64,
    pub bytes_uploaded: u64,
    pub seconds: f64,
}

fn is_metadata(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    matches!(name, "zarr.json" | ".zarray" | ".zattrs" | ".zgroup" | ".zmetadata")
}

fn is_root_metadata(key: &str) -> bool {
    !key.contains('/') && is_metadata(key)
}

/// Files under `dir` as (relative key, path, size), skipping padocc's control files.
fn local_objects(dir: &Path) -> Result<Vec<(String, PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::input_io(&d, e))? {
            let e = e.map_err(|e| Error::input_io(&d, e))?;
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            if rel.starts_with(".padocc") {
                continue;
            }
            let ft = e.file_type().map_err(|e| Error::input_io(&p, e))?;
            if ft.is_dir() {
                stack.push(p);
            } else {
                let size = e.metadata().map_err(|e| Error::input_io(&p, e))?.len();
                out.push((rel, p, size));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The ETag S3 gives an object of these bytes uploaded as we upload it.
fn local_etag(bytes_of: &Path, size: u64) -> Result<String> {
    let data = std::fs::read(bytes_of).map_err(|e| Error::input_io(bytes_of, e))?;
    Ok(etag_of(&data, size))
}

fn etag_of(data: &[u8], size: u64) -> String {
    if size <= PART_SIZE {
        return format!("{:x}", Md5::digest(data));
    }
    let mut all = Md5::new();
    let mut parts = 0;
    for part in data.chunks(PART_SIZE as usize) {
        all.update(Md5::digest(part));
        parts += 1;
    }
    format!("{:x}-{parts}", all.finalize())
}

async fn put(store: &Arc<dyn ObjectStore>, url: &S3Url, key: &str, path: &Path, size: u64) -> Result<()> {
    let loc = Key::from(url.key(key));
    let what = url.display(key);
    if size <= PART_SIZE {
        let data = tokio::fs::read(path).await.map_err(|e| Error::input_io(path, e))?;
        store.put(&loc, PutPayload::from(data)).await.map_err(|e| output_error(&what, &e))?;
        return Ok(());
    }
    let up = store.put_multipart(&loc).await.map_err(|e| output_error(&what, &e))?;
    let mut w = WriteMultipart::new_with_chunk_size(up, PART_SIZE as usize);
    let mut f = tokio::fs::File::open(path).await.map_err(|e| Error::input_io(path, e))?;
    let mut buf = vec![0u8; 4 << 20];
    loop {
        w.wait_for_capacity(2).await.map_err(|e| output_error(&what, &e))?;
        let n = tokio::io::AsyncReadExt::read(&mut f, &mut buf).await.map_err(|e| Error::input_io(path, e))?;
        if n == 0 {
            break;
        }
        w.write(&buf[..n]);
    }
    w.finish().await.map_err(|e| output_error(&what, &e))?;
    Ok(())
}

/// Upload the store at `local` to `url`, resuming what a killed run left.
pub fn upload(local: &Path, url: &S3Url, settings: &S3Settings, control: &Control) -> Result<Summary> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| Error::Resources(format!("cannot start the I/O runtime: {e}")))?;
    rt.block_on(upload_async(local, url, settings, control))
}

async fn upload_async(local: &Path, url: &S3Url, settings: &S3Settings, control: &Control) -> Result<Summary> {
    let t0 = Instant::now();
    let store = settings.object_store(url)?;
    let objects = local_objects(local)?;
    let prefix = if url.prefix.is_empty() { None } else { Some(Key::from(format!("{}/", url.prefix))) };
    let listed: Vec<object_store::ObjectMeta> = store.list(prefix.as_ref()).try_collect().await.map_err(|e| output_error(&url.display(""), &e))?;
    let strip = if url.prefix.is_empty() { String::new() } else { format!("{}/", url.prefix) };
    let remote: HashMap<String, (u64, Option<String>)> =
        listed.into_iter().filter_map(|m| m.location.as_ref().strip_prefix(&strip).map(|k| (k.to_string(), (m.size, m.e_tag.map(|t| t.trim_matches('"').to_string()))))).collect();

    let mut summary = Summary { objects: objects.len() as u64, ..Summary::default() };
    // Decide what to send: an object already there with our bytes is skipped.
    let mut todo = Vec::new();
    for (key, path, size) in &objects {
        let same = match remote.get(key) {
            Some((rsize, Some(etag))) if rsize == size => local_etag(path, *size)? == *etag,
            _ => false,
        };
        if same {
            summary.skipped += 1;
        } else {
            todo.push((key.clone(), path.clone(), *size));
        }
    }
    let complete = todo.is_empty() && remote.keys().all(|k| objects.iter().any(|(o, _, _)| o == k));
    if complete {
        summary.seconds = t0.elapsed().as_secs_f64();
        return Ok(summary);
    }
    // An older store: hide it before anything changes.
    for k in remote.keys().filter(|k| is_root_metadata(k)) {
        store.delete(&Key::from(url.key(k))).await.map_err(|e| output_error(&url.display(k), &e))?;
    }
    let (meta, data): (Vec<_>, Vec<_>) = todo.into_iter().partition(|(k, _, _)| is_metadata(k));
    let progress = Progress::new("uploading", data.len() as u64 + meta.len() as u64, &control.progress);
    let bytes = AtomicU64::new(0);
    let store_ref = &store;
    let send = |(key, path, size): (String, PathBuf, u64)| {
        let bytes = &bytes;
        let progress = &progress;
        async move {
            control.cancel.check()?;
            put(store_ref, url, &key, &path, size).await?;
            bytes.fetch_add(size, Ordering::Relaxed);
            progress.inc();
            Ok::<(), Error>(())
        }
    };
    let n_data = data.len() as u64;
    futures_util::stream::iter(data).map(send).buffer_unordered(CONCURRENCY).try_collect::<Vec<()>>().await?;
    // Objects of an older store that this one does not have.
    let stale: Vec<String> = remote.keys().filter(|k| !objects.iter().any(|(o, _, _)| o == *k) && !is_root_metadata(k)).cloned().collect();
    for k in &stale {
        store.delete(&Key::from(url.key(k))).await.map_err(|e| output_error(&url.display(k), &e))?;
    }
    summary.deleted = stale.len() as u64;
    // Metadata last, the root's after every other.
    let (root, inner): (Vec<_>, Vec<_>) = meta.into_iter().partition(|(k, _, _)| is_root_metadata(k));
    let n_meta = (root.len() + inner.len()) as u64;
    futures_util::stream::iter(inner).map(send).buffer_unordered(CONCURRENCY).try_collect::<Vec<()>>().await?;
    // `.zmetadata` (consolidated) after `.zgroup`/`.zattrs`, `zarr.json` alone.
    let mut root = root;
    root.sort_by_key(|(k, _, _)| k == ".zmetadata");
    for r in root {
        send(r).await?;
    }
    progress.finish();
    summary.uploaded = n_data + n_meta;
    summary.bytes_uploaded = bytes.load(Ordering::Relaxed);
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// Where `padocc zarr -o s3://...` builds the store before uploading it:
/// `--stage`, else `$PADOCC_STAGE`, else the temporary directory, under the
/// bucket and prefix (so reruns find it).
pub fn stage_dir(url: &S3Url, asked: Option<&Path>) -> PathBuf {
    let base = asked.map(Path::to_path_buf).or_else(|| std::env::var_os("PADOCC_STAGE").map(PathBuf::from)).unwrap_or_else(|| std::env::temp_dir().join("padocc-stage"));
    base.join(&url.bucket).join(if url.prefix.is_empty() { "root" } else { &url.prefix })
}

/// What the staged store was made from: a rerun with the same inputs and
/// settings reuses it instead of converting again.
fn fingerprint(req: &crate::products::zarr::Request) -> String {
    let mut s = format!("{:?}|{}|{:?}|{}|{:?}|{}|{:?}\n", req.combine, req.zarr_format, req.chunks, req.chunk_target, req.compression, req.level, req.shards);
    for f in &req.files {
        let m = std::fs::metadata(f).ok();
        let t = m.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        s.push_str(&format!("{}|{}|{t}\n", f.display(), m.map(|m| m.len()).unwrap_or(0)));
    }
    s
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishSummary {
    pub zarr: Option<crate::products::zarr::Summary>,
    pub upload: Summary,
    pub output: String,
    pub stage: PathBuf,
}

/// `padocc zarr ... -o s3://bucket/prefix`: convert into the stage (unless a
/// finished stage of the same inputs is there), then upload it. The stage is
/// removed once the upload is complete.
pub fn publish(req: &crate::products::zarr::Request, url: &S3Url, settings: &S3Settings, dir: PathBuf) -> Result<PublishSummary> {
    let mark = {
        let mut s = dir.as_os_str().to_owned();
        s.push(".made-from");
        PathBuf::from(s)
    };
    let fp = fingerprint(req);
    let reuse = dir.is_dir() && std::fs::read_to_string(&mark).is_ok_and(|t| t == fp);
    let zarr = if reuse {
        None
    } else {
        let _ = std::fs::remove_file(&mark);
        if let Some(d) = dir.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::output(d, e))?;
        }
        let mut local = req.clone();
        local.out = dir.clone();
        let s = crate::products::zarr::run(&local)?;
        crate::fsutil::write_file_atomic(&mark, |w| std::io::Write::write_all(w, fp.as_bytes()).map_err(|e| Error::output(&mark, e)))?;
        Some(s)
    };
    let up =
        upload(&dir, url, settings, &req.control).map_err(|e| e.with_note(&format!("the converted store is kept in {} and the same command resumes the upload", dir.display())))?;
    // The mark goes first: a run killed while the stage is being removed
    // must not take a half-removed stage for a finished one (its upload
    // would delete the objects missing from it).
    let _ = std::fs::remove_file(&mark);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(PublishSummary { zarr, upload: up, output: url.to_string(), stage: dir })
}

/// Copy every object under `url` into `dir` (for verifying a remote store).
pub fn download(url: &S3Url, settings: &S3Settings, dir: &Path) -> Result<u64> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| Error::Resources(format!("cannot start the I/O runtime: {e}")))?;
    rt.block_on(async {
        let store = settings.object_store(url)?;
        let prefix = if url.prefix.is_empty() { None } else { Some(Key::from(format!("{}/", url.prefix))) };
        let listed: Vec<object_store::ObjectMeta> = store.list(prefix.as_ref()).try_collect().await.map_err(|e| output_error(&url.display(""), &e))?;
        if listed.is_empty() {
            return Err(Error::Missing { path: PathBuf::from(url.to_string()) });
        }
        let strip = if url.prefix.is_empty() { String::new() } else { format!("{}/", url.prefix) };
        let (store, strip) = (&store, &strip);
        let n = listed.len() as u64;
        futures_util::stream::iter(listed)
            .map(|m| async move {
                let rel = m.location.as_ref().strip_prefix(strip.as_str()).unwrap_or(m.location.as_ref()).to_string();
                let b = store.get(&m.location).await.map_err(|e| output_error(&url.display(&rel), &e))?.bytes().await.map_err(|e| output_error(&url.display(&rel), &e))?;
                let p = dir.join(&rel);
                if let Some(d) = p.parent() {
                    tokio::fs::create_dir_all(d).await.map_err(|e| Error::output(d, e))?;
                }
                tokio::fs::write(&p, &b).await.map_err(|e| Error::output(&p, e))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_what_s3_computes() {
        assert_eq!(etag_of(b"", 0), "d41d8cd98f00b204e9800998ecf8427e");
        let big = vec![7u8; PART_SIZE as usize + 10];
        let t = etag_of(&big, big.len() as u64);
        assert!(t.ends_with("-2"), "{t}");
    }

    #[test]
    fn metadata_keys() {
        assert!(is_root_metadata("zarr.json") && is_root_metadata(".zmetadata"));
        assert!(is_metadata("a/zarr.json") && !is_root_metadata("a/zarr.json"));
        assert!(!is_metadata("a/c/0/0") && !is_metadata("a/0.0"));
    }
}
