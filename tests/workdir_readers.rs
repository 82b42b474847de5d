//! The readers of a working directory's files, driven with arbitrary and
//! damaged bytes: proj_codes, base-cfg, detail-cfg, status_log.csv, status
//! journals, manifests and input CSVs. None may panic, write outside the
//! working directory, or reset the file it read (a read is a read).

use std::path::{Path, PathBuf};

use padocc::workdir::group::GroupDir;
use padocc::workdir::Workdir;

/// A small deterministic generator: the cases must differ, not be secret.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid contents to start from, then damaged: cut, bit-flipped, spliced with
/// hostile text, or replaced by random bytes.
fn mutate(rng: &mut Lcg, seed: &[u8]) -> Vec<u8> {
    let hostile: [&[u8]; 8] = [b"../../../etc", b"\x00", b"\xff\xfe", b"\n\n,,,\t", b"\"", b"{\"a\":", b"\xe2\x80\x8b", b"NaN"];
    let mut v = seed.to_vec();
    match rng.below(5) {
        0 => v.truncate(rng.below(v.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(8) {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            let at = rng.below(v.len() + 1);
            let h = hostile[rng.below(hostile.len())];
            v.splice(at..at, h.iter().copied());
        }
        3 => v = (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        _ => v.clear(),
    }
    v
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn damaged_state_files_give_errors_not_panics_escapes_or_resets() {
    let d = tempfile::tempdir().unwrap();
    let outside = d.path();
    let wd = Workdir { root: outside.join("wd") };
    let g = GroupDir::create(&wd, "g").unwrap();
    g.save_codes("main", &["p0".into(), "p1".into()]).unwrap();
    let p = g.project("p0").unwrap();
    std::fs::create_dir_all(&p.dir).unwrap();
    let base = br#"{"proj_code":"p0","pattern":"/d/*.nc","version_no":"1.0","override":{"cloud_type":"kerchunk","file_type":"json"},"remote":false,"disable_CFA":false,"keep_vars":"all","mine":1}"#;
    let detail = br#"{"source_data":"1.00 MB","num_files":3,"kwargs":{"combine_kwargs":{"concat_dims":["time"]}},"estimates":{"compute_memory_bytes":5}}"#;
    let status = b"init,Success,01:27 24/11/26,\nscan,Success,01:28 24/11/26,2\n";
    let journal = b"1\tp0\tscan\tSuccess\t01:28 24/11/26\t2\n2\tp1\tinit\tSuccess\tt\t\n";
    let codes = b"p0\np1\n";
    let csv = b"proj_code,pattern,updates,removals\np0,\"/d/a,b/*.nc\",,\n";
    let manifest = br#"{"format":1,"submission":"s","group":"g","workdir":"/w","phase":"compute","scheduler":"slurm","index_base":1,"created":"t","attempt":1,"options":{},"tasks":[{"projects":["p0"],"time_s":60,"mem_mb":512}],"boosts":{},"chained":false}"#;
    let before_outside: Vec<PathBuf> = std::fs::read_dir(outside).unwrap().flatten().map(|e| e.path()).collect();
    let mut rng = Lcg(20261206);
    let mut errors = 0usize;
    let cases = 600;
    for case in 0..cases {
        let (file, seed): (PathBuf, &[u8]) = match case % 7 {
            0 => (p.path("base-cfg.json"), base),
            1 => (p.path("detail-cfg.json"), detail),
            2 => (p.path("status_log.csv"), status),
            3 => (g.dir.join("status/x-1-1.jnl"), journal),
            4 => (g.dir.join("proj_codes/main.txt"), codes),
            5 => (outside.join("in.csv"), csv),
            _ => (outside.join("manifest.json"), manifest),
        };
        let bytes = mutate(&mut rng, seed);
        std::fs::write(&file, &bytes).unwrap();
        let ok = match case % 7 {
            0 => p.base().is_ok(),
            1 => p.detail().is_ok(),
            2 => p.status_rows().is_ok(),
            3 => g.current_statuses(&["p0".into(), "p1".into()]).is_ok(),
            4 => g.codes("main").is_ok_and(|c| c.iter().all(|c| g.project(c).is_ok_and(|p| p.dir.starts_with(&wd.root)))),
            5 => padocc::pipeline::init::rows_from_input(&file).is_ok(),
            _ => padocc::scheduler::coordinator::Manifest::read(&file).is_ok(),
        };
        errors += usize::from(!ok);
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "case {case}: reading {} changed it", file.display());
        // Restore the valid file for the next readers.
        std::fs::write(&file, seed).unwrap();
    }
    let after_outside: Vec<PathBuf> = std::fs::read_dir(outside).unwrap().flatten().map(|e| e.path()).filter(|p| !p.ends_with("in.csv") && !p.ends_with("manifest.json")).collect();
    assert_eq!(after_outside, before_outside, "something was written beside the working directory");
    assert!(listing(&wd.root).iter().all(|f| f.starts_with(&wd.root)));
    // A damaged base-cfg is never replaced by defaults.
    std::fs::write(p.path("base-cfg.json"), b"{}").unwrap();
    assert!(p.base().is_err());
    assert_eq!(std::fs::read(p.path("base-cfg.json")).unwrap(), b"{}");
    assert!(errors > cases / 10, "too few damaged inputs were refused ({errors}): the mutations are too gentle");
}
