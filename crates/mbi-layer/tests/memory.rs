//! Peak memory stays flat: writing a 1 GiB layer needs at most 64 MiB, measured as the
//! resident high-water mark of a child process that does nothing else.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use mbi_layer::{
    Content, Entry, FileTree, LayerCompression, LayerOptions, LayerWriter, MAX_GZIP_THREADS,
    MAX_ZSTD_THREADS, TreePath,
};

const GIB: u64 = 1 << 30;
const CHUNK: u64 = 64 << 20;

fn data_file(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("chunk");
    let mut w = std::io::BufWriter::new(fs::File::create(&f).unwrap());
    // Compressible but not trivial: text-like lines with varying numbers.
    let mut x = 7u32;
    let mut written = 0u64;
    while written < CHUNK {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        let line = format!("/usr/lib/x86_64-linux-gnu/lib{}.so.{} {:08x}\n", x % 977, x % 13, x);
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
    }
    w.flush().unwrap();
    f
}

fn high_water_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "helper run by writing_a_1_gib_layer_needs_at_most_64_mib in a child process"]
fn child_writes_big_layer() {
    let (Some(file), Some(comp)) =
        (std::env::var_os("MBI_LAYER_MEM_FILE"), std::env::var("MBI_LAYER_MEM_COMPRESSION").ok())
    else {
        return;
    };
    let compression = match comp.as_str() {
        "gzip" => LayerCompression::Gzip { level: 1 },
        _ => LayerCompression::Zstd { level: 3 },
    };
    let file = std::path::PathBuf::from(file);
    let size = fs::metadata(&file).unwrap().len();
    let mut tree = FileTree::new();
    for i in 0..GIB.div_ceil(size) {
        let content = if i % 2 == 0 {
            Content::File(file.clone())
        } else {
            Content::FileRange { path: file.clone(), offset: 0, len: size }
        };
        tree.insert(Entry::file(
            TreePath::new(format!("data/part{i:02}")).unwrap(),
            content,
            0o644,
        ))
        .unwrap();
    }
    let before = high_water_kib();
    let threads = std::env::var("MBI_LAYER_MEM_THREADS").map_or(2, |t| t.parse().unwrap());
    let options = LayerOptions::default().compression(compression).threads(threads);
    let layer = LayerWriter::new(options).write_tree_to(&tree, &mut std::io::sink()).unwrap();
    assert!(layer.uncompressed_size >= GIB);
    println!("HWM {} {}", before, high_water_kib());
}

#[test]
fn writing_a_1_gib_layer_needs_at_most_64_mib() {
    let dir = common::scratch();
    let file = data_file(dir.path());
    // The bound holds whatever the thread count: 2 as on the CI machine, and twice the most
    // either codec uses, as on a big machine (the caps must hold).
    for (compression, threads) in
        [("gzip", 2), ("zstd", 2), ("gzip", 2 * MAX_GZIP_THREADS), ("zstd", 2 * MAX_ZSTD_THREADS)]
    {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_writes_big_layer",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("MBI_LAYER_MEM_FILE", &file)
            .env("MBI_LAYER_MEM_COMPRESSION", compression)
            .env("MBI_LAYER_MEM_THREADS", threads.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let hwm: Vec<u64> = stdout
            .lines()
            .find_map(|l| l.split_once("HWM ").map(|x| x.1))
            .expect("child reported its memory")
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        eprintln!(
            "{compression}, {threads} threads: peak RSS {} KiB (before writing {} KiB)",
            hwm[1], hwm[0]
        );
        assert!(
            hwm[1] <= 64 * 1024,
            "{compression}, {threads} threads: peak RSS {} KiB is over 64 MiB",
            hwm[1]
        );
    }
}
