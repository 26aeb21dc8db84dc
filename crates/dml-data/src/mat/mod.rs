//! A reader for MATLAB MAT-file version 5 (what `cars_annos.mat` uses).
//!
//! Supported: little- and big-endian files, `miCOMPRESSED` (zlib) variables, `miMATRIX`
//! numeric arrays of every integer and floating class (read as `f64`; imaginary parts are
//! ignored), char arrays (UTF-8, UTF-16, UINT8/UINT16 storage), cell arrays, and struct arrays.
//! Not supported (reported as [`DataError::Format`](crate::DataError::Format)): sparse
//! arrays, objects, function handles and MAT v7.3 (HDF5) files.

mod reader;
mod value;

pub use reader::MatFile;
pub use value::MatValue;
