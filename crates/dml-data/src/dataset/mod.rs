//! Dataset readers: one file per dataset, all producing [`ImageSource`]s.

mod cars;
mod cub;
mod folder;
mod idx;
mod image_list;
mod inshop;
mod sop;
mod source;
mod split;
mod text;

pub use cars::Cars196;
pub use cub::Cub200;
pub use folder::{IMAGE_EXTENSIONS, ImageFolder, is_image};
pub use idx::{IdxDataset, MnistFormat, read_idx_u8};
pub use image_list::{BoundingBox, ImageItem, ImageList, decode_image_bytes, decode_image_file};
pub use inshop::InShop;
pub use sop::{SopSubset, StanfordOnlineProducts};
pub use source::ImageSource;
pub use split::Split;
