use clap::Parser;

use ai_line::cli::{Cli, Command};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.command {
        None => {
            if let Err(e) = ai_line::run::run(&cli).await {
                eprintln!("ai-line: {e}");
                std::process::exit(e.exit_code());
            }
        }
        Some(Command::Call(args)) => std::process::exit(ai_line::softphone::run(args).await),
    }
}
