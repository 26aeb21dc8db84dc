//! Parsing MAT v5 files into [`MatValue`]s.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::ZlibDecoder;

use super::MatValue;
use crate::error::{DataError, DataResult, read_file};

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_CHAR: u8 = 4;

/// Deepest nesting of cells and structs accepted (guards against hostile files).
const MAX_DEPTH: usize = 32;

/// The variables of a MAT v5 file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    /// `(name, value)` for every variable.
    pub variables: Vec<(String, MatValue)>,
}

impl MatFile {
    /// Reads and parses the file at `path`.
    pub fn read(path: impl AsRef<Path>) -> DataResult<Self> {
        let path = path.as_ref();
        let bytes = read_file(path, "MAT-file")?;
        Self::parse(&bytes, path)
    }

    /// Parses the bytes of a MAT v5 file; `path` only labels errors.
    pub fn parse(bytes: &[u8], path: &Path) -> DataResult<Self> {
        let err = |message: String| DataError::Format { path: path.to_path_buf(), message };
        if bytes.len() < 128 {
            return Err(err("shorter than the 128-byte MAT v5 header".into()));
        }
        if bytes.starts_with(b"\x89HDF") || bytes[..116].windows(4).any(|w| w == b"7.3 ") {
            return Err(err("MAT v7.3 (HDF5) files are not supported; save with -v7".into()));
        }
        let big_endian = match &bytes[126..128] {
            b"IM" => false,
            b"MI" => true,
            _ => return Err(err("no MAT v5 endian indicator at bytes 126..128".into())),
        };
        let mut cursor = Cursor { buf: bytes, pos: 128, big_endian, path };
        let mut variables = Vec::new();
        while cursor.pos + 8 <= bytes.len() {
            let (ty, data) = cursor.element()?;
            let (name, value) = match ty {
                MI_COMPRESSED => {
                    let mut inflated = Vec::new();
                    ZlibDecoder::new(data)
                        .read_to_end(&mut inflated)
                        .map_err(|e| err(format!("bad miCOMPRESSED block: {e}")))?;
                    let mut inner = Cursor { buf: &inflated, pos: 0, big_endian, path };
                    let (ty, data) = inner.element()?;
                    if ty != MI_MATRIX {
                        return Err(err(format!("compressed element of type {ty}, not miMATRIX")));
                    }
                    cursor.matrix(data, 0)?
                }
                MI_MATRIX => cursor.matrix(data, 0)?,
                other => return Err(err(format!("top-level element of unsupported type {other}"))),
            };
            variables.push((name, value));
        }
        Ok(Self { variables })
    }

    /// The variable called `name`.
    pub fn get(&self, name: &str) -> Option<&MatValue> {
        self.variables.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A read position in a buffer of data elements.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, message: String) -> DataError {
        DataError::Format { path: PathBuf::from(self.path), message }
    }

    fn u32_at(&self, at: usize) -> DataResult<u32> {
        let b: [u8; 4] = self
            .buf
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| self.err(format!("truncated at byte {at}")))?;
        Ok(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    /// Reads one data element (tag and payload), returning its type and payload and moving
    /// past it (8-byte aligned, except compressed elements which are not padded).
    fn element(&mut self) -> DataResult<(u32, &'a [u8])> {
        let first = self.u32_at(self.pos)?;
        if first >> 16 != 0 {
            // Small data element: type and size share the first word, data in the second.
            let ty = first & 0xffff;
            let n = (first >> 16) as usize;
            if n > 4 {
                return Err(self.err(format!("small data element of {n} bytes at {}", self.pos)));
            }
            let data = self
                .buf
                .get(self.pos + 4..self.pos + 4 + n)
                .ok_or_else(|| self.err(format!("truncated at byte {}", self.pos)))?;
            self.pos += 8;
            return Ok((ty, data));
        }
        let n = self.u32_at(self.pos + 4)? as usize;
        let start = self.pos + 8;
        let data = self.buf.get(start..start.saturating_add(n)).ok_or_else(|| {
            self.err(format!("element at byte {} claims {n} bytes past the end", self.pos))
        })?;
        self.pos = if first == MI_COMPRESSED { start + n } else { start + n.div_ceil(8) * 8 };
        Ok((first, data))
    }

    /// Parses the payload of a miMATRIX element into its name and value.
    fn matrix(&self, data: &'a [u8], depth: usize) -> DataResult<(String, MatValue)> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("arrays nested deeper than {MAX_DEPTH}")));
        }
        if data.is_empty() {
            return Ok((String::new(), MatValue::Numeric { dims: vec![0, 0], data: vec![] }));
        }
        let mut sub = Cursor { buf: data, pos: 0, big_endian: self.big_endian, path: self.path };
        let (_, flags) = sub.element()?;
        let flags = sub.numbers(MI_UINT32, flags)?;
        let class = flags.first().copied().unwrap_or(0.0) as u32 as u8;
        let (dims_ty, dims) = sub.element()?;
        let dims: Vec<usize> =
            sub.numbers(dims_ty, dims)?.into_iter().map(|d| d as usize).collect();
        let count: usize = dims.iter().product();
        let (_, name) = sub.element()?;
        let name = String::from_utf8_lossy(name).into_owned();
        let value = match class {
            MX_CELL => {
                let mut cells = Vec::with_capacity(count.min(1 << 20));
                for _ in 0..count {
                    let (_, d) = sub.expect_matrix()?;
                    cells.push(sub.matrix(d, depth + 1)?.1);
                }
                MatValue::Cell { dims, cells }
            }
            MX_STRUCT => {
                let (ty, len) = sub.element()?;
                let len = sub.numbers(ty, len)?.first().copied().unwrap_or(0.0) as usize;
                let (_, names) = sub.element()?;
                if len == 0 {
                    return Err(sub.err("struct with a zero field-name length".into()));
                }
                let fields: Vec<String> = names
                    .chunks(len)
                    .map(|c| {
                        let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                        String::from_utf8_lossy(&c[..end]).into_owned()
                    })
                    .collect();
                let mut elements = Vec::with_capacity(count.min(1 << 20));
                for _ in 0..count {
                    let mut values = Vec::with_capacity(fields.len());
                    for _ in 0..fields.len() {
                        let (_, d) = sub.expect_matrix()?;
                        values.push(sub.matrix(d, depth + 1)?.1);
                    }
                    elements.push(values);
                }
                MatValue::Struct { dims, fields, elements }
            }
            MX_CHAR => {
                let units = if sub.pos < data.len() {
                    let (ty, d) = sub.element()?;
                    sub.chars(ty, d)?
                } else {
                    Vec::new()
                };
                MatValue::Char { text: char_rows(&dims, &units), dims }
            }
            6..=15 => {
                let values = if sub.pos < data.len() {
                    let (ty, d) = sub.element()?;
                    sub.numbers(ty, d)?
                } else {
                    Vec::new()
                };
                if values.len() != count {
                    return Err(sub.err(format!(
                        "array `{name}` has {} values for dimensions {dims:?}",
                        values.len()
                    )));
                }
                MatValue::Numeric { dims, data: values }
            }
            other => {
                return Err(sub.err(format!(
                    "array `{name}` has unsupported MATLAB class {other} (sparse, object, ...)"
                )));
            }
        };
        Ok((name, value))
    }

    fn expect_matrix(&mut self) -> DataResult<(u32, &'a [u8])> {
        let (ty, d) = self.element()?;
        if ty != MI_MATRIX {
            return Err(self.err(format!("expected a miMATRIX element, found type {ty}")));
        }
        Ok((ty, d))
    }

    /// Decodes a numeric data element into `f64`s.
    fn numbers(&self, ty: u32, d: &[u8]) -> DataResult<Vec<f64>> {
        let be = self.big_endian;
        macro_rules! conv {
            ($t:ty, $n:expr) => {
                d.chunks_exact($n)
                    .map(|c| {
                        let mut b = [0u8; $n];
                        b.copy_from_slice(c);
                        (if be { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) }) as f64
                    })
                    .collect()
            };
        }
        Ok(match ty {
            MI_INT8 => d.iter().map(|&b| b as i8 as f64).collect(),
            MI_UINT8 | MI_UTF8 => d.iter().map(|&b| b as f64).collect(),
            MI_INT16 => conv!(i16, 2),
            MI_UINT16 | MI_UTF16 => conv!(u16, 2),
            MI_INT32 => conv!(i32, 4),
            MI_UINT32 | MI_UTF32 => conv!(u32, 4),
            MI_SINGLE => conv!(f32, 4),
            MI_DOUBLE => conv!(f64, 8),
            MI_INT64 => conv!(i64, 8),
            MI_UINT64 => conv!(u64, 8),
            other => return Err(self.err(format!("unsupported numeric data type {other}"))),
        })
    }

    /// Decodes the data element of a char array into characters (column-major).
    fn chars(&self, ty: u32, d: &[u8]) -> DataResult<Vec<char>> {
        match ty {
            MI_UTF8 => Ok(String::from_utf8_lossy(d).chars().collect()),
            MI_UTF16 | MI_UINT16 => {
                let units: Vec<u16> =
                    self.numbers(MI_UINT16, d)?.iter().map(|&v| v as u16).collect();
                Ok(char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')).collect())
            }
            MI_INT8 | MI_UINT8 => Ok(d.iter().map(|&b| b as char).collect()),
            MI_UTF32 | MI_UINT32 => Ok(self
                .numbers(MI_UINT32, d)?
                .iter()
                .map(|&v| char::from_u32(v as u32).unwrap_or('\u{fffd}'))
                .collect()),
            other => Err(self.err(format!("unsupported char data type {other}"))),
        }
    }
}

/// Turns a column-major char array into its rows joined by newlines.
fn char_rows(dims: &[usize], units: &[char]) -> String {
    let rows = dims.first().copied().unwrap_or(0);
    if rows <= 1 || units.is_empty() {
        return units.iter().collect();
    }
    let cols = units.len() / rows;
    (0..rows)
        .map(|r| (0..cols).filter_map(|c| units.get(c * rows + r)).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_and_unknown_files() {
        let p = Path::new("x.mat");
        assert!(matches!(MatFile::parse(b"abc", p), Err(DataError::Format { .. })));
        let junk = vec![7u8; 200];
        assert!(matches!(MatFile::parse(&junk, p), Err(DataError::Format { .. })));
    }

    #[test]
    fn truncated_element_is_an_error_not_a_panic() {
        let mut bytes = vec![b' '; 128];
        bytes[126] = b'I';
        bytes[127] = b'M';
        bytes.extend_from_slice(&14u32.to_le_bytes());
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        let e = MatFile::parse(&bytes, Path::new("t.mat")).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
    }

    #[test]
    fn char_rows_reorders_column_major() {
        // ["ab"; "cd"] is stored a c b d.
        assert_eq!(char_rows(&[2, 2], &['a', 'c', 'b', 'd']), "ab\ncd");
    }
}
