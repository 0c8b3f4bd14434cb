use std::process::ExitCode;

use clap::Parser;
use kvcompose::cli::{normalize_args, Cli, Command};
use kvcompose::commands;

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let result = match &cli.command {
        Some(Command::FetchModel(args)) => commands::fetch_model(args),
        Some(Command::Demo(args)) => commands::demo(args),
        Some(Command::Bench(args)) => commands::bench(args),
        None => commands::qa(&cli.qa),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.chain());
            ExitCode::FAILURE
        }
    }
}
