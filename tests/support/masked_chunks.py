"""Write an HDF5 (netCDF-4-readable) file whose variable `v` is chunked with
shuffle + deflate, and (with --mask) one chunk stored with both filters skipped
(filter mask 0b11), as HDF5 does when an optional filter did not help.

  masked_chunks.py OUT T0 [--mask]
"""
import sys

import h5py
import numpy as np

out, t0, mask = sys.argv[1], int(sys.argv[2]), "--mask" in sys.argv[3:]
with h5py.File(out, "w") as f:
    time = f.create_dataset("time", data=np.arange(t0, t0 + 4, dtype="f8"), maxshape=(None,))
    time.attrs["units"] = "days since 2000-01-01"
    time.make_scale("time")
    x = f.create_dataset("x", data=np.arange(6, dtype="f8"))
    x.make_scale("x")
    v = f.create_dataset("v", shape=(4, 6), dtype="<f4", chunks=(2, 3), compression="gzip", shuffle=True, maxshape=(None, 6))
    data = np.arange(24, dtype="<f4").reshape(4, 6) + t0 * 10
    v[...] = data
    v.attrs["units"] = "K"
    if mask:
        v.id.write_direct_chunk((2, 3), np.ascontiguousarray(data[2:4, 3:6]).tobytes(), filter_mask=0b11)
    v.dims[0].attach_scale(time)
    v.dims[1].attach_scale(x)
