//! The `dpc` command-line tool.
//!
//! Every subcommand that reports numbers takes `--json` and then prints one JSON object on the last line of stdout.

use clap::{Parser, Subcommand};

mod args;
mod demo;
mod mot;
mod output;
mod replay;
mod source;
mod trace;
mod view;

/// What every subcommand returns: errors are printed by `main` and exit with status 1.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Speculative prefetching: predict the next keys, load them early, keep the likeliest.
#[derive(Debug, Parser)]
#[command(name = "dpc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Navigate a generated dataset with and without prefetching and compare the stall time.
    Demo(demo::Args),
    /// Replay an access trace through the prefetching cache against a slow provider.
    Replay(replay::ReplayArgs),
    /// Simulate the clairvoyant prefetch+cache schedule on a trace (the best any predictor can do).
    Oracle(replay::OracleArgs),
    /// Generate data: MOT annotation files or access traces.
    #[command(subcommand)]
    Gen(GenCmd),
    /// Inspect a file and report what it holds.
    #[command(subcommand)]
    Inspect(InspectCmd),
    /// Navigate a MOT file in the terminal and watch the prefetching cache work.
    View(view::Args),
}

#[derive(Debug, Subcommand)]
enum GenCmd {
    /// Generate a MOTChallenge-style annotation file of moving boxes.
    Mot(mot::GenArgs),
    /// Generate an access trace, one key per line.
    Trace(trace::GenArgs),
}

#[derive(Debug, Subcommand)]
enum InspectCmd {
    /// Index a MOT file and report frames, rows, ids, columns, sortedness and diagnostics.
    Mot(mot::InspectArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Demo(args) => demo::run(args),
        Cmd::Replay(args) => replay::replay(args),
        Cmd::Oracle(args) => replay::oracle(args),
        Cmd::Gen(GenCmd::Mot(args)) => mot::generate(args),
        Cmd::Gen(GenCmd::Trace(args)) => trace::generate(args),
        Cmd::Inspect(InspectCmd::Mot(args)) => mot::inspect(args),
        Cmd::View(args) => view::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}
