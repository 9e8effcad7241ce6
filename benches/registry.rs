//! Registry push/pull: mbi vs `skopeo copy` of the same OCI layout, same registry, same run.
//!
//! Images: ~165 MB of gzip-compressed layer data (random-ish, compressible content), once as a
//! single layer and once split into 5 layers, generated on /dev/shm. Every push goes to a fresh
//! registry process (so no blob is already there); every pull goes into an empty directory.
//! The re-push case pushes an image that is already in the registry (existence checks only).
//!
//! Run: `cargo bench --bench registry` (needs docker-registry, skopeo, pigz). A ratio table is
//! printed at the end (median times; > 1.00 means mbi is faster).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group};
use mbi_core::{BlobStore, Descriptor, DirStore, MediaType, Sha256Hasher};
use mbi_registry::{Client, PlatformSelector, Reference};
use mbi_testkit::registry::{
    RegistryAuth, TestRegistry, fast_tempdir, pseudo_random, registry_available, write_layout_index,
};

const TOTAL_COMPRESSED: usize = 165 * 1024 * 1024;
static TIMES: Mutex<BTreeMap<String, Vec<Duration>>> = Mutex::new(BTreeMap::new());

fn record(name: &str, d: Duration) {
    TIMES.lock().unwrap().entry(name.to_owned()).or_default().push(d);
}

/// A tar stream holding one file `name` with `data`.
fn tar_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |h: &mut [u8], off: usize, len: usize, v: u64| {
        let s = format!("{:0w$o}\0", v, w = len - 1);
        h[off..off + len].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, data.len() as u64);
    octal(&mut h, 136, 12, 946684800);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    octal(&mut h, 148, 7, sum);
    h[155] = b' ';
    let mut out = Vec::with_capacity(data.len() + 2048);
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// Random-ish compressible content: random blocks interleaved with repetitive text.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        if i % 5 < 3 {
            out.extend_from_slice(&pseudo_random(seed * 1_000_003 + i, 64 * 1024));
        } else {
            for k in 0..1024 {
                out.extend_from_slice(
                    format!("line {k} of block {i}: lorem ipsum dolor\n").as_bytes(),
                );
            }
        }
        i += 1;
    }
    out.truncate(len);
    out
}

fn pigz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("pigz")
        .args(["-6", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pigz");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out.stdout
}

/// Builds an OCI layout at `dir` with `layers` layers totalling ~TOTAL_COMPRESSED bytes.
fn build_image(dir: &Path, layers: usize) -> Descriptor {
    let store = DirStore::new(dir).unwrap();
    // gzip -6 of this content is ~60% of its size.
    let raw_total = TOTAL_COMPRESSED * 10 / 6;
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let tar = tar_one(&format!("data{i}.bin"), &content(i as u64 + 1, raw_total / layers));
        let mut h = Sha256Hasher::new();
        h.update(&tar);
        diff_ids.push(h.finish().0.to_string());
        let gz = pigz(&tar);
        let (d, n) = store.put_bytes(&gz).unwrap();
        layer_descs.push(Descriptor::new(MediaType::OciLayerGzip, d, n));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cbytes = mbi_core::canonical::to_vec(&config).unwrap();
    let (cd, cn) = store.put_bytes(&cbytes).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": MediaType::OciManifest,
        "config": Descriptor::new(MediaType::OciConfig, cd, cn), "layers": layer_descs,
    });
    let mbytes = mbi_core::canonical::to_vec(&manifest).unwrap();
    store.put_bytes(&mbytes).unwrap();
    let desc = Descriptor::of_bytes(MediaType::OciManifest, &mbytes);
    write_layout_index(dir, &[(desc.clone(), "v1")]).unwrap();
    desc
}

fn skopeo(args: &[&str]) {
    let st = Command::new("skopeo").args(args).stdout(Stdio::null()).status().unwrap();
    assert!(st.success(), "skopeo {args:?}");
}

struct Fixture {
    root: PathBuf,
    images: Vec<(&'static str, PathBuf, Descriptor)>,
}

fn bench(c: &mut Criterion) {
    if !registry_available() || Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("SKIPPED: docker-registry and skopeo are needed for this bench");
        return;
    }
    // A unique directory on tmpfs, removed when the bench ends.
    let tmp = fast_tempdir("mbi-bench-registry-").unwrap();
    let root = tmp.path().to_owned();
    let mut fx = Fixture { root: root.clone(), images: Vec::new() };
    for (name, layers) in [("single", 1), ("multi5", 5)] {
        let dir = root.join(name);
        let desc = build_image(&dir, layers);
        fx.images.push((name, dir, desc));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut g = c.benchmark_group("registry");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(20));

    for (name, dir, desc) in &fx.images {
        let store: Arc<dyn BlobStore> = Arc::new(DirStore::new(dir).unwrap());
        // Push into a fresh registry each time.
        let id = format!("push {name} mbi");
        g.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
                    let target: Reference =
                        format!("{}/bench/{name}:v1", reg.host()).parse().unwrap();
                    let t = Instant::now();
                    rt.block_on(async {
                        Client::builder()
                            .build()
                            .unwrap()
                            .push(store.clone(), desc, &target)
                            .await
                            .unwrap()
                    });
                    let d = t.elapsed();
                    record(&id, d);
                    total += d;
                }
                total
            })
        });
        let id = format!("push {name} skopeo");
        g.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
                    let t = Instant::now();
                    skopeo(&[
                        "copy",
                        "-q",
                        "--dest-tls-verify=false",
                        &format!("oci:{}:v1", dir.display()),
                        &format!("docker://{}/bench/{name}:v1", reg.host()),
                    ]);
                    let d = t.elapsed();
                    record(&id, d);
                    total += d;
                }
                total
            })
        });
        // Pulls and re-pushes from one registry holding the image.
        let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
        let src: Reference = format!("{}/bench/{name}:v1", reg.host()).parse().unwrap();
        rt.block_on(async {
            Client::builder().build().unwrap().push(store.clone(), desc, &src).await.unwrap()
        });
        let id = format!("pull {name} mbi");
        let out = fx.root.join("pull-out");
        g.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let _ = std::fs::remove_dir_all(&out);
                    let dest: Arc<dyn BlobStore> = Arc::new(DirStore::new(&out).unwrap());
                    let t = Instant::now();
                    rt.block_on(async {
                        Client::builder()
                            .build()
                            .unwrap()
                            .pull(
                                &src,
                                &PlatformSelector::Platform("linux/amd64".parse().unwrap()),
                                dest,
                            )
                            .await
                            .unwrap()
                    });
                    let d = t.elapsed();
                    record(&id, d);
                    total += d;
                }
                total
            })
        });
        let id = format!("pull {name} skopeo");
        g.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let _ = std::fs::remove_dir_all(&out);
                    let t = Instant::now();
                    skopeo(&[
                        "copy",
                        "-q",
                        "--src-tls-verify=false",
                        &format!("docker://{src}"),
                        &format!("oci:{}:v1", out.display()),
                    ]);
                    let d = t.elapsed();
                    record(&id, d);
                    total += d;
                }
                total
            })
        });
        let _ = std::fs::remove_dir_all(&out);
        if *name == "multi5" {
            let id = "re-push multi5 mbi".to_owned();
            g.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let p = rt.block_on(async {
                            Client::builder()
                                .build()
                                .unwrap()
                                .push(store.clone(), desc, &src)
                                .await
                                .unwrap()
                        });
                        let d = t.elapsed();
                        assert_eq!(p.blobs.transferred, 0);
                        record(&id, d);
                        total += d;
                    }
                    total
                })
            });
            let id = "re-push multi5 skopeo".to_owned();
            g.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        skopeo(&[
                            "copy",
                            "-q",
                            "--dest-tls-verify=false",
                            &format!("oci:{}:v1", dir.display()),
                            &format!("docker://{src}"),
                        ]);
                        let d = t.elapsed();
                        record(&id, d);
                        total += d;
                    }
                    total
                })
            });
        }
    }
    g.finish();
    drop(fx);
    drop(tmp);
    summary();
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn summary() {
    let times = TIMES.lock().unwrap();
    println!("\nregistry bench: median seconds (ratio = skopeo / mbi; > 1 means mbi is faster)");
    for case in ["push single", "push multi5", "pull single", "pull multi5", "re-push multi5"] {
        let (Some(m), Some(s)) =
            (times.get(&format!("{case} mbi")), times.get(&format!("{case} skopeo")))
        else {
            continue;
        };
        let (m, s) = (median(m), median(s));
        println!(
            "  {case:<16} mbi {:>7.3}  skopeo {:>7.3}  ratio {:>5.2}",
            m.as_secs_f64(),
            s.as_secs_f64(),
            s.as_secs_f64() / m.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
