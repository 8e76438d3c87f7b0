//! `blog-migrate <command>`: the godwit CLI over the blog migrations.

use std::process::ExitCode;

use godwit_example_blog as _; // links the migrations

fn main() -> ExitCode {
    godwit::cli::Cli::default()
        .migrations_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/migrations"))
        .lock_file(concat!(env!("CARGO_MANIFEST_DIR"), "/godwit.sum"))
        .main()
}
