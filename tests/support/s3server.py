#!/usr/bin/env python3
"""A real S3 protocol server for the tests: moto's server (moto[server]) on a
free loopback port, in its own process. Prints 'PORT <n>' once it answers, then
stays in the foreground until killed (the caller owns the process).

  s3server.py [--port N] [--buckets a,b]
"""
import argparse, socket, subprocess, sys, time, os, signal

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=0)
p.add_argument("--buckets", default="")
p.add_argument("--auth", action="store_true",
               help="enforce credentials: make an IAM user and print 'KEY <id> <secret>' for it")
a = p.parse_args()
port = a.port
if port == 0:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(os.environ)
if a.auth:
    # moto checks signatures once this many requests have been served: the
    # setup below (bucket, user, key, policy) uses them.
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(len(list(filter(None, a.buckets.split(",")))) + 4)
# moto 5.1 checks a signature against the query as the web framework decoded
# it ('prefix=a/'), while a client signs 'prefix=a%2F' (SigV4 encodes '/'),
# so every listing of a prefix is refused once credentials are enforced. The
# server below is moto_server with that one method encoding the query again.
BOOT = '''
import sys
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from moto.iam import access_control as ac
_orig = ac.IAMRequestBase._create_aws_request
def _create_aws_request(self):
    u = urlsplit(self._path)
    if u.query:
        parts = []
        for kv in u.query.split("&"):
            k, _, v = kv.partition("=")
            parts.append(quote(unquote(k), safe="-_.~") + "=" + quote(unquote(v), safe="-_.~"))
        self._path = urlunsplit(("", "", u.path, "&".join(parts), ""))
    return _orig(self)
ac.IAMRequestBase._create_aws_request = _create_aws_request
from moto.server import main
main(sys.argv[1:])
'''
proc = subprocess.Popen([sys.executable, "-c", BOOT, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
signal.signal(signal.SIGTERM, lambda *_: (proc.terminate(), sys.exit(0)))
import boto3  # noqa: E402 (moto brings it)
c = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1")
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
    except OSError:
        if proc.poll() is not None:
            sys.exit("moto_server exited")
        time.sleep(0.05)
for b in filter(None, a.buckets.split(",")):
    c.create_bucket(Bucket=b)
if a.auth:
    import json
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="testing",
                       aws_secret_access_key="testing", region_name="us-east-1")
    iam.create_user(UserName="padocc")
    k = iam.create_access_key(UserName="padocc")["AccessKey"]
    iam.put_user_policy(UserName="padocc", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    print(f"KEY {k['AccessKeyId']} {k['SecretAccessKey']}", flush=True)
print(f"PORT {port}", flush=True)
try:
    proc.wait()
except KeyboardInterrupt:
    proc.terminate()
