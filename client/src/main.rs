//! The `freshet` command-line tool. Subcommands live in [`cli`], one module each.
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
