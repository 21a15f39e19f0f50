use clap::Parser;

fn main() {
    let cli = ai_line::cli::Cli::parse();
    println!("{cli:?}");
}
