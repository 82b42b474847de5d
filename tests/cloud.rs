//! Cloud products for real: Icechunk repositories (local and in S3) read by
//! Python icechunk + xarray, Zarr stores uploaded to a real S3 server (moto,
//! started here; or PADOCC_TEST_S3_ENDPOINT) read back by xarray through
//! s3fs, and the faults a data centre meets: killed uploads, a server that
//! goes away, wrong credentials, sources changed after the references.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn strs(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| f.display().to_string()).collect()
}

/// `padocc refs FILES -o OUT ARGS --json` (run with `env`), its summary.
fn icechunk_refs(files: &[PathBuf], out: &str, extra: &[&str], env: &[(&'static str, String)]) -> serde_json::Value {
    let mut args = vec!["refs".to_string()];
    args.extend(strs(files));
    args.extend(["-o".into(), out.into(), "--json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).envs(env.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap();
    serde_json::from_str(&ok(&o, "refs -> icechunk")).expect("a JSON summary")
}

fn verify(product: &str, files: &[PathBuf], env: &[(&'static str, String)]) -> Output {
    verify_along(product, files, "time", env)
}

fn verify_along(product: &str, files: &[PathBuf], dims: &str, env: &[(&'static str, String)]) -> Output {
    let mut args = vec!["verify".to_string(), product.to_string(), "--concat-dim".to_string(), dims.to_string()];
    args.extend(strs(files));
    Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).envs(env.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap()
}

/// Every shared series as an Icechunk repository equals its sources for
/// xarray through Python icechunk and for `padocc verify`.
#[test]
fn icechunk_repositories_of_the_shared_series_read_back_equal() {
    let d = tempfile::tempdir().unwrap();
    // (series, concat dims for padocc, checker args): padocc-3DAgg tiles
    // time x lat x lon, as its MANIFEST entry says.
    let cases: [(&str, &str, &[&str]); 3] = [
        ("cmip6-FGOALS-g3-Amon-ta", "time", &["--concat-dim", "time"]),
        ("arm-sgp30ebbrE32-b1", "time", &["--concat-dim", "time"]),
        ("padocc-3DAgg", "time,lat,lon", &["--combine", "by_coords", "--no-decode-coords"]),
    ];
    for (name, dims, checker) in cases {
        let files = series(name);
        let out = d.path().join(format!("{name}.icechunk")).display().to_string();
        let s = icechunk_refs(&files, &out, &["--concat-dim", dims], &[]);
        assert_eq!(s["kind"], "icechunk");
        assert!(s["containers"][0].as_str().unwrap().starts_with("file:///"), "{s}");
        assert!(!s["snapshot"].as_str().unwrap().is_empty());
        check_cloud(&out, &files, checker, &[]);
        ok(&verify_along(&out, &files, dims, &[]), "verify icechunk");
    }
}

/// A series split in two: the first half, then the rest appended as a new
/// commit, equals the whole series; the first snapshot still reads as the
/// first half; only new references are written.
#[test]
fn appending_to_an_icechunk_repository_makes_a_new_commit() {
    let d = tempfile::tempdir().unwrap();
    let files = series("cmip6-FGOALS-g3-Amon-ta");
    assert!(files.len() >= 2);
    let (first, rest) = files.split_at(files.len() / 2);
    let out = d.path().join("grow.icechunk").display().to_string();
    let s1 = icechunk_refs(first, &out, &["--concat-dim", "time", "-m", "first half"], &[]);
    assert_eq!(s1["message"], "first half");
    let s2 = icechunk_refs(rest, &out, &["--concat-dim", "time", "--append"], &[]);
    assert_eq!(s2["files"].as_u64().unwrap() as usize, files.len());
    assert_eq!(s2["added_files"].as_u64().unwrap() as usize, rest.len());
    assert!(s2["written"].as_u64().unwrap() < s2["references"].as_u64().unwrap(), "an append rewrote everything: {s2}");
    assert_ne!(s1["snapshot"], s2["snapshot"]);
    check_cloud(&out, &files, &["--concat-dim", "time"], &[]);
    check_cloud(&out, first, &["--concat-dim", "time"], &[("ICECHUNK_SNAPSHOT", s1["snapshot"].as_str().unwrap().to_string())]);
    ok(&verify(&out, &files, &[]), "verify after append");
    // Appending the same files again changes nothing but the commit.
    let s3 = icechunk_refs(rest, &out, &["--concat-dim", "time", "--append"], &[]);
    assert_eq!(s3["written"], 0, "{s3}");
}

/// A source modified after its references were made is named by `verify`.
#[test]
fn a_source_changed_after_the_references_is_detected() {
    let d = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = series("padocc-1DAgg")
        .iter()
        .map(|f| {
            let p = d.path().join(f.file_name().unwrap());
            std::fs::copy(f, &p).unwrap();
            p
        })
        .collect();
    let out = d.path().join("s.icechunk").display().to_string();
    icechunk_refs(&files, &out, &["--concat-dim", "time"], &[]);
    ok(&verify(&out, &files, &[]), "verify before the change");
    let later = std::time::SystemTime::now() + Duration::from_secs(120);
    std::fs::File::options().write(true).open(&files[1]).unwrap().set_modified(later).unwrap();
    let o = verify(&out, &files, &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("changed after the references were made") && e.contains(&files[1].display().to_string()), "{e}");
}

/// `--append` outside an Icechunk repository, or onto nothing, says why.
#[test]
fn append_needs_an_existing_repository() {
    let d = tempfile::tempdir().unwrap();
    let files = series("padocc-1DAgg");
    let o = refs(&files, &d.path().join("x.json"), &["--append"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Icechunk"), "{}", stderr(&o));
    let o = refs(&files, &d.path().join("new.icechunk"), &["--append"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("existing repository"), "{}", stderr(&o));
}

/// An Icechunk repository in S3, read by Python icechunk from the same server.
#[test]
fn icechunk_repository_in_s3() {
    let s3 = S3Server::start();
    let files = series("cmip6-BCC-CSM2-MR-day-ta");
    let url = s3.url("repos/bcc.icechunk");
    icechunk_refs(&files, &url, &["--concat-dim", "time"], &s3.env());
    let mut env = s3.env();
    env.retain(|(k, _)| k.starts_with("AWS_"));
    check_cloud(&url, &files, &["--concat-dim", "time", "--modes", "decoded"], &env);
    ok(&verify(&url, &files, &s3.env()), "verify icechunk in s3");
}

/// A netCDF file of `n` time steps of a 64x64 float32 field: many small chunks.
fn write_field(p: &Path, t0: usize, n: usize) {
    let _g = writing();
    let mut f = netcdf::create(p).unwrap();
    f.add_unlimited_dimension("time").unwrap();
    f.add_dimension("y", 64).unwrap();
    f.add_dimension("x", 64).unwrap();
    let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
    t.put_attribute("units", "hours since 2000-01-01").unwrap();
    t.put_values(&(t0..t0 + n).map(|i| i as f64).collect::<Vec<_>>(), 0..n).unwrap();
    let mut v = f.add_variable::<f32>("field", &["time", "y", "x"]).unwrap();
    v.put_attribute("units", "K").unwrap();
    let vals: Vec<f32> = (0..n * 64 * 64).map(|k| ((k * 7919 + t0) % 1000) as f32 * 0.5).collect();
    v.put_values(&vals, (0..n, 0..64, 0..64)).unwrap();
}

fn field_series(dir: &Path) -> Vec<PathBuf> {
    (0..2)
        .map(|i| {
            let p = dir.join(format!("field_{i}.nc"));
            write_field(&p, i * 60, 60);
            p
        })
        .collect()
}

fn zarr_args(files: &[PathBuf], url: &str, stage: &Path) -> Vec<String> {
    let mut a = vec!["zarr".to_string()];
    a.extend(strs(files));
    a.extend(["-o", url, "--concat-dim", "time", "--chunks", "time=1", "--compression", "zstd", "-q", "--stage"].iter().map(|s| s.to_string()));
    a.push(stage.display().to_string());
    a
}

/// (key, size, etag) of every object under a prefix, through boto3 (another client).
fn listing(s3: &S3Server, prefix: &str) -> Vec<(String, u64, String)> {
    let code = format!(
        "import boto3,os,json\nc=boto3.client('s3',endpoint_url=os.environ['AWS_ENDPOINT_URL'])\nout=[]\nfor page in c.get_paginator('list_objects_v2').paginate(Bucket='{}',Prefix='{}/'):\n  out+= [(o['Key'][len('{}/'):],o['Size'],o['ETag']) for o in page.get('Contents',[])]\nprint(json.dumps(sorted(out)))",
        s3.bucket, prefix, prefix
    );
    let o = Command::new(cloudenv()).args(["-c", &code]).envs(s3.env()).output().unwrap();
    serde_json::from_str(&ok(&o, "list objects")).unwrap()
}

/// Zarr to S3 read back by xarray through s3fs, and by `padocc verify`.
#[test]
fn zarr_store_uploaded_to_s3_reads_back_equal() {
    let s3 = S3Server::start();
    let d = tempfile::tempdir().unwrap();
    for name in ["cmip6-FGOALS-g3-Amon-ta", "padocc-rain"] {
        let files = series(name);
        let url = s3.url(&format!("stores/{name}.zarr"));
        let mut args = vec!["zarr".to_string()];
        args.extend(strs(&files));
        args.extend(["-o".into(), url.clone(), "--concat-dim".into(), "time".into(), "--json".into(), "--stage".into(), d.path().join("stage").display().to_string()]);
        let out = ok(&s3.padocc(&args.iter().map(String::as_str).collect::<Vec<_>>()), "zarr -> s3");
        let s: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(s["upload"]["uploaded"].as_u64().unwrap() > 0, "{s}");
        assert!(!Path::new(s["stage"].as_str().unwrap()).exists(), "the stage is removed after a complete upload");
        let mut env = s3.env();
        env.retain(|(k, _)| k.starts_with("AWS_"));
        check_cloud(&url, &files, &["--concat-dim", "time"], &env);
        ok(&verify(&url, &files, &s3.env()), "verify s3 zarr");
        // The same command again finds the store complete: nothing is sent twice.
        let again: serde_json::Value = serde_json::from_str(&ok(&s3.padocc(&args.iter().map(String::as_str).collect::<Vec<_>>()), "zarr -> s3 again")).unwrap();
        assert_eq!(again["upload"]["uploaded"], 0, "{again}");
    }
}

/// Kill an upload at random points (12 trials), rerun it: the store equals a
/// clean one, object for object. While killed, a reader sees either no store
/// or the whole store, never part of it.
#[test]
fn killed_zarr_uploads_resume_to_the_same_store() {
    let s3 = S3Server::start();
    let d = tempfile::tempdir().unwrap();
    let files = field_series(d.path());
    let clean = "clean.zarr";
    ok(&s3.padocc(&zarr_args(&files, &s3.url(clean), &d.path().join("stage-clean")).iter().map(String::as_str).collect::<Vec<_>>()), "clean upload");
    let want = listing(&s3, clean);
    assert!(want.len() > 100, "{} objects", want.len());
    let t_clean = {
        let t = std::time::Instant::now();
        ok(&s3.padocc(&zarr_args(&files, &s3.url("timing.zarr"), &d.path().join("stage-timing")).iter().map(String::as_str).collect::<Vec<_>>()), "timed upload");
        t.elapsed()
    };
    // Deterministic "random" kill points over the whole run, conversion included.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for trial in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let name = format!("killed{trial}.zarr");
        let url = s3.url(&name);
        let stage = d.path().join(format!("stage{trial}"));
        let args = zarr_args(&files, &url, &stage);
        // One or two kills per trial, then a run to the end.
        for k in 0..(1 + trial % 2) {
            let frac = ((seed >> (8 * k)) % 1000) as f64 / 1000.0;
            let mut child = Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).envs(s3.env()).spawn().unwrap();
            std::thread::sleep(t_clean.mul_f64(frac));
            let _ = child.kill();
            let _ = child.wait();
            let now = listing(&s3, &name);
            if now.iter().any(|(k, _, _)| k == "zarr.json") {
                assert_eq!(now, want, "trial {trial}: a reader saw a store that is not whole");
            }
        }
        ok(&s3.padocc(&args.iter().map(String::as_str).collect::<Vec<_>>()), "resumed upload");
        assert_eq!(listing(&s3, &name), want, "trial {trial}: the resumed store differs from a clean one");
    }
    let mut env = s3.env();
    env.retain(|(k, _)| k.starts_with("AWS_"));
    check_cloud(&s3.url("killed0.zarr"), &files, &["--concat-dim", "time"], &env);
}

/// The server going away mid-upload: a clear error naming the bucket, and a
/// state the same command resumes from once the server is back.
#[test]
fn a_server_stopped_mid_upload_gives_a_clear_error_and_resumes() {
    let mut s3 = S3Server::start_moto(0);
    let port = s3.port();
    let d = tempfile::tempdir().unwrap();
    let files = field_series(d.path());
    let stage = d.path().join("stage");
    let args = zarr_args(&files, &s3.url("away.zarr"), &stage);
    // Convert first (the stage is kept), so that the server dies during the upload.
    let child = Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).envs(s3.env()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    // Stop the server once some objects are there.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while listing(&s3, "away.zarr").len() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let env = s3.env();
    s3.stop();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6), "pid {pid}: {}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("s3://padocc-test/away.zarr"), "the error names the bucket and key: {e}");
    assert!(e.contains("rerun") || e.contains("resume"), "the error says what to do: {e}");
    assert!(stage.is_dir(), "the converted store is kept for the rerun");
    // Back up (empty, as moto keeps nothing): the same command completes.
    let s3b = S3Server::start_moto(port);
    assert_eq!(s3b.env(), env);
    ok(&s3b.padocc(&args.iter().map(String::as_str).collect::<Vec<_>>()), "rerun after the server is back");
    let mut env = s3b.env();
    env.retain(|(k, _)| k.starts_with("AWS_"));
    check_cloud(&s3b.url("away.zarr"), &files, &["--concat-dim", "time"], &env);
}

/// Wrong credentials: refused with a message saying which, never printing the secret.
#[test]
fn wrong_credentials_are_refused_clearly() {
    let s3 = S3Server::start_moto_with_auth();
    let d = tempfile::tempdir().unwrap();
    let files = series("padocc-1DAgg");
    let args = zarr_args(&files, &s3.url("creds.zarr"), &d.path().join("stage"));
    let mut env = s3.env();
    for (k, v) in env.iter_mut() {
        if *k == "AWS_SECRET_ACCESS_KEY" {
            *v = "not-the-secret-xyz".into();
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).args(&args).envs(env.clone()).output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("credentials") && e.contains("padocc-test"), "{e}");
    assert!(!e.contains("not-the-secret-xyz"), "the secret was printed: {e}");
    let o = Command::new(env!("CARGO_BIN_EXE_padocc")).args(refs_args(&files, &s3.url("creds.icechunk"))).envs(env).output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("credentials"), "{}", stderr(&o));
    // The right ones work.
    ok(&s3.padocc(&args.iter().map(String::as_str).collect::<Vec<_>>()), "upload with the right credentials");
}

fn refs_args(files: &[PathBuf], out: &str) -> Vec<String> {
    let mut a = vec!["refs".to_string()];
    a.extend(strs(files));
    a.extend(["-o".into(), out.into(), "--concat-dim".into(), "time".into(), "-q".into()]);
    a
}

fn padocc_in(wd: &Path, args: &[&str], env: &[(&'static str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_padocc")).arg("-w").arg(wd).args(args).env_remove("WORKDIR").envs(env.iter().map(|(k, v)| (*k, v.as_str()))).output().unwrap()
}

fn json_of(o: &Output, what: &str) -> serde_json::Value {
    serde_json::from_str(&ok(o, what)).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"))
}

/// The pipeline with `-C icechunk` on a growing dataset: compute commits a
/// repository, validate checks its newest snapshot, status shows it; a new
/// month of files (init re-run) becomes a second commit of only those files;
/// the project's config records the snapshot and its message.
#[test]
fn an_icechunk_project_grows_by_commits_through_the_pipeline() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let all = series("cmip6-FGOALS-g3-Amon-ta");
    let (first, rest) = all.split_at(4);
    for f in first {
        std::fs::copy(f, src.join(f.file_name().unwrap())).unwrap();
    }
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, format!("grow,{}/*.nc,,\n", src.display())).unwrap();
    ok(&padocc_in(&wd, &["init", "-G", "g", "-i", csv.to_str().unwrap()], &[]), "init");
    ok(&padocc_in(&wd, &["scan", "-G", "g"], &[]), "scan");
    ok(&padocc_in(&wd, &["compute", "-G", "g", "-C", "icechunk"], &[]), "compute");
    let v = json_of(&padocc_in(&wd, &["validate", "-G", "g", "--format", "json"], &[]), "validate");
    assert_eq!(v["failed"], 0, "{v:#}");
    let base = |wd: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(wd.join("in_progress/g/grow/base-cfg.json")).unwrap()).unwrap() };
    let b1 = base(&wd);
    let snap1 = b1["icechunk"]["snapshot"].as_str().expect("the snapshot id is recorded").to_string();
    let repo = b1["icechunk"]["location"].as_str().unwrap().to_string();
    assert!(repo.ends_with(".icechunk"), "{repo}");
    let st = json_of(&padocc_in(&wd, &["status", "-G", "g", "--format", "json"], &[]), "status");
    assert!(st["snapshots"]["grow"].as_str().unwrap().starts_with(&snap1), "{st:#}");
    let human = ok(&padocc_in(&wd, &["status", "-G", "g"], &[]), "status");
    assert!(human.contains("Icechunk snapshots") && human.contains(&snap1), "{human}");

    // A new month of data: the project's file list grows, the repository gets a commit.
    for f in rest {
        std::fs::copy(f, src.join(f.file_name().unwrap())).unwrap();
    }
    let copied: Vec<PathBuf> = all.iter().map(|f| src.join(f.file_name().unwrap())).collect();
    ok(&padocc_in(&wd, &["init", "-G", "g", "-i", csv.to_str().unwrap()], &[]), "init again");
    ok(&padocc_in(&wd, &["scan", "-G", "g"], &[]), "scan again");
    ok(&padocc_in(&wd, &["compute", "-G", "g", "-C", "icechunk"], &[]), "compute again");
    let b2 = base(&wd);
    let snap2 = b2["icechunk"]["snapshot"].as_str().unwrap();
    assert_ne!(snap2, snap1);
    assert!(b2["icechunk"]["message"].as_str().unwrap().contains(&format!("appended {} file(s)", rest.len())), "{:#}", b2["icechunk"]);
    let v = json_of(&padocc_in(&wd, &["validate", "-G", "g", "--format", "json"], &[]), "validate again");
    assert_eq!(v["failed"], 0, "{v:#}");
    check_cloud(&repo, &copied, &["--concat-dim", "time"], &[]);
    check_cloud(&repo, &copied[..first.len()], &["--concat-dim", "time"], &[("ICECHUNK_SNAPSHOT", snap1.clone())]);
    // Nothing new: compute leaves the repository as it is.
    let again = ok(&padocc_in(&wd, &["compute", "-G", "g", "-C", "icechunk"], &[]), "compute with nothing new");
    assert_eq!(base(&wd)["icechunk"]["snapshot"].as_str().unwrap(), snap2, "{again}");
}

/// A Zarr project with padocc's `remote_s3` settings (credentials in a file,
/// none in the environment): compute publishes to the bucket, validate reads
/// it back with the project's settings, complete records where it is.
#[test]
fn a_zarr_project_with_remote_s3_settings_publishes_to_the_bucket() {
    let s3 = S3Server::start();
    let d = tempfile::tempdir().unwrap();
    let files = series("padocc-1DAgg");
    let wd = d.path().join("wd");
    let csv = d.path().join("in.csv");
    std::fs::write(&csv, format!("rain,{}/*.nc,,\n", files[0].parent().unwrap().display())).unwrap();
    // Nothing of S3 in the environment: the project's config says it all.
    let none: Vec<(&'static str, String)> = vec![("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()), ("AWS_CONFIG_FILE", "/nonexistent".into())];
    let clean = |c: &mut Command| {
        for k in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
            c.env_remove(k);
        }
    };
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_padocc"));
        c.arg("-w").arg(&wd).args(args).env_remove("WORKDIR").envs(none.iter().map(|(k, v)| (*k, v.as_str())));
        clean(&mut c);
        c.output().unwrap()
    };
    ok(&run(&["init", "-G", "g", "-i", csv.to_str().unwrap()]), "init");
    ok(&run(&["scan", "-G", "g"]), "scan");
    let env = s3.env();
    let get = |k: &str| env.iter().find(|(n, _)| *n == k).unwrap().1.clone();
    let creds = d.path().join("creds.json");
    std::fs::write(&creds, serde_json::json!({"token": get("AWS_ACCESS_KEY_ID"), "secret": get("AWS_SECRET_ACCESS_KEY"), "endpoint_url": s3.endpoint}).to_string()).unwrap();
    let cfg = wd.join("in_progress/g/rain/base-cfg.json");
    let mut base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    base["remote_s3"] =
        serde_json::json!({"bucket_id": s3.bucket, "store_name": "pipeline/rain.zarr", "s3_credentials": creds.display().to_string(), "s3_kwargs": {"region_name": "us-east-1"}});
    std::fs::write(&cfg, base.to_string()).unwrap();

    let out = ok(&run(&["compute", "-G", "g", "-C", "zarr"]), "compute to s3");
    assert!(!out.contains(&get("AWS_SECRET_ACCESS_KEY")) || get("AWS_SECRET_ACCESS_KEY") == "testing", "a secret was printed");
    let url = s3.url("pipeline/rain.zarr");
    assert!(!listing(&s3, "pipeline/rain.zarr").is_empty(), "nothing in the bucket");
    let v = json_of(&run(&["validate", "-G", "g", "--format", "json"]), "validate");
    assert_eq!(v["failed"], 0, "{v:#}");
    let done = d.path().join("done");
    ok(&run(&["complete", "-G", "g", "--completion_dir", done.to_str().unwrap()]), "complete");
    let recorded: Vec<String> = std::fs::read_dir(done.join("data")).unwrap().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect();
    assert!(recorded.iter().any(|t| t.trim() == url), "{recorded:?}");
    let mut env = s3.env();
    env.retain(|(k, _)| k.starts_with("AWS_"));
    check_cloud(&url, &files, &["--concat-dim", "time"], &env);
}
