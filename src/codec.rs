//! Encoding of the few chunks padocc writes itself (fill chunks, re-encoded
//! coordinates), with the same numcodecs codecs clients will decode them with.

use std::io::Write;

use crate::model::{Codec, CodecParam};

impl Codec {
    pub fn new(id: &'static str) -> Codec {
        Codec { id, params: Vec::new() }
    }
    pub fn with(mut self, key: &'static str, value: i64) -> Codec {
        self.params.push((key, CodecParam::Int(value)));
        self
    }
    pub fn with_str(mut self, key: &'static str, value: &str) -> Codec {
        self.params.push((key, CodecParam::Str(value.to_string())));
        self
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.params.iter().find(|(k, _)| *k == key).and_then(|(_, v)| match v {
            CodecParam::Int(i) => Some(*i),
            CodecParam::Str(_) => None,
        })
    }
    /// Codecs that shrink data (as opposed to reorder it or add a checksum).
    pub fn is_compressor(&self) -> bool {
        matches!(self.id, "zlib" | "zstd" | "blosc" | "gzip")
    }
}

/// Encode `data` through `filters` then `compressor`, as Zarr v2 does.
pub fn encode(data: &[u8], filters: &[Codec], compressor: Option<&Codec>) -> Result<Vec<u8>, String> {
    let mut buf = data.to_vec();
    for c in filters.iter().chain(compressor) {
        buf = encode_one(c, &buf)?;
    }
    Ok(buf)
}

fn encode_one(c: &Codec, data: &[u8]) -> Result<Vec<u8>, String> {
    match c.id {
        "zlib" => {
            let level = c.int("level").unwrap_or(6).clamp(0, 9) as u32;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
            e.write_all(data).map_err(|e| e.to_string())?;
            e.finish().map_err(|e| e.to_string())
        }
        "zstd" => zstd::bulk::compress(data, c.int("level").unwrap_or(3) as i32).map_err(|e| e.to_string()),
        "shuffle" => Ok(shuffle(data, c.int("elementsize").unwrap_or(1).max(1) as usize)),
        "fletcher32" => {
            let mut out = data.to_vec();
            out.extend_from_slice(&fletcher32(data).to_le_bytes());
            Ok(out)
        }
        other => Err(format!("padocc cannot encode with codec '{other}'")),
    }
}

/// Byte shuffle as HDF5 and numcodecs do it; trailing bytes that do not fill an
/// element stay in place.
pub fn shuffle(data: &[u8], elementsize: usize) -> Vec<u8> {
    let n = data.len() / elementsize;
    let mut out = data.to_vec();
    for i in 0..n {
        for b in 0..elementsize {
            out[b * n + i] = data[i * elementsize + b];
        }
    }
    out
}

/// The inverse of `shuffle`.
pub fn unshuffle(data: &[u8], elementsize: usize) -> Vec<u8> {
    let n = data.len() / elementsize;
    let mut out = data.to_vec();
    match elementsize {
        // Fixed element sizes let the compiler keep the planes in registers
        // and vectorise (validation and Zarr conversion unshuffle every chunk).
        4 => unshuffle_fixed::<4>(data, n, &mut out),
        8 => unshuffle_fixed::<8>(data, n, &mut out),
        2 => unshuffle_fixed::<2>(data, n, &mut out),
        _ => {
            for i in 0..n {
                for b in 0..elementsize {
                    out[i * elementsize + b] = data[b * n + i];
                }
            }
        }
    }
    out
}

fn unshuffle_fixed<const E: usize>(data: &[u8], n: usize, out: &mut [u8]) {
    let planes: [&[u8]; E] = std::array::from_fn(|b| &data[b * n..(b + 1) * n]);
    for (i, el) in out[..n * E].chunks_exact_mut(E).enumerate() {
        for b in 0..E {
            el[b] = planes[b][i];
        }
    }
}

/// HDF5's Fletcher-32 (over 16-bit big-endian words, odd trailing byte padded),
/// which numcodecs' `fletcher32` re-implements.
pub fn fletcher32(data: &[u8]) -> u32 {
    let (mut sum1, mut sum2): (u32, u32) = (0, 0);
    let mut words = data.chunks(2);
    let mut remaining = data.len() / 2;
    while remaining > 0 {
        let tlen = remaining.min(360);
        remaining -= tlen;
        for _ in 0..tlen {
            let w = words.next().expect("counted");
            sum1 += (u32::from(w[0]) << 8) | u32::from(w[1]);
            sum2 += sum1;
        }
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    if data.len() % 2 == 1 {
        sum1 += u32::from(data[data.len() - 1]) << 8;
        sum2 += sum1;
        sum1 = (sum1 & 0xffff) + (sum1 >> 16);
        sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
    (sum2 << 16) | sum1
}

/// numcodecs `vlen-utf8`: item count, then each item as length + bytes (all u32 LE).
pub fn encode_vlen_utf8(items: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + items.iter().map(|s| 4 + s.len()).sum::<usize>());
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for s in items {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_groups_bytes_by_significance() {
        assert_eq!(shuffle(&[1, 2, 3, 4, 5, 6], 2), vec![1, 3, 5, 2, 4, 6]);
        assert_eq!(shuffle(&[1, 2, 3], 2), vec![1, 2, 3]);
        assert_eq!(unshuffle(&shuffle(&[1, 2, 3, 4, 5, 6, 7], 3), 3), vec![1, 2, 3, 4, 5, 6, 7]);
        for es in [2usize, 4, 8] {
            let data: Vec<u8> = (0..(es * 37) as u32).map(|x| (x * 7 % 251) as u8).collect();
            assert_eq!(unshuffle(&shuffle(&data, es), es), data, "element size {es}");
        }
    }

    #[test]
    fn zlib_round_trips() {
        let enc = encode(&[7u8; 100], &[], Some(&Codec::new("zlib").with("level", 4))).unwrap();
        let mut d = flate2::read::ZlibDecoder::new(&enc[..]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).unwrap();
        assert_eq!(out, vec![7u8; 100]);
    }

    #[test]
    fn vlen_utf8_layout() {
        let b = encode_vlen_utf8(&["ab".into(), "".into()]);
        assert_eq!(b, vec![2, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]);
    }

    #[test]
    fn unknown_codec_is_an_error() {
        assert!(encode(b"x", &[Codec::new("blosc")], None).is_err());
    }
}
