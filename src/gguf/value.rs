//! GGUF metadata values: the type tags, borrowed values read from a file and
//! owned values for writing.

use std::fmt;

use crate::error::{Error, Result};

/// Deepest nesting of arrays inside arrays the reader and writer accept
/// (an array of scalars has depth 1). Bounds recursion on hostile input.
pub const MAX_ARRAY_DEPTH: usize = 16;

/// The type tag of a GGUF metadata value, with the numeric ids of the format
/// (0..=12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `u8`, id 0.
    U8,
    /// `i8`, id 1.
    I8,
    /// `u16`, id 2.
    U16,
    /// `i16`, id 3.
    I16,
    /// `u32`, id 4.
    U32,
    /// `i32`, id 5.
    I32,
    /// `f32`, id 6.
    F32,
    /// `bool` (one byte), id 7.
    Bool,
    /// UTF-8 string with a u64 byte length, id 8.
    String,
    /// Array: element type (u32), count (u64), elements; id 9.
    Array,
    /// `u64`, id 10.
    U64,
    /// `i64`, id 11.
    I64,
    /// `f64`, id 12.
    F64,
}

impl ValueType {
    /// The type for a GGUF value type id, `None` when unknown.
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The GGUF value type id (0..=12).
    pub fn id(self) -> u32 {
        use ValueType::*;
        match self {
            U8 => 0,
            I8 => 1,
            U16 => 2,
            I16 => 3,
            U32 => 4,
            I32 => 5,
            F32 => 6,
            Bool => 7,
            String => 8,
            Array => 9,
            U64 => 10,
            I64 => 11,
            F64 => 12,
        }
    }

    /// Lower-case name used in messages (`"u32"`, `"string"`, …).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// Encoded size in bytes of a value of this type, `None` for the
    /// variable-size types (string, array).
    pub fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    /// The fewest bytes any encoded value of this type occupies (8 for a
    /// string's length, 12 for an array's element type and count).
    pub fn min_size(self) -> u64 {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            t => t.fixed_size().unwrap_or(1) as u64,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata value borrowed from a GGUF file (strings and arrays point into
/// the file's bytes).
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `f32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// A UTF-8 string.
    String(&'a str),
    /// An array (possibly of strings or of arrays).
    Array(ArrayValue<'a>),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f64`.
    F64(f64),
}

impl<'a> Value<'a> {
    /// The type tag of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// The value as `u64` when it is an integer of any width whose value is
    /// non-negative; `None` for other types and negative values.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as `i64` when it is an integer of any width that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as `f64` when it is a float or an integer (64-bit integers
    /// beyond 2^53 are rounded).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, when this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The array, when this is an array.
    pub fn as_array(&self) -> Option<ArrayValue<'a>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A deep copy that owns its strings and elements.
    pub fn to_owned_value(&self) -> OwnedValue {
        match *self {
            Value::U8(v) => OwnedValue::U8(v),
            Value::I8(v) => OwnedValue::I8(v),
            Value::U16(v) => OwnedValue::U16(v),
            Value::I16(v) => OwnedValue::I16(v),
            Value::U32(v) => OwnedValue::U32(v),
            Value::I32(v) => OwnedValue::I32(v),
            Value::F32(v) => OwnedValue::F32(v),
            Value::Bool(v) => OwnedValue::Bool(v),
            Value::String(s) => OwnedValue::String(s.to_string()),
            Value::Array(a) => OwnedValue::Array(
                a.elem_type(),
                a.iter().map(|v| v.to_owned_value()).collect(),
            ),
            Value::U64(v) => OwnedValue::U64(v),
            Value::I64(v) => OwnedValue::I64(v),
            Value::F64(v) => OwnedValue::F64(v),
        }
    }

    /// A short description for error messages: the type, and the value for
    /// scalars.
    pub(crate) fn describe(&self) -> String {
        match *self {
            Value::String(_) => "string".to_string(),
            Value::Array(a) => format!("array of {} {}", a.len(), a.elem_type()),
            Value::U8(v) => format!("u8 {v}"),
            Value::I8(v) => format!("i8 {v}"),
            Value::U16(v) => format!("u16 {v}"),
            Value::I16(v) => format!("i16 {v}"),
            Value::U32(v) => format!("u32 {v}"),
            Value::I32(v) => format!("i32 {v}"),
            Value::F32(v) => format!("f32 {v}"),
            Value::Bool(v) => format!("bool {v}"),
            Value::U64(v) => format!("u64 {v}"),
            Value::I64(v) => format!("i64 {v}"),
            Value::F64(v) => format!("f64 {v}"),
        }
    }
}

/// A metadata array borrowed from a GGUF file: the element type, the count
/// and the encoded elements. Elements are decoded on access.
///
/// Invariant (checked when the file was opened): `data` holds exactly `len`
/// well-formed encoded elements of `elem_type`.
#[derive(Clone, Copy)]
pub struct ArrayValue<'a> {
    key: &'a str,
    elem_type: ValueType,
    len: usize,
    data: &'a [u8],
}

impl fmt::Debug for ArrayValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayValue")
            .field("key", &self.key)
            .field("elem_type", &self.elem_type)
            .field("len", &self.len)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl<'a> ArrayValue<'a> {
    /// Builds a view; `key` is the metadata key (for error messages).
    pub(crate) fn new(key: &'a str, elem_type: ValueType, len: usize, data: &'a [u8]) -> Self {
        ArrayValue {
            key,
            elem_type,
            len,
            data,
        }
    }

    /// The type of every element.
    pub fn elem_type(&self) -> ValueType {
        self.elem_type
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoded bytes of the elements (little-endian, as in the file).
    pub fn raw_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The elements, in order, decoded on the fly.
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        ArrayIter {
            arr: *self,
            pos: 0,
            idx: 0,
        }
    }

    /// The elements as strings; `Error::WrongType` when they are not strings.
    pub fn strings(&self) -> Result<Vec<&'a str>> {
        if self.elem_type != ValueType::String {
            return Err(self.wrong("array of string"));
        }
        let mut out = Vec::with_capacity(self.len);
        out.extend(self.iter().filter_map(|v| v.as_str()));
        Ok(out)
    }

    /// The elements as `f32`: floats (f64 rounded) and integers (converted);
    /// `Error::WrongType` for strings, bools and arrays.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        use ValueType::*;
        match self.elem_type {
            String | Bool | Array => Err(self.wrong("array of numbers")),
            F32 => Ok(self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()),
            _ => Ok(self
                .iter()
                .filter_map(|v| v.as_f64())
                .map(|v| v as f32)
                .collect()),
        }
    }

    /// The elements as `i64`: integers of any width that fit;
    /// `Error::WrongType` for other types or a u64 above `i64::MAX`.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        use ValueType::*;
        match self.elem_type {
            U8 | I8 | U16 | I16 | U32 | I32 | U64 | I64 => {}
            _ => return Err(self.wrong("array of integers")),
        }
        let mut out = Vec::with_capacity(self.len);
        for v in self.iter() {
            match v.as_i64() {
                Some(x) => out.push(x),
                None => {
                    return Err(Error::WrongType {
                        key: self.key.to_string(),
                        expected: "array of integers that fit in i64",
                        found: v.describe(),
                    })
                }
            }
        }
        Ok(out)
    }

    fn wrong(&self, expected: &'static str) -> Error {
        Error::WrongType {
            key: self.key.to_string(),
            expected,
            found: format!("array of {}", self.elem_type),
        }
    }
}

/// Iterator over the elements of an [`ArrayValue`]. Stops early (never
/// panics) if the bytes are not what the invariant promises.
struct ArrayIter<'a> {
    arr: ArrayValue<'a>,
    pos: usize,
    idx: usize,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.idx >= self.arr.len {
            return None;
        }
        let decoded = decode_at(self.arr.key, self.arr.elem_type, self.arr.data, self.pos, 1);
        match decoded {
            Some((v, end)) => {
                self.pos = end;
                self.idx += 1;
                Some(v)
            }
            None => {
                self.idx = self.arr.len;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.arr.len.saturating_sub(self.idx)))
    }
}

/// Reads `N` bytes at `at`.
pub(crate) fn le_bytes<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Decodes one value of type `ty` starting at `pos` in `buf` (no type tag),
/// returning it and the position after it. `None` when the bytes are
/// malformed. `depth` is the array nesting depth of the value's container.
pub(crate) fn decode_at<'a>(
    key: &'a str,
    ty: ValueType,
    buf: &'a [u8],
    pos: usize,
    depth: usize,
) -> Option<(Value<'a>, usize)> {
    let v = match ty {
        ValueType::U8 => Value::U8(u8::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::I8 => Value::I8(i8::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::U32 => Value::U32(u32::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::I32 => Value::I32(i32::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::Bool => Value::Bool(u8::from_le_bytes(le_bytes(buf, pos)?) != 0),
        ValueType::U64 => Value::U64(u64::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::I64 => Value::I64(i64::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(le_bytes(buf, pos)?)),
        ValueType::String => {
            let n = usize::try_from(u64::from_le_bytes(le_bytes(buf, pos)?)).ok()?;
            let start = pos.checked_add(8)?;
            let end = start.checked_add(n)?;
            let s = std::str::from_utf8(buf.get(start..end)?).ok()?;
            return Some((Value::String(s), end));
        }
        ValueType::Array => {
            if depth >= MAX_ARRAY_DEPTH {
                return None;
            }
            let et = ValueType::from_id(u32::from_le_bytes(le_bytes(buf, pos)?))?;
            let n =
                usize::try_from(u64::from_le_bytes(le_bytes(buf, pos.checked_add(4)?)?)).ok()?;
            let start = pos.checked_add(12)?;
            let end = skip_elems(key, et, n, buf, start, depth + 1)?;
            let data = buf.get(start..end)?;
            return Some((Value::Array(ArrayValue::new(key, et, n, data)), end));
        }
    };
    let size = ty.fixed_size()?;
    Some((v, pos.checked_add(size)?))
}

/// Position after `n` encoded elements of type `et` starting at `pos`.
fn skip_elems(
    key: &str,
    et: ValueType,
    n: usize,
    buf: &[u8],
    pos: usize,
    depth: usize,
) -> Option<usize> {
    if let Some(size) = et.fixed_size() {
        let end = pos.checked_add(n.checked_mul(size)?)?;
        return (end <= buf.len()).then_some(end);
    }
    let mut p = pos;
    for _ in 0..n {
        if p >= buf.len() {
            return None;
        }
        let (_, end) = decode_at(key, et, buf, p, depth)?;
        p = end;
    }
    Some(p)
}

/// An owned metadata value, for building files with the writer.
///
/// `Array(elem_type, items)`: every item must have type `elem_type`.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `f32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// A string.
    String(String),
    /// An array: element type and elements.
    Array(ValueType, Vec<OwnedValue>),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f64`.
    F64(f64),
}

impl OwnedValue {
    /// The type tag of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            OwnedValue::U8(_) => ValueType::U8,
            OwnedValue::I8(_) => ValueType::I8,
            OwnedValue::U16(_) => ValueType::U16,
            OwnedValue::I16(_) => ValueType::I16,
            OwnedValue::U32(_) => ValueType::U32,
            OwnedValue::I32(_) => ValueType::I32,
            OwnedValue::F32(_) => ValueType::F32,
            OwnedValue::Bool(_) => ValueType::Bool,
            OwnedValue::String(_) => ValueType::String,
            OwnedValue::Array(..) => ValueType::Array,
            OwnedValue::U64(_) => ValueType::U64,
            OwnedValue::I64(_) => ValueType::I64,
            OwnedValue::F64(_) => ValueType::F64,
        }
    }

    /// An array of strings.
    pub fn string_array<S: Into<String>>(items: impl IntoIterator<Item = S>) -> OwnedValue {
        OwnedValue::Array(
            ValueType::String,
            items
                .into_iter()
                .map(|s| OwnedValue::String(s.into()))
                .collect(),
        )
    }

    /// An array of `f32`.
    pub fn f32_array(items: impl IntoIterator<Item = f32>) -> OwnedValue {
        OwnedValue::Array(
            ValueType::F32,
            items.into_iter().map(OwnedValue::F32).collect(),
        )
    }

    /// An array of `i32`.
    pub fn i32_array(items: impl IntoIterator<Item = i32>) -> OwnedValue {
        OwnedValue::Array(
            ValueType::I32,
            items.into_iter().map(OwnedValue::I32).collect(),
        )
    }
}

macro_rules! owned_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for OwnedValue {
            fn from(x: $t) -> Self {
                OwnedValue::$v(x)
            }
        }
    )*};
}
owned_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, String => String, u64 => U64, i64 => I64, f64 => F64);

impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        OwnedValue::String(s.to_string())
    }
}
