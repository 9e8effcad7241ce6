//! Writes a directory as a layer and prints its digests: a small tool for measuring the writer.
//!
//! ```text
//! cargo run --release -p mbi-layer --example write_layer -- DIR [gzip|zstd|none] [THREADS] [OUT]
//! ```
//! The directory is read while the layer is written ([`LayerWriter::write_dir_to`]); with
//! `WRITE_LAYER_SCAN_FIRST=1` in the environment it is scanned whole first
//! ([`FileTree::from_dir`], then [`LayerWriter::write_tree_to`]), for comparison.
//! Without OUT the blob is hashed and discarded (as the reference pipelines in
//! `benches/layer-compare.sh` do); with OUT it is written to that file. Peak memory can be read
//! with `/usr/bin/time -v`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use mbi_layer::{FileTree, FromDirOptions, LayerCompression, LayerOptions, LayerWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: write_layer DIR [gzip|zstd|none] [THREADS] [OUT]");
        std::process::exit(2);
    };
    let compression = match args.get(2).map(String::as_str) {
        None | Some("gzip") => LayerCompression::DEFAULT_GZIP,
        Some("zstd") => LayerCompression::DEFAULT_ZSTD,
        Some("none") => LayerCompression::None,
        Some(other) => return Err(format!("unknown compression {other}").into()),
    };
    let mut options =
        LayerOptions::default().compression(compression).source_date_epoch(1_700_000_000);
    if let Some(t) = args.get(3) {
        options = options.threads(t.parse()?);
    }
    let mut out: Box<dyn Write> = match args.get(4) {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(std::io::sink()),
    };
    let start = Instant::now();
    let writer = LayerWriter::new(options);
    let (layer, report, scanned) = if std::env::var_os("WRITE_LAYER_SCAN_FIRST").is_some() {
        // The two-step way: scan the whole tree, then write it.
        let (tree, report) = FileTree::from_dir(Path::new(dir), &FromDirOptions::default())?;
        let scanned = format!("scan {:.3}s, ", start.elapsed().as_secs_f64());
        (writer.write_tree_to(&tree, &mut out)?, report, scanned)
    } else {
        let (layer, report) =
            writer.write_dir_to(Path::new(dir), &FromDirOptions::default(), &mut out)?;
        (layer, report, String::new())
    };
    let total = start.elapsed();
    println!(
        "{} skipped, {scanned}total {:.3}s\nblob {} {} bytes\ndiff_id {} {} bytes",
        report.skipped.len(),
        total.as_secs_f64(),
        layer.descriptor.digest,
        layer.descriptor.size,
        layer.diff_id,
        layer.uncompressed_size
    );
    Ok(())
}
