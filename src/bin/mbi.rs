//! The `mbi` command-line program: a thin layer over the mbi crates. Everything it does is in
//! `src/cli/`, one module per subcommand.

#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
