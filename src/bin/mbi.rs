//! The `mbi` command-line program.

fn main() {
    eprintln!("mbi: no subcommands yet");
    std::process::exit(2);
}
