//! Prints the k nearest neighbours (cosine similarity) of query images in an embedding file
//! written by the `embed` example.
//!
//! ```text
//! cargo run --release --example query -- --checkpoint runs/cub200/best.ckpt \
//!     --index cub-test.safetensors -k 5 query1.jpg query_dir/
//! ```

use clap::Parser;

fn main() {
    let args = dml::train::infer::QueryArgs::parse();
    match dml::train::infer::run_query(&args) {
        Ok(answers) if args.json => {
            for a in &answers {
                println!("{}", serde_json::to_string(a).unwrap_or_default());
            }
        }
        Ok(answers) => print!("{}", dml::train::infer::format_answers(&answers)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
