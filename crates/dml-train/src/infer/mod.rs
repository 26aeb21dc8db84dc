//! Inference with a trained model: read it back from a training checkpoint
//! ([`TrainedModel`]), embed a folder of images or a dataset split into an embedding file
//! ([`EmbeddingFile`], `.npy` or `.safetensors`, with the image paths), and answer the top-k
//! nearest neighbours of query images ([`query`]). The `embed` and `query` examples are thin
//! wrappers around [`run_embed`] and [`run_query`]; docs/inference.md shows them in use.

mod commands;
mod model;
mod store;

pub use commands::{
    EmbedArgs, InferenceOptions, Neighbour, QueryAnswer, QueryArgs, check_index, embed_folder,
    embed_split, format_answers, query, query_images, run_embed, run_query,
};
pub use model::TrainedModel;
pub use store::EmbeddingFile;
