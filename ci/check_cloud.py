#!/usr/bin/env python3
"""check_refs.py (../shared/tools) for cloud products, with its comparison rules
unchanged: only how the product is opened differs.

  check_cloud.py PRODUCT SOURCES... [check_refs.py options]

PRODUCT is an Icechunk repository (NAME.icechunk, local or s3://bucket/prefix),
opened with Python icechunk (authorizing the virtual chunk containers its config
lists) and read by xarray through session.store; or a Zarr store in an object
store (s3://...), read by xarray through s3fs. S3 settings come from
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
ICECHUNK_SNAPSHOT=<id> reads that snapshot instead of the branch tip.
Runs under /tmp/cloudenv (Python 3.12; scripts/cloudenv.sh).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("PADOCC_SHARED", os.path.join(HERE, "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "tools"))
import check_refs as cr  # noqa: E402
import xarray as xr  # noqa: E402


def s3_parts(path):
    bucket, _, prefix = path[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def icechunk_store(path):
    import icechunk
    if path.startswith("s3://"):
        bucket, prefix = s3_parts(path)
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        storage = icechunk.s3_storage(
            bucket=bucket, prefix=prefix, endpoint_url=endpoint,
            allow_http=bool(endpoint and endpoint.startswith("http://")),
            force_path_style=bool(endpoint), region=os.environ.get("AWS_REGION", "us-east-1"),
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    else:
        storage = icechunk.local_filesystem_storage(os.path.abspath(path))
    config = icechunk.Repository.fetch_config(storage)
    prefixes = list((config.virtual_chunk_containers or {}).keys()) if config else []
    # Local sources: the explicit sentinel (icechunk 2.3 still takes None, deprecated).
    local = icechunk.Credentials.LocalFileSystemAccess
    repo = icechunk.Repository.open(storage, authorize_virtual_chunk_access={
        p: (local() if p.startswith("file:") else None) for p in prefixes})
    snap = os.environ.get("ICECHUNK_SNAPSHOT")
    session = repo.readonly_session(snapshot_id=snap) if snap else repo.readonly_session(branch="main")
    return session.store


_open = cr.open_product


def open_product(path, kind, method, group, raw, no_mask, remote_protocol):
    kw = cr._cf_kwargs(raw, no_mask)
    group = (group or "").strip("/") or None
    if path.rstrip("/").endswith(".icechunk"):
        return xr.open_dataset(icechunk_store(path), engine="zarr", group=group, chunks=None,
                               consolidated=False, zarr_format=3, **kw)
    if path.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        so = {"key": os.environ.get("AWS_ACCESS_KEY_ID"), "secret": os.environ.get("AWS_SECRET_ACCESS_KEY")}
        if endpoint:
            so["endpoint_url"] = endpoint
        return xr.open_dataset(path, engine="zarr", group=group, chunks=None, storage_options=so, **kw)
    return _open(path, kind, method, group, raw, no_mask, remote_protocol)


cr.open_product = open_product
_detect = cr.detect_kind
cr.detect_kind = lambda p: "zarr" if (p.startswith("s3://") or p.rstrip("/").endswith(".icechunk")) else _detect(p)

if __name__ == "__main__":
    sys.exit(cr.main())
