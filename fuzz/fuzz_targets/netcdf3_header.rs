#![no_main]
//! Any byte string given to the netCDF-3 header parser gives Ok or Err, never a
//! panic, an overflow or an unbounded allocation; and a parsed header's size
//! queries and bounds check never panic either.

use libfuzzer_sys::fuzz_target;

#[path = "../../src/source/netcdf3.rs"]
#[allow(dead_code)]
mod netcdf3;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(h) = netcdf3::parse_header(data, len) {
        let _ = h.check_bounds(len);
        let _ = h.record_stride();
        for v in &h.vars {
            let _ = h.shape(v);
            let _ = h.data_len(v);
            let _ = h.is_record_var(v);
        }
    }
});
