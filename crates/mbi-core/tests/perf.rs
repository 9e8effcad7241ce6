//! Throughput of the transports against skopeo doing the same work, in the same run, on tmpfs.
//! Not part of the normal test run:
//!
//! ```sh
//! cargo test -p mbi-core --test perf -- --ignored --nocapture
//! ```
//!
//! The layer is a tar of /usr/bin (a few hundred MB of real binaries), gzip-compressed.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{have, run, skopeo};
use mbi_core::transport::{self, CopyOptions, ImageReference};
use mbi_core::{
    BlobStore, Descriptor, Digest, HistoryEntry, ImageBuilder, MediaType, OciLayout, Platform,
};

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn rm(p: &Path) {
    let _ = std::fs::remove_file(p);
    let _ = std::fs::remove_dir_all(p);
}

#[test]
#[ignore = "measurement; run explicitly"]
fn transports_vs_skopeo() {
    if !have("skopeo") || !have("pigz") || !Path::new("/dev/shm").is_dir() {
        return;
    }
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let d = dir.path();
    let tar = d.join("layer.tar");
    run(Command::new("sh").arg("-c").arg(format!(
        "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C /usr -cf {} bin && pigz -6 -n -k {}",
        tar.display(),
        tar.display()
    )));
    let raw = std::fs::read(&tar).unwrap();
    let diff = Digest::sha256(&raw);
    drop(raw);
    let layout = OciLayout::create(d.join("src")).unwrap();
    let gz = d.join("layer.tar.gz");
    let size = std::fs::metadata(&gz).unwrap().len();
    let put = best_of(1, || {
        let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&gz).unwrap());
        layout.put_reader(&mut f, None).unwrap();
    });
    let blob = Digest::sha256(&std::fs::read(&gz).unwrap());
    let img = ImageBuilder::new(Platform::linux("amd64"))
        .append_layer(
            Descriptor::new(MediaType::OciLayerGzip, blob, size),
            diff,
            HistoryEntry::new("usr/bin"),
        )
        .build(&layout)
        .unwrap();
    layout.tag("t", img.descriptor()).unwrap();
    let src = format!("oci:{}:t", layout.path().display());
    let r = |s: String| -> ImageReference { s.parse().unwrap() };
    let tar_mb = std::fs::metadata(&tar).unwrap().len() as f64 / 1e6;
    println!(
        "layer: {tar_mb:.0} MB tar, {:.0} MB gzip; put into layout: {put:?}",
        size as f64 / 1e6
    );

    let da = d.join("d.tar");
    let mbi_da = best_of(3, || {
        rm(&da);
        transport::copy(
            &r(src.clone()),
            &r(format!("docker-archive:{}:x:y", da.display())),
            &CopyOptions::default(),
        )
        .unwrap();
    });
    let sk_da = best_of(3, || {
        rm(&da);
        run(skopeo(d).args(["copy", "-q", &src, &format!("docker-archive:{}:x:y", da.display())]));
    });
    println!(
        "oci -> docker-archive (gunzip + hash): mbi {mbi_da:?}, skopeo {sk_da:?}, ratio {:.2}x",
        sk_da.as_secs_f64() / mbi_da.as_secs_f64()
    );

    let oa = d.join("o.tar");
    let mbi_oa = best_of(3, || {
        rm(&oa);
        transport::copy(
            &r(src.clone()),
            &r(format!("oci-archive:{}:t", oa.display())),
            &CopyOptions::default(),
        )
        .unwrap();
    });
    let sk_oa = best_of(3, || {
        rm(&oa);
        run(skopeo(d).args(["copy", "-q", &src, &format!("oci-archive:{}:t", oa.display())]));
    });
    println!(
        "oci -> oci-archive: mbi {mbi_oa:?}, skopeo {sk_oa:?}, ratio {:.2}x",
        sk_oa.as_secs_f64() / mbi_oa.as_secs_f64()
    );

    let out = d.join("out");
    let mbi_in = best_of(3, || {
        rm(&out);
        transport::copy(
            &r(format!("docker-archive:{}", da.display())),
            &r(format!("oci:{}:t", out.display())),
            &CopyOptions::default(),
        )
        .unwrap();
    });
    let sk_in = best_of(3, || {
        rm(&out);
        run(skopeo(d).args([
            "copy",
            "-q",
            "--dest-oci-accept-uncompressed-layers",
            &format!("docker-archive:{}", da.display()),
            &format!("oci:{}:t", out.display()),
        ]));
    });
    println!(
        "docker-archive -> oci (verify + copy): mbi {mbi_in:?}, skopeo {sk_in:?}, ratio {:.2}x",
        sk_in.as_secs_f64() / mbi_in.as_secs_f64()
    );
}

#[test]
#[ignore = "measurement; run explicitly"]
fn gunzip_vs_gzip() {
    if !have("pigz") || !Path::new("/dev/shm").is_dir() {
        return;
    }
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let tar = dir.path().join("layer.tar");
    run(Command::new("sh").arg("-c").arg(format!(
        "tar --sort=name -C /usr -cf {} bin && pigz -6 -n -k {}",
        tar.display(),
        tar.display()
    )));
    let gz = dir.path().join("layer.tar.gz");
    let ours = best_of(3, || {
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&gz).unwrap());
        let mut d = flate2::read::MultiGzDecoder::new(f);
        std::io::copy(&mut d, &mut std::io::sink()).unwrap();
    });
    let gzip = best_of(3, || {
        run(Command::new("sh").arg("-c").arg(format!("gzip -dc {} > /dev/null", gz.display())));
    });
    println!(
        "gunzip: flate2/zlib-rs {ours:?}, gzip -dc {gzip:?}, ratio {:.2}x",
        gzip.as_secs_f64() / ours.as_secs_f64()
    );
}
