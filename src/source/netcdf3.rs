//! Header reader for the netCDF classic formats: CDF-1 (classic), CDF-2 (64-bit offset) and
//! CDF-5 (64-bit data).
//!
//! Kerchunk references need the byte offset of every variable, which the netCDF-C API does not
//! expose, so the header is decoded here straight from the NetCDF Classic Format Specification.
//! Every byte of input is treated as hostile: the parser must never panic, overflow, or allocate
//! more than the input itself could describe, because it is fuzzed and fed arbitrary files.

use std::fmt;

const NC_DIMENSION: u32 = 0x0A;
const NC_VARIABLE: u32 = 0x0B;
const NC_ATTRIBUTE: u32 = 0x0C;

/// External data types of the classic formats; the last five exist only in CDF-5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcType {
    Byte,
    Char,
    Short,
    Int,
    Float,
    Double,
    UByte,
    UShort,
    UInt,
    Int64,
    UInt64,
}

impl NcType {
    fn from_code(code: u32, version: u8) -> Option<Self> {
        let ty = match code {
            1 => Self::Byte,
            2 => Self::Char,
            3 => Self::Short,
            4 => Self::Int,
            5 => Self::Float,
            6 => Self::Double,
            7 => Self::UByte,
            8 => Self::UShort,
            9 => Self::UInt,
            10 => Self::Int64,
            11 => Self::UInt64,
            _ => return None,
        };
        (version == 5 || code <= 6).then_some(ty)
    }

    /// The `nc_type` code stored in the header.
    pub fn code(self) -> u32 {
        match self {
            Self::Byte => 1,
            Self::Char => 2,
            Self::Short => 3,
            Self::Int => 4,
            Self::Float => 5,
            Self::Double => 6,
            Self::UByte => 7,
            Self::UShort => 8,
            Self::UInt => 9,
            Self::Int64 => 10,
            Self::UInt64 => 11,
        }
    }

    /// Bytes per value on disk.
    pub fn size(self) -> u64 {
        match self {
            Self::Byte | Self::Char | Self::UByte => 1,
            Self::Short | Self::UShort => 2,
            Self::Int | Self::UInt | Self::Float => 4,
            Self::Double | Self::Int64 | Self::UInt64 => 8,
        }
    }

    /// numpy/zarr v2 dtype string for big-endian storage: ">i2", "|i1", "|S1", ">f8", "|u1", ...
    pub fn zarr_dtype(self) -> &'static str {
        match self {
            Self::Byte => "|i1",
            Self::Char => "|S1",
            Self::Short => ">i2",
            Self::Int => ">i4",
            Self::Float => ">f4",
            Self::Double => ">f8",
            Self::UByte => "|u1",
            Self::UShort => ">u2",
            Self::UInt => ">u4",
            Self::Int64 => ">i8",
            Self::UInt64 => ">u8",
        }
    }
}

/// Attribute values, decoded from big-endian.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Byte(Vec<i8>),
    /// Raw bytes, trailing NULs kept: netCDF text has no declared encoding.
    Char(Vec<u8>),
    Short(Vec<i16>),
    Int(Vec<i32>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    UByte(Vec<u8>),
    UShort(Vec<u16>),
    UInt(Vec<u32>),
    Int64(Vec<i64>),
    UInt64(Vec<u64>),
}

impl AttrValue {
    fn decode(ty: NcType, raw: &[u8]) -> Self {
        // `raw` always holds a whole number of values, so no chunk is ever dropped.
        fn be<const N: usize, T>(raw: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
            raw.chunks_exact(N).filter_map(|c| <[u8; N]>::try_from(c).ok()).map(from).collect()
        }
        match ty {
            NcType::Byte => Self::Byte(be(raw, i8::from_be_bytes)),
            NcType::Char => Self::Char(raw.to_vec()),
            NcType::Short => Self::Short(be(raw, i16::from_be_bytes)),
            NcType::Int => Self::Int(be(raw, i32::from_be_bytes)),
            NcType::Float => Self::Float(be(raw, f32::from_be_bytes)),
            NcType::Double => Self::Double(be(raw, f64::from_be_bytes)),
            NcType::UByte => Self::UByte(raw.to_vec()),
            NcType::UShort => Self::UShort(be(raw, u16::from_be_bytes)),
            NcType::UInt => Self::UInt(be(raw, u32::from_be_bytes)),
            NcType::Int64 => Self::Int64(be(raw, i64::from_be_bytes)),
            NcType::UInt64 => Self::UInt64(be(raw, u64::from_be_bytes)),
        }
    }

    pub fn nc_type(&self) -> NcType {
        match self {
            Self::Byte(_) => NcType::Byte,
            Self::Char(_) => NcType::Char,
            Self::Short(_) => NcType::Short,
            Self::Int(_) => NcType::Int,
            Self::Float(_) => NcType::Float,
            Self::Double(_) => NcType::Double,
            Self::UByte(_) => NcType::UByte,
            Self::UShort(_) => NcType::UShort,
            Self::UInt(_) => NcType::UInt,
            Self::Int64(_) => NcType::Int64,
            Self::UInt64(_) => NcType::UInt64,
        }
    }

    /// Number of values (bytes, for text).
    pub fn len(&self) -> usize {
        match self {
            Self::Byte(v) => v.len(),
            Self::Char(v) | Self::UByte(v) => v.len(),
            Self::Short(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Double(v) => v.len(),
            Self::UShort(v) => v.len(),
            Self::UInt(v) => v.len(),
            Self::Int64(v) => v.len(),
            Self::UInt64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A text attribute as a string, without the NUL padding some writers append; `None` for
    /// numeric attributes and for text that is not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Char(raw) => std::str::from_utf8(raw).ok().map(|s| s.trim_end_matches('\0')),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub name: String,
    pub value: AttrValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dim {
    pub name: String,
    /// 0 for the record (unlimited) dimension.
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: String,
    pub dimids: Vec<usize>,
    pub attrs: Vec<Attr>,
    pub nc_type: NcType,
    /// As stored; unreliable for variables over 4 GiB (CDF-1/2 store 2^32-1), so sizes are
    /// always computed from the shape instead.
    pub vsize: u64,
    /// File offset of the data, or of the first record for a record variable.
    pub begin: u64,
}

impl Var {
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        find_attr(&self.attrs, name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// 1, 2 or 5.
    pub version: u8,
    /// Length of the record dimension; computed from the file length for STREAMING files.
    pub numrecs: u64,
    pub dims: Vec<Dim>,
    pub attrs: Vec<Attr>,
    pub vars: Vec<Var>,
    /// Bytes taken by the header itself.
    pub header_len: u64,
}

#[derive(Debug)]
pub enum Nc3Error {
    NotNetcdf3,
    /// The input ended (or a count claimed more than it holds). When only a prefix of the file
    /// was passed, reading more of it and parsing again may succeed.
    Truncated {
        at: u64,
        what: String,
    },
    Invalid {
        at: u64,
        what: String,
    },
    OutOfBounds {
        var: String,
        end: u64,
        file_len: u64,
    },
}

impl fmt::Display for Nc3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotNetcdf3 => f.write_str("not a netCDF classic file (no CDF-1, CDF-2 or CDF-5 magic number)"),
            Self::Truncated { at, what } => write!(f, "netCDF header truncated at byte {at}: {what}"),
            Self::Invalid { at, what } => write!(f, "invalid netCDF header at byte {at}: {what}"),
            Self::OutOfBounds { var, end, file_len } => write!(f, "data of variable '{var}' ends at byte {end}, past the end of the file ({file_len} bytes)"),
        }
    }
}

impl std::error::Error for Nc3Error {}

/// Parse the header from the start of the file. `file_len` is the whole file's length (the slice
/// may be the whole file, or just a prefix holding the header).
///
/// Computes numrecs from `file_len` when it is STREAMING. Data offsets are not checked against
/// the file here; see [`Header::check_bounds`].
pub fn parse_header(bytes: &[u8], file_len: u64) -> Result<Header, Nc3Error> {
    let version = match bytes {
        [b'C', b'D', b'F', v @ (1 | 2 | 5), ..] => *v,
        short if short.len() < 4 && b"CDF".starts_with(short) => return Err(Nc3Error::Truncated { at: 0, what: "magic number".into() }),
        _ => return Err(Nc3Error::NotNetcdf3),
    };
    let mut r = Reader { buf: bytes, pos: 4, version };

    // netCDF-C reads numrecs as unsigned (the spec reserves 2^32-1, not -1, for STREAMING).
    let (stored_numrecs, streaming) = if version == 5 {
        let n = r.u64("number of records")?;
        (n, n == u64::MAX)
    } else {
        let n = r.u32("number of records")?;
        (u64::from(n), n == u32::MAX)
    };

    let dims = r.dims()?;
    let attrs = r.attrs()?;
    let (vars, begin_pos) = r.vars(&dims)?;
    let header_len = r.at();

    for (v, &at) in vars.iter().zip(&begin_pos) {
        if v.begin < header_len {
            return Err(Nc3Error::Invalid { at, what: format!("variable '{}' begins at byte {} inside the {header_len}-byte header", v.name, v.begin) });
        }
    }

    let mut header = Header { version, numrecs: stored_numrecs, dims, attrs, vars, header_len };
    let stride = header.try_record_stride().ok_or_else(|| Nc3Error::Invalid { at: header_len, what: "record size overflows 64 bits".into() })?;
    if streaming {
        header.numrecs = header.streaming_numrecs(file_len, stride);
    }
    Ok(header)
}

impl Header {
    /// Index of the record (unlimited) dimension, if any.
    pub fn record_dim(&self) -> Option<usize> {
        self.dims.iter().position(|d| d.len == 0)
    }

    pub fn var(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|v| v.name == name)
    }

    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        find_attr(&self.attrs, name)
    }

    /// Whether the first dimension of `v` is the record dimension.
    pub fn is_record_var(&self, v: &Var) -> bool {
        v.dimids.first().and_then(|&id| self.dims.get(id)).is_some_and(|d| d.len == 0)
    }

    /// Shape of `v`, with the record dimension's length taken as `numrecs`. (A dimension id that
    /// does not exist, possible only in a hand-built header, counts as length 0.)
    pub fn shape(&self, v: &Var) -> Vec<u64> {
        v.dimids
            .iter()
            .map(|&id| match self.dims.get(id) {
                Some(d) if d.len == 0 => self.numrecs,
                Some(d) => d.len,
                None => 0,
            })
            .collect()
    }

    /// Bytes between successive records: sum of the vsize of all record variables, except that
    /// when there is exactly ONE record variable its size is NOT padded to 4 bytes (the spec's
    /// special case). Sizes come from the shapes, never from the stored vsize.
    pub fn record_stride(&self) -> u64 {
        self.try_record_stride().unwrap_or(u64::MAX)
    }

    /// Bytes of one record of `v` (product of non-record dims * type size), unpadded; for a fixed
    /// var, the whole size. Saturates instead of overflowing, which `parse_header` rules out.
    pub fn data_len(&self, v: &Var) -> u64 {
        self.try_data_len(v).unwrap_or(u64::MAX)
    }

    /// Error (OutOfBounds naming the variable) if any variable's data lies past `file_len`.
    pub fn check_bounds(&self, file_len: u64) -> Result<(), Nc3Error> {
        let stride = self.try_record_stride();
        for v in &self.vars {
            let start = if !self.is_record_var(v) {
                Some(v.begin)
            } else if let Some(last) = self.numrecs.checked_sub(1) {
                stride.and_then(|s| s.checked_mul(last)).and_then(|o| o.checked_add(v.begin))
            } else {
                continue; // no records, so no data to check
            };
            match start.zip(self.try_data_len(v)).and_then(|(s, len)| s.checked_add(len)) {
                Some(end) if end <= file_len => {}
                end => return Err(Nc3Error::OutOfBounds { var: v.name.clone(), end: end.unwrap_or(u64::MAX), file_len }),
            }
        }
        Ok(())
    }

    fn try_data_len(&self, v: &Var) -> Option<u64> {
        data_len_in(&self.dims, v)
    }

    fn try_record_stride(&self) -> Option<u64> {
        let mut recs = self.vars.iter().filter(|v| self.is_record_var(v));
        match (recs.next(), recs.next()) {
            (None, _) => Some(0),
            (Some(only), None) => self.try_data_len(only),
            (Some(a), Some(b)) => [a, b].into_iter().chain(recs).try_fold(0u64, |sum, v| sum.checked_add(self.try_data_len(v)?.checked_next_multiple_of(4)?)),
        }
    }

    /// Records that fit completely in the file for every record variable; a partly written
    /// last record is not counted, so `check_bounds` holds for the result.
    fn streaming_numrecs(&self, file_len: u64, stride: u64) -> u64 {
        if stride == 0 {
            return 0;
        }
        self.vars
            .iter()
            .filter(|v| self.is_record_var(v))
            .map(|v| file_len.checked_sub(v.begin).and_then(|room| room.checked_sub(self.data_len(v))).map_or(0, |spare| (spare / stride).saturating_add(1)))
            .min()
            .unwrap_or(0)
    }
}

fn find_attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|a| a.name == name).map(|a| &a.value)
}

/// Cursor over the header bytes. Invariant: `pos <= buf.len()`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    version: u8,
}

impl<'a> Reader<'a> {
    fn at(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        self.buf.len().saturating_sub(self.pos) as u64
    }

    /// Width of NON_NEG fields (counts, lengths, sizes): 64-bit only in CDF-5.
    fn width(&self) -> u64 {
        if self.version == 5 {
            8
        } else {
            4
        }
    }

    fn truncated(at: u64, what: &str) -> Nc3Error {
        Nc3Error::Truncated { at, what: what.to_owned() }
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], Nc3Error> {
        let bytes = usize::try_from(n).ok().and_then(|n| self.pos.checked_add(n)).and_then(|end| self.buf.get(self.pos..end)).ok_or_else(|| Self::truncated(self.at(), what))?;
        self.pos += bytes.len();
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Nc3Error> {
        let at = self.at();
        let bytes = self.take(N as u64, what)?;
        <[u8; N]>::try_from(bytes).map_err(|_| Self::truncated(at, what))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Nc3Error> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, Nc3Error> {
        self.array(what).map(u64::from_be_bytes)
    }

    /// Names and attribute values are padded to 4 bytes. The padding need not be NUL: netCDF-C
    /// only checks that when built with strict padding, which is off by default.
    fn skip_padding(&mut self, len: u64, what: &str) -> Result<(), Nc3Error> {
        self.take((4 - len % 4) % 4, what).map(drop)
    }

    /// OFFSET: signed, 32-bit in CDF-1 and 64-bit otherwise.
    fn offset(&mut self, what: &str) -> Result<u64, Nc3Error> {
        let at = self.at();
        let v = if self.version == 1 { i64::from(i32::from_be_bytes(self.array(what)?)) } else { i64::from_be_bytes(self.array(what)?) };
        u64::try_from(v).map_err(|_| Nc3Error::Invalid { at, what: format!("negative {what} ({v})") })
    }

    /// NON_NEG, read unsigned as netCDF-C does: it writes CDF-2 dimensions up to 2^32-4, which a
    /// signed reading would reject. A "negative" count thus reads as a huge one, which `count`
    /// refuses.
    fn unsigned(&mut self, what: &str) -> Result<u64, Nc3Error> {
        if self.version == 5 {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    /// An element count (`nelems`) of items taking at least `min_item` bytes each. Refusing a
    /// count the rest of the input cannot hold bounds every allocation by the input length.
    fn count(&mut self, min_item: u64, what: &str) -> Result<u64, Nc3Error> {
        let at = self.at();
        let n = self.unsigned(what)?;
        match n.checked_mul(min_item) {
            Some(need) if need <= self.remaining() => Ok(n),
            _ => Err(Nc3Error::Truncated { at, what: format!("{what} {n} exceeds the {} bytes left", self.remaining()) }),
        }
    }

    fn name(&mut self, what: &str) -> Result<String, Nc3Error> {
        let at = self.at();
        let len = self.count(1, what)?;
        let raw = self.take(len, what)?;
        self.skip_padding(len, what)?;
        if raw.is_empty() {
            return Err(Nc3Error::Invalid { at, what: format!("empty {what}") });
        }
        std::str::from_utf8(raw).map(str::to_owned).map_err(|_| Nc3Error::Invalid { at, what: format!("{what} is not valid UTF-8") })
    }

    fn nc_type(&mut self, what: &str) -> Result<NcType, Nc3Error> {
        let at = self.at();
        let code = self.u32(what)?;
        NcType::from_code(code, self.version).ok_or_else(|| Nc3Error::Invalid { at, what: format!("{what} {code} is not a CDF-{} type", self.version) })
    }

    /// The tag and length of a dim/att/var list; ABSENT (tag ZERO) must have length zero.
    fn list(&mut self, tag: u32, min_item: u64, what: &str) -> Result<u64, Nc3Error> {
        let at = self.at();
        let found = self.u32(what)?;
        let n = self.count(min_item, what)?;
        if found == tag || (found == 0 && n == 0) {
            Ok(n)
        } else {
            Err(Nc3Error::Invalid { at, what: format!("{what}: tag {found:#x} with {n} elements") })
        }
    }

    fn dims(&mut self) -> Result<Vec<Dim>, Nc3Error> {
        let n = self.list(NC_DIMENSION, 2 * self.width(), "dimension list")?;
        let mut dims = Vec::new();
        let mut has_record_dim = false;
        for _ in 0..n {
            let at = self.at();
            let name = self.name("dimension name")?;
            let len = self.unsigned("dimension length")?;
            if len == 0 {
                if has_record_dim {
                    return Err(Nc3Error::Invalid { at, what: format!("second record dimension '{name}'") });
                }
                has_record_dim = true;
            }
            dims.push(Dim { name, len });
        }
        Ok(dims)
    }

    fn attrs(&mut self) -> Result<Vec<Attr>, Nc3Error> {
        let n = self.list(NC_ATTRIBUTE, 2 * self.width() + 4, "attribute list")?;
        let mut attrs = Vec::new();
        for _ in 0..n {
            let name = self.name("attribute name")?;
            let ty = self.nc_type("attribute type")?;
            let nelems = self.count(ty.size(), "attribute length")?;
            let len = nelems.saturating_mul(ty.size());
            let raw = self.take(len, "attribute values")?;
            self.skip_padding(len, "attribute padding")?;
            attrs.push(Attr { name, value: AttrValue::decode(ty, raw) });
        }
        Ok(attrs)
    }

    /// The variables, and where each one's `begin` field sits (for error positions).
    fn vars(&mut self, dims: &[Dim]) -> Result<(Vec<Var>, Vec<u64>), Nc3Error> {
        let w = self.width();
        let offset_width = if self.version == 1 { 4 } else { 8 };
        // name length, rank, empty attribute list, type, vsize, begin
        let min_var = w + w + (4 + w) + 4 + w + offset_width;
        let n = self.list(NC_VARIABLE, min_var, "variable list")?;
        let mut vars = Vec::new();
        let mut begin_pos = Vec::new();
        for _ in 0..n {
            let var_at = self.at();
            let name = self.name("variable name")?;
            let rank = self.count(w, "variable rank")?;
            let mut dimids = Vec::new();
            for i in 0..rank {
                let at = self.at();
                let raw = self.unsigned("dimension id")?;
                let Some((id, dim)) = usize::try_from(raw).ok().and_then(|id| Some((id, dims.get(id)?))) else {
                    return Err(Nc3Error::Invalid { at, what: format!("variable '{name}' uses dimension id {raw} of {}", dims.len()) });
                };
                if dim.len == 0 && i > 0 {
                    return Err(Nc3Error::Invalid { at, what: format!("variable '{name}' has the record dimension after its first dimension") });
                }
                dimids.push(id);
            }
            let attrs = self.attrs()?;
            let nc_type = self.nc_type("variable type")?;
            let vsize = self.unsigned("variable size")?;
            begin_pos.push(self.at());
            let begin = self.offset("variable offset")?;
            let var = Var { name, dimids, attrs, nc_type, vsize, begin };
            // Checked here so that Header's size arithmetic never saturates on parsed input.
            if data_len_in(dims, &var).and_then(|len| len.checked_next_multiple_of(4)).is_none() {
                return Err(Nc3Error::Invalid { at: var_at, what: format!("size of variable '{}' overflows 64 bits", var.name) });
            }
            vars.push(var);
        }
        Ok((vars, begin_pos))
    }
}

/// Bytes of one record of `v` (all of it for a fixed variable), or `None` when a dimension id is
/// unknown or the size overflows.
fn data_len_in(dims: &[Dim], v: &Var) -> Option<u64> {
    v.dimids.iter().try_fold(v.nc_type.size(), |acc, &id| match dims.get(id)?.len {
        0 => Some(acc),
        len => acc.checked_mul(len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    // ---- test-only encoder -------------------------------------------------------------------

    struct Writer {
        version: u8,
        buf: Vec<u8>,
    }

    impl Writer {
        fn new(version: u8) -> Self {
            Self { version, buf: vec![b'C', b'D', b'F', version] }
        }

        fn u32(&mut self, v: u32) -> &mut Self {
            self.buf.extend(v.to_be_bytes());
            self
        }

        fn u64(&mut self, v: u64) -> &mut Self {
            self.buf.extend(v.to_be_bytes());
            self
        }

        fn non_neg(&mut self, v: u64) -> &mut Self {
            if self.version == 5 {
                self.u64(v)
            } else {
                self.u32(u32::try_from(v).expect("NON_NEG fits 32 bits"))
            }
        }

        fn raw(&mut self, bytes: &[u8]) -> &mut Self {
            self.buf.extend(bytes);
            while !self.buf.len().is_multiple_of(4) {
                self.buf.push(0);
            }
            self
        }

        fn name(&mut self, s: &str) -> &mut Self {
            self.non_neg(s.len() as u64).raw(s.as_bytes())
        }

        fn numrecs(&mut self, n: Option<u64>) -> &mut Self {
            match (n, self.version) {
                (Some(n), _) => self.non_neg(n),
                (None, 5) => self.u64(u64::MAX),
                (None, _) => self.u32(u32::MAX),
            }
        }

        fn list(&mut self, tag: u32, n: usize) -> &mut Self {
            let tag = if n == 0 { 0 } else { tag };
            self.u32(tag).non_neg(n as u64)
        }

        fn dims(&mut self, dims: &[Dim]) -> &mut Self {
            self.list(NC_DIMENSION, dims.len());
            for d in dims {
                self.name(&d.name).non_neg(d.len);
            }
            self
        }

        fn attrs(&mut self, attrs: &[Attr]) -> &mut Self {
            self.list(NC_ATTRIBUTE, attrs.len());
            for a in attrs {
                self.name(&a.name).u32(a.value.nc_type().code()).non_neg(a.value.len() as u64);
                let bytes: Vec<u8> = match &a.value {
                    AttrValue::Byte(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::Char(v) | AttrValue::UByte(v) => v.clone(),
                    AttrValue::Short(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::Int(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::Float(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::Double(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::UShort(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::UInt(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::Int64(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                    AttrValue::UInt64(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
                };
                self.raw(&bytes);
            }
            self
        }

        fn begin(&mut self, begin: u64) -> &mut Self {
            if self.version == 1 {
                self.u32(u32::try_from(begin).expect("CDF-1 offset fits 32 bits"))
            } else {
                self.u64(begin)
            }
        }

        fn vars(&mut self, vars: &[Var]) -> &mut Self {
            self.list(NC_VARIABLE, vars.len());
            for v in vars {
                self.name(&v.name).non_neg(v.dimids.len() as u64);
                for &id in &v.dimids {
                    self.non_neg(id as u64);
                }
                self.attrs(&v.attrs).u32(v.nc_type.code()).non_neg(v.vsize).begin(v.begin);
            }
            self
        }
    }

    fn header_bytes(version: u8, numrecs: Option<u64>, dims: &[Dim], attrs: &[Attr], vars: &[Var]) -> Vec<u8> {
        let mut w = Writer::new(version);
        w.numrecs(numrecs).dims(dims).attrs(attrs).vars(vars);
        w.buf
    }

    fn pad4(n: u64) -> u64 {
        n.div_ceil(4) * 4
    }

    /// A zero-filled file laid out as netCDF-C lays it out (fixed variables after the header in
    /// order, then `records` records), with each variable's vsize and begin filled in.
    fn build(version: u8, numrecs: Option<u64>, records: u64, dims: &[Dim], attrs: &[Attr], vars: &mut [Var]) -> Vec<u8> {
        let header_len = header_bytes(version, numrecs, dims, attrs, vars).len() as u64;
        let is_rec = |v: &Var| v.dimids.first().is_some_and(|&id| dims[id].len == 0);
        let mut offset = header_len;
        for pass_records in [false, true] {
            for v in vars.iter_mut().filter(|v| is_rec(v) == pass_records) {
                let len = pad4(data_len_in(dims, v).unwrap());
                v.vsize = if version != 5 && len > (1 << 32) - 4 { u64::from(u32::MAX) } else { len };
                v.begin = offset;
                offset += len;
            }
        }
        let rec_vars: Vec<&Var> = vars.iter().filter(|v| is_rec(v)).collect();
        let record_size = match rec_vars.as_slice() {
            [only] => data_len_in(dims, only).unwrap(),
            all => all.iter().map(|v| pad4(data_len_in(dims, v).unwrap())).sum(),
        };
        let rec_begin = rec_vars.first().map_or(offset, |v| v.begin);
        let mut bytes = header_bytes(version, numrecs, dims, attrs, vars);
        bytes.resize((rec_begin + records * record_size) as usize, 0);
        bytes
    }

    fn dim(name: &str, len: u64) -> Dim {
        Dim { name: name.into(), len }
    }

    fn attr(name: &str, value: AttrValue) -> Attr {
        Attr { name: name.into(), value }
    }

    fn text(s: &str) -> AttrValue {
        AttrValue::Char(s.as_bytes().to_vec())
    }

    fn var(name: &str, dimids: &[usize], nc_type: NcType, attrs: Vec<Attr>) -> Var {
        Var { name: name.into(), dimids: dimids.to_vec(), attrs, nc_type, vsize: 0, begin: 0 }
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    // ---- synthetic headers -------------------------------------------------------------------

    struct Sample {
        bytes: Vec<u8>,
        expected: Header,
    }

    /// Record dimension in the middle, global attributes of every type the version allows,
    /// fixed and record variables of several types, `records` records written.
    fn sample(version: u8, numrecs: Option<u64>, records: u64) -> Sample {
        let dims = vec![dim("lat", 3), dim("lon", 2), dim("time", 0), dim("nchar", 5)];
        let mut attrs = vec![
            attr("title", text("synthetic")),
            attr("padded", AttrValue::Char(b"ab\0\0\0".to_vec())),
            attr("empty", AttrValue::Char(Vec::new())),
            attr("bytes", AttrValue::Byte(vec![-128, 0, 127])),
            attr("shorts", AttrValue::Short(vec![-32768, 1, 32767])),
            attr("ints", AttrValue::Int(vec![i32::MIN, 0, i32::MAX])),
            attr("floats", AttrValue::Float(vec![1.5, -0.25, f32::INFINITY])),
            attr("doubles", AttrValue::Double(vec![52560.0, -1e300])),
        ];
        if version == 5 {
            attrs.extend([
                attr("ubytes", AttrValue::UByte(vec![0, 255, 7])),
                attr("ushorts", AttrValue::UShort(vec![65535])),
                attr("uints", AttrValue::UInt(vec![4_000_000_000, 1])),
                attr("int64s", AttrValue::Int64(vec![-5, 1 << 40])),
                attr("uint64s", AttrValue::UInt64(vec![u64::MAX])),
            ]);
        }
        let mut vars = vec![
            var("lat", &[0], NcType::Float, vec![attr("units", text("degrees_north"))]),
            var("label", &[0, 3], NcType::Char, vec![]),
            var("time", &[2], NcType::Double, vec![attr("units", text("days since 2000-01-01"))]),
            var("temp", &[2, 0, 1], NcType::Short, vec![attr("scale_factor", AttrValue::Float(vec![0.01])), attr("_FillValue", AttrValue::Short(vec![-999]))]),
            var("scalar", &[], NcType::Int, vec![]),
            var("flag", &[2, 1], NcType::Byte, vec![]),
        ];
        if version == 5 {
            vars.extend([var("big", &[1], NcType::UInt64, vec![]), var("counts", &[2, 0], NcType::UShort, vec![])]);
        }
        let bytes = build(version, numrecs, records, &dims, &attrs, &mut vars);
        let header_len = header_bytes(version, numrecs, &dims, &attrs, &vars).len() as u64;
        let expected = Header { version, numrecs: records, dims, attrs, vars, header_len };
        Sample { bytes, expected }
    }

    #[test]
    fn types_have_sizes_and_zarr_dtypes() {
        use NcType::*;
        let all = [Byte, Char, Short, Int, Float, Double, UByte, UShort, UInt, Int64, UInt64];
        let sizes: Vec<u64> = all.iter().map(|t| t.size()).collect();
        assert_eq!(sizes, [1, 1, 2, 4, 4, 8, 1, 2, 4, 8, 8]);
        let dtypes: Vec<&str> = all.iter().map(|t| t.zarr_dtype()).collect();
        assert_eq!(dtypes, ["|i1", "|S1", ">i2", ">i4", ">f4", ">f8", "|u1", ">u2", ">u4", ">i8", ">u8"]);
        for t in all {
            assert_eq!(NcType::from_code(t.code(), 5), Some(t));
            assert_eq!(NcType::from_code(t.code(), 1).is_some(), t.code() <= 6);
        }
        assert_eq!(NcType::from_code(0, 5), None);
        assert_eq!(NcType::from_code(12, 5), None);
    }

    #[test]
    fn parses_synthetic_headers_of_every_version() {
        for version in [1, 2, 5] {
            let Sample { bytes, expected } = sample(version, Some(3), 3);
            let h = parse_header(&bytes, bytes.len() as u64).unwrap();
            assert_eq!(h, expected, "CDF-{version}");
            h.check_bounds(bytes.len() as u64).unwrap();

            let v = |name| h.var(name).unwrap();
            assert_eq!(h.record_dim(), Some(2));
            assert!(h.is_record_var(v("time")) && h.is_record_var(v("temp")) && h.is_record_var(v("flag")));
            assert!(!h.is_record_var(v("lat")) && !h.is_record_var(v("label")) && !h.is_record_var(v("scalar")));
            assert_eq!(h.shape(v("temp")), [3, 3, 2]);
            assert_eq!(h.shape(v("label")), [3, 5]);
            assert_eq!(h.shape(v("scalar")), Vec::<u64>::new());
            assert_eq!(h.data_len(v("temp")), 12);
            assert_eq!(h.data_len(v("label")), 15);
            assert_eq!(h.data_len(v("flag")), 2);
            assert_eq!(h.data_len(v("scalar")), 4);
            assert_eq!(v("label").vsize, 16);
            assert_eq!(v("flag").vsize, 4);

            // time 8 + temp 12 + flag 2 padded to 4 (+ counts 6 padded to 8)
            let stride = if version == 5 { 32 } else { 24 };
            assert_eq!(h.record_stride(), stride);
            assert_eq!(v("lat").begin, h.header_len);
            assert_eq!(v("label").begin, h.header_len + 12);
            assert_eq!(v("scalar").begin, h.header_len + 28);
            assert_eq!(v("temp").begin, v("time").begin + 8);
            assert_eq!(v("flag").begin, v("temp").begin + 12);
            assert_eq!(bytes.len() as u64, v("time").begin + 3 * stride);

            assert_eq!(h.attr("title").unwrap().as_str(), Some("synthetic"));
            assert_eq!(h.attr("padded"), Some(&AttrValue::Char(b"ab\0\0\0".to_vec())));
            assert_eq!(h.attr("padded").unwrap().as_str(), Some("ab"));
            assert!(h.attr("empty").unwrap().is_empty());
            assert_eq!(v("temp").attr("_FillValue"), Some(&AttrValue::Short(vec![-999])));

            // the last slab of the last record variable has 2 bytes of padding
            let last = h.vars.last().unwrap().name.as_str();
            let short = bytes.len() as u64 - 3;
            match h.check_bounds(short) {
                Err(Nc3Error::OutOfBounds { var, end, file_len }) => {
                    assert_eq!((var.as_str(), end, file_len), (last, short + 1, short));
                }
                other => panic!("CDF-{version}: {other:?}"),
            }
        }
    }

    #[test]
    fn cdf1_header_bytes_match_hand_encoding() {
        // dims x=2, t=UNLIMITED; one global attribute; v(t, x) short; numrecs 1
        let bytes = from_hex(
            "43444601 00000001
             0000000a 00000002 00000001 78000000 00000002 00000001 74000000 00000000
             0000000c 00000001 00000001 61000000 00000002 00000003 6869 21 00
             0000000b 00000001 00000001 76000000 00000002 00000001 00000000
                00000000 00000000 00000003 00000004 00000074
             0001 0002",
        );
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        let expected = Header {
            version: 1,
            numrecs: 1,
            dims: vec![dim("x", 2), dim("t", 0)],
            attrs: vec![attr("a", text("hi!"))],
            vars: vec![Var { vsize: 4, begin: 116, ..var("v", &[1, 0], NcType::Short, vec![]) }],
            header_len: 116,
        };
        assert_eq!(h, expected);
        assert_eq!(header_bytes(1, Some(1), &h.dims, &h.attrs, &h.vars), bytes[..116]);
        assert_eq!(h.record_stride(), 4);
        h.check_bounds(120).unwrap();
        assert!(h.check_bounds(119).is_err());
    }

    #[test]
    fn a_single_record_variable_is_not_padded() {
        let dims = [dim("t", 0), dim("x", 3)];
        let mut one = [var("b", &[0, 1], NcType::Byte, vec![])];
        let bytes = build(1, Some(4), 4, &dims, &[], &mut one);
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!(h.vars[0].vsize, 4, "vsize keeps the padding");
        assert_eq!(h.record_stride(), 3);
        assert_eq!(bytes.len() as u64, h.vars[0].begin + 12);
        h.check_bounds(bytes.len() as u64).unwrap();
        assert!(matches!(h.check_bounds(bytes.len() as u64 - 1), Err(Nc3Error::OutOfBounds { .. })));

        // with a second record variable every slab is padded again
        let mut two = [var("b", &[0, 1], NcType::Byte, vec![]), var("c", &[0], NcType::Short, vec![])];
        let bytes = build(2, Some(4), 4, &dims, &[], &mut two);
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!(h.record_stride(), 8);
        assert_eq!(h.vars[1].begin, h.vars[0].begin + 4);
        h.check_bounds(bytes.len() as u64).unwrap();
    }

    /// Written by netCDF-C 4.9 (netCDF4-python, format NETCDF3_CLASSIC): b(t, x) byte with 4
    /// records, the single record variable.
    const NETCDF_C_CDF1_ONE_RECORD_VAR: &str = "
        43444601000000040000000a000000020000000174000000000000000000000178000000000000030000
        0000000000000000000b00000001000000016200000000000002000000000000000100000000000000000000
        0001000000040000006000010203040506070809 0a0b";

    /// Written by netCDF-C 4.9 (netCDF4-python, format NETCDF3_64BIT_DATA): global attributes of
    /// the CDF-5 types, u(x) uint64, and s(rec, x) short as the single record variable with 3
    /// records.
    const NETCDF_C_CDF5: &str = "
        4344460500000000000000030000000a0000000000000002000000000000000372656300000000000000
        000000000000000000017800000000000000000000030000000c000000000000000600000000000000027538
        000000000007000000000000000201ff0000000000000000000375313600000000080000000000000001ffff
        0000000000000000000375333200000000090000000000000001ee6b28000000000000000003693634000000
        000a0000000000000002fffffffffffffffb0000010000000000000000000000000375363400000000 0b00
        00000000000001800000000000000000000000000000057469746c6500000000000002000000000000000463
        6466350000000b00000000000000020000000000000001750000000000000000000001000000000000000100
        00000000000000000000000000000b000000000000001800000000000001b400000000000000017300000000
        00000000000002000000000000000000000000000000010000000c00000000000000010000000000000005756e
        6974730000000000000200000000000000016d00000000000003000000000000000800000000000001cc0000
        00000000000700000000000000080000000000000009fffcfffdfffeffff00000001000200030004";

    #[test]
    fn parses_files_written_by_netcdf_c() {
        let bytes = from_hex(NETCDF_C_CDF1_ONE_RECORD_VAR);
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!((h.version, h.numrecs, h.header_len), (1, 4, 96));
        assert_eq!(h.vars, [Var { vsize: 4, begin: 96, ..var("b", &[0, 1], NcType::Byte, vec![]) }]);
        assert_eq!(h.record_stride(), 3);
        h.check_bounds(bytes.len() as u64).unwrap();
        assert_eq!(bytes[96 + 3 * 3], 9, "record 3 starts 9 bytes after record 0");

        let bytes = from_hex(NETCDF_C_CDF5);
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!((h.version, h.numrecs), (5, 3));
        assert_eq!(h.dims, [dim("rec", 0), dim("x", 3)]);
        assert_eq!(
            h.attrs,
            [
                attr("u8", AttrValue::UByte(vec![1, 255])),
                attr("u16", AttrValue::UShort(vec![65535])),
                attr("u32", AttrValue::UInt(vec![4_000_000_000])),
                attr("i64", AttrValue::Int64(vec![-5, 1 << 40])),
                attr("u64", AttrValue::UInt64(vec![1 << 63])),
                attr("title", text("cdf5")),
            ]
        );
        let u = Var { vsize: 24, begin: 436, ..var("u", &[1], NcType::UInt64, vec![]) };
        let s = Var { vsize: 8, begin: 460, ..var("s", &[0, 1], NcType::Short, vec![attr("units", text("m"))]) };
        assert_eq!(h.vars, [u, s]);
        assert_eq!(h.record_stride(), 6);
        assert_eq!(h.shape(&h.vars[1]), [3, 3]);
        h.check_bounds(bytes.len() as u64).unwrap();
        assert_eq!(u64::from_be_bytes(bytes[436 + 16..444 + 16].try_into().unwrap()), 9);
        assert_eq!(i16::from_be_bytes([bytes[460 + 12], bytes[461 + 12]]), 2, "s[2, 0]");
    }

    #[test]
    fn streaming_numrecs_comes_from_the_file_length() {
        for version in [1, 2, 5] {
            let Sample { mut bytes, expected } = sample(version, None, 4);
            // a partly written fifth record is not counted
            bytes.extend([0; 9]);
            let h = parse_header(&bytes, bytes.len() as u64).unwrap();
            assert_eq!(h.numrecs, 4, "CDF-{version}");
            assert_eq!(h, expected);
            h.check_bounds(bytes.len() as u64).unwrap();

            let first_record = h.var("time").unwrap().begin;
            let h = parse_header(&bytes, first_record + 7).unwrap();
            assert_eq!(h.numrecs, 0, "less than one whole record");
        }

        // a single unpadded record variable: 3 bytes per record
        let dims = [dim("t", 0), dim("x", 3)];
        let mut vars = [var("b", &[0, 1], NcType::Byte, vec![])];
        let bytes = build(5, None, 7, &dims, &[], &mut vars);
        let h = parse_header(&bytes, bytes.len() as u64).unwrap();
        assert_eq!(h.numrecs, 7);
        h.check_bounds(bytes.len() as u64).unwrap();

        // no record variables, so no records
        let mut fixed = [var("a", &[1], NcType::Int, vec![])];
        let bytes = build(1, None, 0, &dims, &[], &mut fixed);
        assert_eq!(parse_header(&bytes, 1 << 20).unwrap().numrecs, 0);
    }

    #[test]
    fn absent_lists_and_empty_tagged_lists_are_accepted() {
        for version in [1, 2, 5] {
            let mut w = Writer::new(version);
            w.numrecs(Some(0)).dims(&[]).attrs(&[]).vars(&[]);
            let empty = w.buf.clone();
            let h = parse_header(&empty, empty.len() as u64).unwrap();
            let header_len = if version == 5 { 4 + 8 + 3 * 12 } else { 4 + 4 + 3 * 8 };
            assert_eq!(h, Header { version, numrecs: 0, dims: vec![], attrs: vec![], vars: vec![], header_len });
            assert_eq!(h.record_stride(), 0);

            let mut w = Writer::new(version);
            w.numrecs(Some(0));
            w.u32(NC_DIMENSION).non_neg(0).u32(NC_ATTRIBUTE).non_neg(0).u32(NC_VARIABLE).non_neg(0);
            assert_eq!(parse_header(&w.buf, 0).unwrap(), h);
        }
    }

    #[test]
    fn huge_vsize_is_ignored() {
        // 2^31 doubles = 16 GiB: vsize is stored as 2^32-1 and must not be trusted
        let dims = [dim("n", 1 << 31)];
        let huge = Var { vsize: u64::from(u32::MAX), begin: 84, ..var("huge", &[0], NcType::Double, vec![]) };
        let header = header_bytes(2, Some(0), &dims, &[], &[huge]);
        assert_eq!(header.len(), 84);
        let h = parse_header(&header, 1 << 40).unwrap();
        assert_eq!(h.vars[0].vsize, u64::from(u32::MAX));
        assert_eq!(h.data_len(&h.vars[0]), 1 << 34);
        h.check_bounds(h.header_len + (1 << 34)).unwrap();
        assert!(h.check_bounds(h.header_len + (1 << 34) - 1).is_err());
    }

    // ---- malformed headers -------------------------------------------------------------------

    fn err(bytes: &[u8]) -> Nc3Error {
        parse_header(bytes, bytes.len() as u64).expect_err("malformed header accepted")
    }

    fn is_invalid(e: &Nc3Error) -> bool {
        matches!(e, Nc3Error::Invalid { .. })
    }

    fn is_truncated(e: &Nc3Error) -> bool {
        matches!(e, Nc3Error::Truncated { .. })
    }

    /// A CDF-`version` header with the given dims and vars, no attributes.
    fn header_with(version: u8, dims: &[Dim], vars: &[Var]) -> Vec<u8> {
        let mut vars = vars.to_vec();
        let bytes = header_bytes(version, Some(0), dims, &[], &vars);
        for v in &mut vars {
            v.begin = bytes.len() as u64;
        }
        header_bytes(version, Some(0), dims, &[], &vars)
    }

    #[test]
    fn rejects_what_is_not_a_classic_file() {
        assert!(matches!(err(b"\x89HDF\r\n\x1a\n"), Nc3Error::NotNetcdf3));
        assert!(matches!(err(b"CDF\x03\0\0\0\0"), Nc3Error::NotNetcdf3));
        assert!(matches!(err(b"XY"), Nc3Error::NotNetcdf3));
        assert!(is_truncated(&err(b"CD")));
        assert!(is_truncated(&err(b"")));
        assert!(is_truncated(&err(b"CDF\x01\0\0")));
    }

    #[test]
    fn absurd_counts_are_truncated_without_allocating() {
        for count in [1u64 << 31, u64::from(u32::MAX), 0x7fff_ffff, 1000] {
            for tag in [NC_DIMENSION, NC_ATTRIBUTE] {
                let mut w = Writer::new(1);
                w.numrecs(Some(0));
                if tag == NC_ATTRIBUTE {
                    w.dims(&[]);
                }
                w.u32(tag).u32(count as u32);
                w.buf.resize(100, 0);
                assert!(is_truncated(&err(&w.buf)), "count {count}");
            }
        }
        let mut w = Writer::new(5);
        w.numrecs(Some(0)).dims(&[]).u32(NC_ATTRIBUTE).u64(1).name("a").u32(6).u64(u64::MAX / 4);
        w.buf.resize(100, 0);
        assert!(is_truncated(&err(&w.buf)), "attribute values");

        let mut w = Writer::new(5);
        w.numrecs(Some(0)).dims(&[dim("x", 1)]).attrs(&[]).u32(NC_VARIABLE).u64(1).name("v").u64(1 << 62);
        w.buf.resize(200, 0);
        assert!(is_truncated(&err(&w.buf)), "rank");

        let mut w = Writer::new(2);
        w.numrecs(Some(0)).u32(NC_DIMENSION).u32(1).u32(0xffff_fff0);
        assert!(is_truncated(&err(&w.buf)), "name length");
    }

    #[test]
    fn rejects_inconsistent_headers() {
        let x = || vec![dim("x", 2), dim("t", 0)];
        let v = |ids: &[usize]| var("v", ids, NcType::Int, vec![]);

        let e = err(&header_with(1, &x(), &[v(&[2])]));
        assert!(is_invalid(&e) && e.to_string().contains("dimension id 2"), "{e}");
        let e = err(&header_with(2, &x(), &[v(&[0, 1])]));
        assert!(is_invalid(&e) && e.to_string().contains("record dimension"), "{e}");
        assert!(is_invalid(&err(&header_with(5, &[dim("t", 0), dim("u", 0)], &[]))));
        assert!(is_invalid(&err(&header_with(1, &[dim("", 3)], &[]))));

        let mut w = Writer::new(1);
        w.numrecs(Some(0)).u32(NC_DIMENSION).u32(1).non_neg(2).raw(b"\xff\xfe").non_neg(3);
        let e = err(&w.buf);
        assert!(is_invalid(&e) && e.to_string().contains("UTF-8"), "{e}");

        let mut w = Writer::new(1);
        w.numrecs(Some(0)).u32(NC_VARIABLE).u32(0);
        assert!(is_invalid(&err(&w.buf)), "wrong list tag");
        let mut w = Writer::new(1);
        w.numrecs(Some(0)).u32(0).u32(1).name("x").u32(1);
        assert!(is_invalid(&err(&w.buf)), "ABSENT with elements");

        for (version, code) in [(5, 12), (1, 7), (2, 11), (1, 0)] {
            let mut w = Writer::new(version);
            w.numrecs(Some(0)).dims(&[]).u32(NC_ATTRIBUTE).non_neg(1).name("a").u32(code).non_neg(0);
            w.attrs(&[]).vars(&[]);
            assert!(is_invalid(&err(&w.buf)), "type {code} in CDF-{version}");
        }

        let mut inside = v(&[0]);
        inside.begin = 8;
        let e = err(&header_bytes(1, Some(0), &x(), &[], &[inside]));
        assert!(is_invalid(&e) && e.to_string().contains("inside"), "{e}");

        let mut negative = v(&[0]);
        negative.begin = u64::MAX;
        assert!(is_invalid(&err(&header_bytes(2, Some(0), &x(), &[], &[negative]))));
        let mut w = Writer::new(1);
        w.numrecs(Some(0)).dims(&x()).attrs(&[]).u32(NC_VARIABLE).u32(1).name("v").u32(0).attrs(&[]);
        w.u32(4).u32(4).u32(0x8000_0000);
        assert!(is_invalid(&err(&w.buf)), "negative CDF-1 offset");

        let huge = [dim("a", 1 << 40), dim("b", 1 << 40)];
        let e = err(&header_with(5, &huge, &[var("v", &[0, 1], NcType::Double, vec![])]));
        assert!(is_invalid(&e) && e.to_string().contains("overflows"), "{e}");
        let e = err(&header_with(5, &[dim("a", u64::MAX)], &[var("v", &[0], NcType::Byte, vec![])]));
        assert!(is_invalid(&e), "padding overflows: {e}");
    }

    #[test]
    fn check_bounds_names_the_variable() {
        let Sample { bytes, expected } = sample(1, Some(3), 3);
        let mut h = expected;
        h.numrecs = 4;
        let e = h.check_bounds(bytes.len() as u64).unwrap_err();
        assert!(matches!(&e, Nc3Error::OutOfBounds { var, .. } if var == "time"), "{e:?}");
        assert!(e.to_string().contains("'time'"));

        h.numrecs = u64::MAX;
        assert!(matches!(h.check_bounds(u64::MAX), Err(Nc3Error::OutOfBounds { end: u64::MAX, .. })));
        h.numrecs = 0;
        let fixed_end = h.var("scalar").unwrap().begin + 4;
        h.check_bounds(fixed_end).unwrap();
        assert!(h.check_bounds(fixed_end - 1).is_err());
    }

    #[test]
    fn hand_built_nonsense_does_not_panic() {
        let h = Header {
            version: 1,
            numrecs: u64::MAX,
            dims: vec![dim("t", 0), dim("n", u64::MAX)],
            attrs: vec![],
            vars: vec![Var { begin: u64::MAX, ..var("a", &[0, 1, 1], NcType::Double, vec![]) }, var("b", &[7, 0], NcType::Int, vec![]), var("c", &[0], NcType::Int, vec![])],
            header_len: 0,
        };
        assert_eq!(h.record_stride(), u64::MAX);
        assert_eq!(h.data_len(&h.vars[0]), u64::MAX);
        assert_eq!(h.data_len(&h.vars[1]), u64::MAX);
        assert_eq!(h.shape(&h.vars[1]), [0, u64::MAX]);
        assert!(h.check_bounds(u64::MAX).is_err());
    }

    // ---- real files ----------------------------------------------------------------------------

    /// `../shared/testdata` from the project root, as CI provides it.
    fn testdata(rel: &str) -> PathBuf {
        let root = match option_env!("CARGO_MANIFEST_DIR") {
            Some(dir) => PathBuf::from(dir),
            // plain `rustc` on this file: src/source/netcdf3.rs -> project root
            None => Path::new(file!()).ancestors().nth(3).unwrap().to_path_buf(),
        };
        root.join("../shared/testdata").join(rel)
    }

    fn open(rel: &str) -> (Header, Vec<u8>) {
        let path = testdata(rel);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let h = parse_header(&bytes, bytes.len() as u64).unwrap_or_else(|e| panic!("{rel}: {e}"));
        h.check_bounds(bytes.len() as u64).unwrap_or_else(|e| panic!("{rel}: {e}"));
        (h, bytes)
    }

    fn dims_of(h: &Header) -> Vec<(&str, u64)> {
        h.dims.iter().map(|d| (d.name.as_str(), d.len)).collect()
    }

    fn at<const N: usize>(bytes: &[u8], offset: u64) -> [u8; N] {
        let start = usize::try_from(offset).unwrap();
        bytes[start..start + N].try_into().unwrap()
    }

    /// Value `index` of record `rec` of `name` (record 0 for a fixed variable).
    fn f64_at(h: &Header, bytes: &[u8], name: &str, rec: u64, index: u64) -> f64 {
        let v = h.var(name).unwrap();
        let offset = v.begin + rec * h.record_stride() + index * v.nc_type.size();
        match v.nc_type {
            NcType::Short => f64::from(i16::from_be_bytes(at(bytes, offset))),
            NcType::Int => f64::from(i32::from_be_bytes(at(bytes, offset))),
            NcType::Float => f64::from(f32::from_be_bytes(at(bytes, offset))),
            NcType::Double => f64::from_be_bytes(at(bytes, offset)),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn classic_files() -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if std::fs::read(&path).unwrap().starts_with(b"CDF") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&testdata(""), &mut files);
        files.sort();
        files
    }

    #[test]
    fn example_1() {
        let (h, bytes) = open("single/example_1.nc");
        assert_eq!((h.version, h.numrecs), (1, 1));
        assert_eq!(dims_of(&h), [("lat", 5), ("lon", 10), ("level", 4), ("time", 0)]);
        assert_eq!(h.attrs, [attr("source", text("Fictional Model Output"))]);
        let names: Vec<&str> = h.vars.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["temp", "rh", "lat", "lon", "level", "time"]);
        let rh = h.var("rh").unwrap();
        assert_eq!(rh.attr("valid_range"), Some(&AttrValue::Double(vec![0.0, 1.0])));
        assert_eq!(rh.attr("long_name").unwrap().as_str(), Some("relative humidity"));
        assert_eq!((rh.nc_type, h.shape(rh)), (NcType::Float, vec![1, 5, 10]));
        assert_eq!(h.shape(h.var("temp").unwrap()), [1, 4, 5, 10]);
        assert_eq!(h.record_stride(), 4 * 4 * 5 * 10 + 4 * 5 * 10 + 4);

        let lat: Vec<f64> = (0..5).map(|i| f64_at(&h, &bytes, "lat", 0, i)).collect();
        assert_eq!(lat, [20.0, 30.0, 40.0, 50.0, 60.0]);
        assert_eq!(f64_at(&h, &bytes, "lon", 0, 9), -15.0);
        assert_eq!(f64_at(&h, &bytes, "level", 0, 3), 500.0);
        assert_eq!(f64_at(&h, &bytes, "time", 0, 0), 12.0);
        assert_eq!(f64_at(&h, &bytes, "rh", 0, 1), f64::from(0.2f32));
    }

    #[test]
    fn bears() {
        let (h, bytes) = open("single/bears.nc");
        assert_eq!((h.version, h.record_dim(), h.record_stride()), (1, None, 0));
        assert_eq!(dims_of(&h), [("i", 2), ("j", 3), ("bears_len", 4), ("l", 3)]);
        let history = h.attr("history").unwrap().as_str().unwrap();
        assert!(history.starts_with("This is an example of a multi-line global\\012attribute."));
        assert_eq!(h.attr("DODS_EXTRA.Unlimited_Dimension").unwrap().as_str(), Some("k"));

        let bears = h.var("bears").unwrap();
        assert_eq!((bears.nc_type, h.shape(bears)), (NcType::Char, vec![2, 3, 4]));
        assert_eq!(bears.attr("act").unwrap().as_str(), Some("text string\\012\\011123"));
        assert_eq!(bears.attr("acs"), Some(&AttrValue::Short(vec![-40])));
        assert_eq!(bears.attr("acl"), Some(&AttrValue::Int(vec![17000])));
        assert_eq!(bears.attr("acf"), Some(&AttrValue::Float(vec![-2.0, 1.0, 0.0])));
        assert_eq!(bears.attr("acd"), Some(&AttrValue::Double(vec![-1.0, 0.75])));
        let start = bears.begin as usize;
        assert_eq!(&bytes[start..start + 24], b"ind\0ist\0ing\0uis\0hab\0le\0\0");

        let i = h.var("i").unwrap();
        assert_eq!(i.attr("i_1.attr3_2"), Some(&AttrValue::Double(vec![19.0, 23.0, 27.0])));
        assert_eq!(i.attr("attr2").unwrap().as_str(), Some("1\n2\n3\n4"));
        let order: Vec<f64> = (0..6).map(|k| f64_at(&h, &bytes, "order", 0, k)).collect();
        assert_eq!(order, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(f64_at(&h, &bytes, "cross", 0, 5), 1e10);
        assert_eq!(f64_at(&h, &bytes, "l", 0, 2), 8.0);
    }

    #[test]
    fn ref_nctest_64bit_offset() {
        let (h, bytes) = open("single/ref_nctest_64bit_offset.nc");
        assert_eq!((h.version, h.numrecs, h.dims.len(), h.vars.len()), (2, 5, 22, 28));
        assert_eq!(h.dims[6], dim("rec", 0));
        assert_eq!(h.attr("title").unwrap().as_str(), Some("test netcdf"));
        assert_eq!(h.attr("att0"), Some(&AttrValue::Byte(vec![97, 98])));
        assert_eq!(h.attr("att2"), Some(&AttrValue::Short(vec![-999, 0, 999])));
        assert_eq!(h.attr("att3"), Some(&AttrValue::Int(vec![10, 20])));
        assert_eq!(h.attr("att4"), Some(&AttrValue::Float(vec![1.5, 2.5, 3.5])));
        assert_eq!(h.attr("att5"), Some(&AttrValue::Double(vec![4.5, 5.5, 6.5, 7.5])));
        assert_eq!(h.var("scalarv").map(|v| h.shape(v)), Some(vec![]));
        assert_eq!(h.shape(h.var("ce").unwrap()), [5, 3, 7]);
        // cc int, cd short[3] padded to 8, ce float[3][7]
        assert_eq!(h.record_stride(), 4 + 8 + 84);

        let cc: Vec<f64> = (0..5).map(|r| f64_at(&h, &bytes, "cc", r, 0)).collect();
        assert_eq!(cc, [-1.0, 0.0, 0.0, 1.0, 0.0]);
        let cd: Vec<f64> = (0..5).flat_map(|r| (0..3).map(move |k| (r, k))).map(|(r, k)| f64_at(&h, &bytes, "cd", r, k)).collect();
        assert_eq!(cd, [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]);
        let ce: Vec<f64> = (0..5).map(|r| f64_at(&h, &bytes, "ce", r, 1)).collect();
        assert_eq!(ce, [2.0, 2.0, 44.0, 65.0, 86.0]);
        assert_eq!(f64_at(&h, &bytes, "aa", 0, 0), -2.0);
    }

    #[test]
    fn arm_series() {
        for (day, date) in [("20191125", "2019-11-25"), ("20191130", "2019-11-30")] {
            let (h, bytes) = open(&format!("series/arm-sgp30ebbrE32-b1/sgp30ebbrE32.b1.{day}.000000.nc"));
            assert_eq!((h.version, h.numrecs, h.attrs.len(), h.vars.len()), (1, 48, 26, 119));
            assert_eq!(dims_of(&h), [("time", 0), ("bound", 2)]);
            assert_eq!(h.attr("site_id").unwrap().as_str(), Some("sgp"));
            let pressure = h.var("atmos_pressure").unwrap();
            assert_eq!(pressure.attr("valid_max"), Some(&AttrValue::Float(vec![110.0])));
            assert_eq!(pressure.nc_type.zarr_dtype(), ">f4");
            let units = h.var("time").unwrap().attr("units").unwrap();
            let expected = format!("seconds since {date} 00:00:00 0:00");
            assert_eq!(units.as_str(), Some(expected.as_str()));

            let times: Vec<f64> = (0..48).map(|r| f64_at(&h, &bytes, "time", r, 0)).collect();
            assert_eq!(times, (0..48).map(|r| f64::from(r) * 1800.0).collect::<Vec<_>>());
            assert_eq!(f64_at(&h, &bytes, "time_bounds", 47, 0), 82800.0);
            assert_eq!(f64_at(&h, &bytes, "time_bounds", 47, 1), 84600.0);
            assert_eq!(f64_at(&h, &bytes, "alt", 0, 0), 328.0);
        }
        let (h, bytes) = open("series/arm-sgp30ebbrE32-b1/sgp30ebbrE32.b1.20191125.000000.nc");
        assert_eq!(f64_at(&h, &bytes, "base_time", 0, 0), 1574640000.0);
        assert_eq!(f64_at(&h, &bytes, "atmos_pressure", 0, 0), f64::from(96.631f32));
        assert_eq!(f64_at(&h, &bytes, "atmos_pressure", 47, 0), f64::from(96.269f32));
    }

    #[test]
    fn cmip5_series() {
        let dir = testdata("series/cmip5-HadGEM2-ES-Amon-tas");
        let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names.len(), 13);
        let mut total = 0;
        for name in &names {
            let (h, bytes) = open(&format!("series/cmip5-HadGEM2-ES-Amon-tas/{name}"));
            assert_eq!(dims_of(&h), [("lat", 2), ("bnds", 2), ("lon", 2), ("time", 0)], "{name}");
            assert_eq!(h.attr("branch_time"), Some(&AttrValue::Double(vec![52560.0])));
            assert_eq!(h.attr("realization"), Some(&AttrValue::Int(vec![1])));
            assert_eq!(h.attr("frequency").unwrap().as_str(), Some("mon"));
            let tas = h.var("tas").unwrap();
            assert_eq!(tas.attr("_FillValue"), Some(&AttrValue::Float(vec![1e20])));
            assert_eq!(h.shape(tas), [h.numrecs, 2, 2]);
            // time double, time_bnds double[2], tas float[2][2]
            assert_eq!(h.record_stride(), 8 + 16 + 16);
            assert_eq!(f64_at(&h, &bytes, "height", 0, 0), 1.5);
            assert_eq!(f64_at(&h, &bytes, "lat", 0, 1), 35.0);
            total += h.numrecs;
        }
        assert_eq!(total, 3530);

        let (h, bytes) = open(&format!("series/cmip5-HadGEM2-ES-Amon-tas/{}", names[0]));
        assert_eq!(h.numrecs, 300);
        assert_eq!(f64_at(&h, &bytes, "time", 0, 0), 52575.0);
        assert_eq!(f64_at(&h, &bytes, "time", 299, 0), 61545.0);
        assert_eq!(f64_at(&h, &bytes, "time_bnds", 299, 1), 61560.0);
        let tas: Vec<f64> = (0..4).map(|k| f64_at(&h, &bytes, "tas", 299, k)).collect();
        let expected = [243.40570068359375, 243.40570068359375, 285.61468505859375, 290.30218505859375];
        assert_eq!(tas, expected);

        let (h, bytes) = open(&format!("series/cmip5-HadGEM2-ES-Amon-tas/{}", names[12]));
        assert_eq!(h.numrecs, 1);
        assert_eq!(f64_at(&h, &bytes, "time", 0, 0), 158415.0);
        assert_eq!(f64_at(&h, &bytes, "tas", 0, 3), 296.5325927734375);
    }

    // ---- robustness ----------------------------------------------------------------------------

    /// Every input an attacker could shape: real headers, synthetic ones, netCDF-C's.
    fn corpus() -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = classic_files().iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(all.len() >= 18, "expected the classic files of ../shared/testdata, found {}", all.len());
        for version in [1, 2, 5] {
            all.push(sample(version, Some(3), 3).bytes);
            all.push(sample(version, None, 2).bytes);
        }
        all.push(from_hex(NETCDF_C_CDF1_ONE_RECORD_VAR));
        all.push(from_hex(NETCDF_C_CDF5));
        all
    }

    /// Everything a caller may do with a parsed header.
    fn exercise(h: &Header, file_len: u64) {
        let _ = h.check_bounds(file_len).map_err(|e| e.to_string());
        let _ = (h.record_stride(), h.record_dim());
        for v in &h.vars {
            let _ = (h.is_record_var(v), h.shape(v), h.data_len(v), v.nc_type.zarr_dtype());
        }
        for a in h.attrs.iter().chain(h.vars.iter().flat_map(|v| &v.attrs)) {
            let _ = (a.value.as_str(), a.value.len(), a.value.nc_type());
        }
    }

    #[test]
    fn every_truncated_header_is_an_error() {
        let check = |file: &[u8]| {
            let len = file.len() as u64;
            let h = parse_header(file, len).unwrap();
            let header_len = usize::try_from(h.header_len).unwrap();
            // the header alone is enough
            assert_eq!(parse_header(&file[..header_len], len).unwrap(), h);
            for cut in 0..header_len {
                match parse_header(&file[..cut], len) {
                    Err(Nc3Error::Truncated { at, .. }) => assert!(at <= cut as u64),
                    other => panic!("header cut to {cut} of {header_len} bytes: {other:?}"),
                }
            }
        };
        // quadratic in the header length (33 KB for ARM), so spread over the cores
        let corpus = corpus();
        std::thread::scope(|s| {
            for file in &corpus {
                s.spawn(|| check(file));
            }
        });
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        const WORDS: [u32; 8] = [0, 1, 4, 0x0a, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut rejected) = (0, 0);
        for file in corpus() {
            let len = file.len() as u64;
            let header_len = parse_header(&file, len).unwrap().header_len as usize;
            for _ in 0..400 {
                let mut bytes = file[..header_len].to_vec();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    match rng.below(3) {
                        0 => bytes[i] = rng.next() as u8,
                        1 => bytes[i] ^= 1 << rng.below(8),
                        _ => {
                            // counts, lengths, tags and offsets are big-endian words on 4-byte boundaries
                            let word = (i / 4 * 4).min(bytes.len().saturating_sub(4));
                            let value = WORDS[rng.below(WORDS.len())].to_be_bytes();
                            bytes[word..word + 4].copy_from_slice(&value);
                        }
                    }
                }
                let file_len = match rng.below(4) {
                    0 => rng.next(),
                    1 => rng.next() % (2 * len),
                    _ => len,
                };
                match parse_header(&bytes, file_len) {
                    Ok(h) => {
                        accepted += 1;
                        assert!(h.header_len <= bytes.len() as u64);
                        exercise(&h, file_len);
                    }
                    Err(e) => {
                        rejected += 1;
                        let _ = e.to_string();
                    }
                }
            }
        }
        assert!(accepted > 0 && rejected > 0, "accepted {accepted}, rejected {rejected}");
    }

    #[test]
    fn random_bytes_after_the_magic_never_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for i in 0..3000 {
            let version = [1, 2, 5][i % 3];
            let mut bytes = vec![b'C', b'D', b'F', version];
            // mostly small values so that counts often fit and parsing gets deep
            bytes.extend((0..rng.below(200)).map(|_| match rng.below(4) {
                0 => rng.next() as u8,
                _ => rng.below(16) as u8,
            }));
            if let Ok(h) = parse_header(&bytes, rng.next() % 4096) {
                exercise(&h, bytes.len() as u64);
            }
        }
    }
}
