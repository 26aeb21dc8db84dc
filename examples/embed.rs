//! Embeds a folder of images, or a split of the dataset a model was trained on, into a `.npy`
//! or `.safetensors` file with the image paths (and labels when known).
//!
//! ```text
//! cargo run --release --example embed -- --checkpoint runs/cub200/best.ckpt \
//!     --folder photos/ --out photos.npy
//! cargo run --release --example embed -- --checkpoint runs/cub200/best.ckpt \
//!     --split test --out cub-test.safetensors
//! ```

use clap::Parser;

fn main() {
    let args = dml::train::infer::EmbedArgs::parse();
    match dml::train::infer::run_embed(&args) {
        Ok((rows, dim)) => {
            println!("{rows} embeddings of size {dim} written to {}", args.out.display())
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
