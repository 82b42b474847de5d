//! Hyperslab arithmetic shared by the readers and writers of dense arrays.

/// Copy the region [r0, r1) from a buffer of shape `src_shape` placed at
/// `src_origin` into one of shape `dst_shape` placed at `dst_origin`.
#[allow(clippy::too_many_arguments)]
pub fn copy_region(src: &[u8], src_shape: &[u64], src_origin: &[u64], dst: &mut [u8], dst_shape: &[u64], dst_origin: &[u64], r0: &[u64], r1: &[u64], isz: usize) {
    let nd = src_shape.len();
    let last = nd - 1;
    let run = ((r1[last] - r0[last]) as usize) * isz;
    let mut idx = r0.to_vec();
    loop {
        let mut so = 0u64;
        let mut doff = 0u64;
        for d in 0..nd {
            so = so * src_shape[d] + (idx[d] - src_origin[d]);
            doff = doff * dst_shape[d] + (idx[d] - dst_origin[d]);
        }
        let (so, doff) = (so as usize * isz, doff as usize * isz);
        dst[doff..doff + run].copy_from_slice(&src[so..so + run]);
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < r1[d] {
                break;
            }
            idx[d] = r0[d];
        }
    }
}

/// Iterate over every index of the box `[lo, hi]` (inclusive), C order.
pub fn for_each_index(lo: &[u64], hi: &[u64], mut f: impl FnMut(&[u64]) -> crate::error::Result<()>) -> crate::error::Result<()> {
    if lo.iter().zip(hi).any(|(l, h)| l > h) {
        return Ok(());
    }
    let mut cc = lo.to_vec();
    loop {
        f(&cc)?;
        let mut d = cc.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            if cc[d] < hi[d] {
                cc[d] += 1;
                break;
            }
            cc[d] = lo[d];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_intersection_into_place() {
        // src: 2x3 at origin (1, 0); dst: 4x3 at origin (0, 0).
        let src: Vec<u8> = (0..6).collect();
        let mut dst = vec![9u8; 12];
        copy_region(&src, &[2, 3], &[1, 0], &mut dst, &[4, 3], &[0, 0], &[1, 1], &[3, 3], 1);
        assert_eq!(dst, vec![9, 9, 9, 9, 1, 2, 9, 4, 5, 9, 9, 9]);
    }

    #[test]
    fn visits_a_box_in_c_order() {
        let mut seen = vec![];
        for_each_index(&[0, 1], &[1, 2], |i| {
            seen.push(i.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![vec![0, 1], vec![0, 2], vec![1, 1], vec![1, 2]]);
    }
}
