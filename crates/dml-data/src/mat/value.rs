//! The values a MAT v5 variable can hold.

/// One MATLAB array. Dimensions are MATLAB's (at least two), data is column-major.
#[derive(Debug, Clone, PartialEq)]
pub enum MatValue {
    /// A numeric or logical array of any class, converted to `f64`.
    Numeric {
        /// The array's dimensions.
        dims: Vec<usize>,
        /// The real parts, column-major.
        data: Vec<f64>,
    },
    /// A char array. A `1 x N` array is one string; the rows of an `M x N` array are joined
    /// with `'\n'`.
    Char {
        /// The array's dimensions.
        dims: Vec<usize>,
        /// The text.
        text: String,
    },
    /// A cell array.
    Cell {
        /// The array's dimensions.
        dims: Vec<usize>,
        /// The cells, column-major.
        cells: Vec<MatValue>,
    },
    /// A struct array: every element holds one value per field.
    Struct {
        /// The array's dimensions.
        dims: Vec<usize>,
        /// The field names, in file order.
        fields: Vec<String>,
        /// `elements[i][f]` is field `fields[f]` of element `i` (column-major order).
        elements: Vec<Vec<MatValue>>,
    },
}

impl MatValue {
    /// The array's dimensions.
    pub fn dims(&self) -> &[usize] {
        match self {
            MatValue::Numeric { dims, .. }
            | MatValue::Char { dims, .. }
            | MatValue::Cell { dims, .. }
            | MatValue::Struct { dims, .. } => dims,
        }
    }

    /// The number of elements (the product of the dimensions).
    pub fn len(&self) -> usize {
        self.dims().iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of a char array.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MatValue::Char { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The single value of a numeric array with exactly one element.
    pub fn as_scalar(&self) -> Option<f64> {
        match self {
            MatValue::Numeric { data, .. } if data.len() == 1 => Some(data[0]),
            _ => None,
        }
    }

    /// Field `name` of element `index` of a struct array.
    pub fn field(&self, index: usize, name: &str) -> Option<&MatValue> {
        match self {
            MatValue::Struct { fields, elements, .. } => {
                let f = fields.iter().position(|n| n == name)?;
                elements.get(index)?.get(f)
            }
            _ => None,
        }
    }
}
