//! Line-oriented reading of the text annotation files, with file and line in every error.

use std::path::Path;

use crate::error::{DataError, DataResult, read_file};

/// The non-empty lines of a text file as `(1-based line number, whitespace-split fields)`.
pub(crate) fn read_lines(path: &Path, hint: &str) -> DataResult<Vec<(usize, Vec<String>)>> {
    let bytes = read_file(path, hint)?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::Format {
        path: path.to_path_buf(),
        message: format!("not UTF-8: {e}"),
    })?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_string).collect()))
        .collect())
}

/// A [`DataError::Parse`] for line `line` of `path`.
pub(crate) fn parse_error(path: &Path, line: usize, message: impl Into<String>) -> DataError {
    DataError::Parse { path: path.to_path_buf(), line, message: message.into() }
}

/// Checks that a line has exactly `n` fields.
pub(crate) fn expect_fields(
    path: &Path,
    line: usize,
    fields: &[String],
    n: usize,
    what: &str,
) -> DataResult<()> {
    if fields.len() != n {
        return Err(parse_error(
            path,
            line,
            format!("expected {n} fields ({what}), found {}: {:?}", fields.len(), fields.join(" ")),
        ));
    }
    Ok(())
}

/// Parses field `value` as an unsigned integer.
pub(crate) fn parse_u64(path: &Path, line: usize, value: &str, what: &str) -> DataResult<u64> {
    value
        .parse::<u64>()
        .map_err(|_| parse_error(path, line, format!("{what} `{value}` is not a positive integer")))
}
