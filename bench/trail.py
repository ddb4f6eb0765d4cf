"""Benchmark: the organization trail reader over gzipped CloudTrail log files in a moto server.

    scripts/with-services .venv/bin/python bench/trail.py [--files 8] [--records 30000]

A moto server (its own process) holds a bucket of realistic log files — records as AWS
writes them, 2 % security-group events among DescribeInstances, AssumeRole, GetObject and
the like, 1-5 MB gzipped — and a queue with one CloudTrail SNS notice per file. In a fresh
process per run, the reader (ingestion.trail: assume the read role, long-poll, stream and
scan each file, upsert into PostgreSQL, delete the notice) drains the queue; then, in the
same process, the same files are read from S3 again by two baselines: decompress only, and
decompress + json-parse the whole file (orjson). Three runs: F/4 files, F files, and F/4
files twice the size, each its own process, so peak memory (ru_maxrss, taken right after the
reader, before the baselines) shows whether it grows with file count or size.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
FIXTURES = ROOT / "tests" / "fixtures" / "cloudtrail"
REGION = "us-east-1"
ROLE = "arn:aws:iam::333333333333:role/SgPortalTrailRead"
ACCOUNTS = [f"{100000000000 + i * 1111:012d}" for i in range(20)]
SG_SHARE = 0.02


def _other_templates() -> list[str]:
    """Non-security-group records, as AWS writes them (eventVersion first)."""
    base = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEID:i-0abc",
            "arn": "arn:aws:sts::@ACCOUNT@:assumed-role/app-role/i-0abc1234",
            "accountId": "@ACCOUNT@",
            "accessKeyId": "ASIAEXAMPLE@N@",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEID",
                    "arn": "arn:aws:iam::@ACCOUNT@:role/app-role",
                    "accountId": "@ACCOUNT@",
                    "userName": "app-role",
                },
                "attributes": {"creationDate": "@TIME@", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": "@TIME@",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.@IP@",
        "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux api/@API@",
        "requestID": "@REQ@",
        "eventID": "@EVENTID@",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "@ACCOUNT@",
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "ec2.us-east-1.amazonaws.com",
        },
    }
    calls = [
        ("ec2.amazonaws.com", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
        ("ec2.amazonaws.com", "DescribeSecurityGroups", {"securityGroupSet": {}}),
        ("sts.amazonaws.com", "AssumeRole", {"roleArn": "arn:aws:iam::@ACCOUNT@:role/x"}),
        ("s3.amazonaws.com", "GetBucketAcl", {"bucketName": "logs-@N@", "acl": ""}),
        ("logs.amazonaws.com", "CreateLogStream", {"logGroupName": "/app/@N@"}),
        ("kms.amazonaws.com", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
    ]
    out = []
    for source, name, params in calls:
        record = {**base, "eventSource": source, "eventName": name}
        record["requestParameters"] = params
        record["responseElements"] = None
        out.append(json.dumps(record, separators=(",", ":")))
    return out


def _sg_templates() -> list[str]:
    out = []
    for path in sorted(FIXTURES.glob("0*.json")):
        record = json.loads(path.read_text())
        version = record.pop("eventVersion", "1.09")
        record = {"eventVersion": version, **record}
        record["eventID"] = "@EVENTID@"
        record["eventTime"] = "@TIME@"
        record["recipientAccountId"] = "@ACCOUNT@"
        out.append(json.dumps(record, separators=(",", ":")))
    return out


def make_file(rng: random.Random, n: int, file_no: int) -> tuple[bytes, int]:
    """A gzipped log file of n records; returns it and how many are security-group events."""
    others, sgs = _other_templates(), _sg_templates()
    parts, sg = [], 0
    for i in range(n):
        is_sg = rng.random() < SG_SHARE
        sg += is_sg
        text = rng.choice(sgs if is_sg else others)
        seconds = (file_no * n + i) // 10
        parts.append(
            text.replace("@EVENTID@", f"{file_no:04x}{i:04x}-{rng.getrandbits(64):016x}")
            .replace("@REQ@", f"{rng.getrandbits(128):032x}")
            .replace("@ACCOUNT@", ACCOUNTS[i % len(ACCOUNTS)])
            .replace("@N@", str(rng.randrange(10_000)))
            .replace("@IP@", str(rng.randrange(1, 255)))
            .replace("@API@", rng.choice(["ec2#1.160.0", "sts#1.30.3", "s3#1.58.2"]))
            .replace(
                "@TIME@",
                f"2026-09-14T{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:"
                f"{seconds % 60:02d}Z",
            )
        )
    text = '{"Records":[' + ",".join(parts) + "]}"
    return gzip.compress(text.encode(), compresslevel=6), sg


def prepare(endpoint: str, run: str, files: int, records: int) -> dict:
    """Bucket, queue and files of one run in the moto server; one notice per file."""
    import boto3

    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=ROLE, RoleSessionName="bench-setup", ExternalId="bench-external-id"
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    s3, sqs = session.client("s3"), session.client("sqs")
    bucket = f"bench-trail-{run}"
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=f"bench-trail-{run}")["QueueUrl"]
    rng = random.Random(7 + files * records)
    sizes, sg_total = [], 0
    for f in range(files):
        body, sg = make_file(rng, records, f)
        sizes.append(len(body))
        sg_total += sg
        key = (
            f"AWSLogs/o-a1b2c3d4e5/{ACCOUNTS[f % 20]}/CloudTrail/{REGION}/2026/09/14/"
            f"{ACCOUNTS[f % 20]}_CloudTrail_{REGION}_20260914T{f // 60 % 24:02d}{f % 60:02d}Z_"
            f"{run}{f:04d}.json.gz"
        )
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        sqs.send_message(
            QueueUrl=queue_url, MessageBody=json.dumps({"s3Bucket": bucket, "s3ObjectKey": [key]})
        )
    return {
        "bucket": bucket,
        "queue_url": queue_url,
        "files": files,
        "records": records,
        "sg_events": sg_total,
        "mean_gz_mb": sum(sizes) / len(sizes) / 1e6,
    }


@contextlib.contextmanager
def moto_process():
    """``python -m moto.server`` in its own process (not sharing this one's GIL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: after fork + exec that
    keeps the parent's peak, and the parent made the files."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(spec: dict) -> dict:
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
    settings.SGPORTAL_TRAIL_WAIT_S = 0
    import orjson

    from ingestion.models import SecurityGroupChange, TrailSource
    from ingestion.trail import gunzipped, reader_for, scan_fast
    from sgportal.models import Tenant

    tenant = Tenant.objects.create(slug=f"bench-{spec['bucket']}", name=spec["bucket"])
    Tenant.objects.filter(pk=tenant.pk).update(external_id=f"bench-ext-{spec['bucket']}")
    tenant.refresh_from_db()
    TrailSource.objects.create(
        tenant=tenant,
        enabled=True,
        queue_url=spec["queue_url"],
        region=REGION,
        read_role_arn=ROLE,
        bucket=spec["bucket"],
    )
    # Celery loads its modules on the first publish (once per process, half a second):
    # warm it up, as a running worker is.
    from sgportal.celery import app

    app.loader.import_default_modules()
    # Setting up (assume the role, make the S3 and SQS clients) is timed apart: it is once
    # per read of a queue, not per file.
    t0 = time.perf_counter()
    reader = reader_for(tenant)
    setup_s = time.perf_counter() - t0
    profile = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    started = time.perf_counter()
    cpu0 = time.process_time()
    totals = reader.run(once=True)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    if profile:
        import pstats

        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    peak_mb = _peak_rss_mb()
    stored = SecurityGroupChange.objects.filter(tenant=tenant).count()

    keys = [o["Key"] for o in reader.s3.list_objects_v2(Bucket=spec["bucket"])["Contents"]]

    def timed(work) -> float:
        t0 = time.perf_counter()
        for key in keys:
            body = reader.s3.get_object(Bucket=spec["bucket"], Key=key)["Body"]
            work(gunzipped(body.read))
        return time.perf_counter() - t0

    # Each measured three times, alternating, keeping the best (a shared machine is noisy).
    decompress_s = parse_s = scan_s = float("inf")
    for _ in range(3):
        decompress_s = min(decompress_s, timed(lambda chunks: sum(len(c) for c in chunks)))
        scan_s = min(scan_s, timed(scan_fast))
        parse_s = min(parse_s, timed(lambda chunks: orjson.loads(b"".join(chunks))))
    # The CPU work alone (no S3 round trip): scan vs decompress, files in memory.
    blobs = [reader.s3.get_object(Bucket=spec["bucket"], Key=k)["Body"].read() for k in keys]

    def in_memory(work) -> float:
        t0 = time.perf_counter()
        for blob in blobs:
            stream = iter([blob])
            work(gunzipped(lambda _n, s=stream: next(s, b"")))
        return time.perf_counter() - t0

    mem_decompress_s = in_memory(lambda chunks: sum(len(c) for c in chunks))
    mem_scan_s = in_memory(scan_fast)
    return {
        **spec,
        "seconds": elapsed,
        "setup_s": setup_s,
        "cpu_s": cpu,
        "files_read": totals.files_read,
        "records_scanned": totals.records,
        "events": totals.events,
        "new": totals.new,
        "stored": stored,
        "dead_letters": totals.dead_letters,
        "peak_rss_mb": peak_mb,
        "decompress_s": decompress_s,
        "parse_s": parse_s,
        "scan_s": scan_s,
        "mem_decompress_s": mem_decompress_s,
        "mem_scan_s": mem_scan_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="files in the large run")
    parser.add_argument("--records", type=int, default=30_000, help="records per file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0

    from scratch import scratch_database

    runs = [
        ("small", max(1, args.files // 4), args.records),
        ("large", args.files, args.records),
        ("bigfiles", max(1, args.files // 4), args.records * 2),
    ]
    results = []
    with scratch_database("bench/trail.py") as scratch_url, moto_process() as endpoint:
        env = {
            **os.environ,
            "DATABASE_URL": scratch_url,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
        }
        os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")})
        os.environ.update({"AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
        for run, files, records in runs:
            t0 = time.perf_counter()
            spec = prepare(endpoint, run, files, records)
            print(
                f"{run}: {files} files x {records} records made and uploaded in "
                f"{time.perf_counter() - t0:.1f}s",
                file=sys.stderr,
            )
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(spec)],
                env=env,
                check=False,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if out.returncode or os.environ.get("BENCH_PROFILE"):
                print(out.stderr, file=sys.stderr)
            if out.returncode:
                return out.returncode
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print("trail benchmark: notices from SQS, gzipped log files from S3 (moto server, its own")
    print(f"process), {SG_SHARE:.0%} security-group events, upsert into PostgreSQL")
    print(
        f"{'run':>8} {'files':>5} {'gz MB':>6} {'records':>8} {'SG ev':>6} {'s':>6} "
        f"{'files/s':>7} {'records/s':>10} {'events/s':>8} {'vs gunzip':>9} {'vs parse':>8} "
        f"{'peak MB':>8}"
    )
    for r in results:
        assert r["stored"] == r["new"] == r["events"] == r["sg_events"], r
        assert r["files_read"] == r["files"] and r["dead_letters"] == 0, r
        records = r["records_scanned"]
        print(
            f"{r['bucket'][12:]:>8} {r['files']:>5} {r['mean_gz_mb']:>6.2f} {records:>8} "
            f"{r['events']:>6} {r['seconds']:>6.2f} {r['files'] / r['seconds']:>7.2f} "
            f"{records / r['seconds']:>10.0f} {r['events'] / r['seconds']:>8.0f} "
            f"{r['decompress_s'] / r['seconds']:>9.0%} {r['parse_s'] / r['seconds']:>8.0%} "
            f"{r['peak_rss_mb']:>8.1f}"
        )
    print("vs gunzip: reader speed as a share of reading + decompressing the same files alone")
    print("vs parse: reader speed as a share of reading + decompressing + orjson-parsing them")
    print("(the reader also upserts into PostgreSQL and talks to SQS; the scan alone below)")
    for r in results:
        print(
            f"{r['bucket'][12:]}: scan from S3 (no database): "
            f"{r['records_scanned'] / r['scan_s']:.0f} records/s = "
            f"{r['decompress_s'] / r['scan_s']:.0%} of reading + decompressing alone, "
            f"{r['parse_s'] / r['scan_s']:.0%} of reading + decompressing + parsing"
        )
    for r in results:
        scan_rate = r["records_scanned"] / r["mem_scan_s"]
        share = r["mem_decompress_s"] / r["mem_scan_s"]
        cpu_us = 1e6 * r["cpu_s"] / r["records_scanned"]
        print(
            f"{r['bucket'][12:]}: in memory (no S3): scan {scan_rate:.0f} records/s = "
            f"{share:.0%} of decompress-only; reader CPU {cpu_us:.1f} us/record"
        )
    small, large, big = results
    print(
        f"peak memory: {large['files'] / small['files']:.0f}x the files "
        f"{large['peak_rss_mb'] - small['peak_rss_mb']:+.1f} MB; 2x the file size "
        f"{big['peak_rss_mb'] - small['peak_rss_mb']:+.1f} MB"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
