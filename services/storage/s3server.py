"""A small S3-compatible server for Tansu's S3 storage engine, on one folder.

The part of S3 that Tansu (through the Rust `object_store` crate) and ordinary clients use:
ListBuckets, Create/Head/DeleteBucket, ListObjects (v1 and v2: prefix, delimiter, marker,
start-after, continuation-token, max-keys, encoding-type=url), Get/Head/Put/DeleteObject
with If-Match / If-None-Match (Tansu's optimistic writes of its watermarks and groups rely
on them), single ranges, and DeleteObjects. Requests are not authenticated: it listens on
the loopback interface only, for the broker of the same machine.

    python -m services.storage.s3server --root DIR --port PORT [--log-requests]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import json
import logging
import signal
import time
import urllib.parse
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aiohttp import web

from services.storage.index import MAX_KEYS, BadToken, Entry
from services.storage.store import (
    Compactor,
    PreconditionFailed,
    Store,
    StoreError,
)

log = logging.getLogger("s3server")

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
STATUS_BUCKET = "_s3server"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status, self.code, self.message = status, code, message or code


def _iso(epoch: float) -> str:
    # Milliseconds: Tansu orders a partition's batches by LastModified (see Store.put).
    millis = int(epoch * 1000) % 1000
    return time.strftime(f"%Y-%m-%dT%H:%M:%S.{millis:03d}Z", time.gmtime(epoch))


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


def _error(status: int, code: str, message: str, resource: str) -> web.Response:
    body = (
        f"{XML_HEAD}<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


def _xml(body: str) -> web.Response:
    return web.Response(body=(XML_HEAD + body).encode(), content_type="application/xml")


def _object_headers(entry: Entry, etag: str) -> dict[str, str]:
    return {
        "ETag": f'"{etag}"',
        "Last-Modified": _http_date(entry.mtime),
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
    }


def decode_aws_chunked(body: bytes) -> bytes:
    """The payload of an `aws-chunked` body (`SIZE;chunk-signature=...\\r\\nDATA\\r\\n`...),
    as SDKs send for streaming-signed uploads."""
    out = bytearray()
    pos = 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";", 1)[0], 16)
        pos = end + 2
        if size == 0:
            return bytes(out)
        out += body[pos : pos + size]
        pos += size + 2


def _range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive of a single `bytes=` range, None to send the whole object."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    start_text, _, end_text = spec.strip().partition("-")
    if not start_text:
        length = int(end_text)
        return (max(0, size - length), size - 1) if length else None
    start = int(start_text)
    end = int(end_text) if end_text else size - 1
    if start >= size:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    return start, min(end, size - 1)


class S3App:
    def __init__(self, store: Store, request_log: Path | None = None) -> None:
        self.store = store
        self.compactor: Compactor | None = None
        self._log = request_log.open("a", buffering=1) if request_log else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            response = await self._dispatch(request)
        except S3Error as exc:
            response = _error(exc.status, exc.code, exc.message, request.path)
        except StoreError as exc:
            response = _error(exc.status, exc.code, str(exc), request.path)
        except BadToken:
            response = _error(400, "InvalidArgument", "bad continuation token", request.path)
        except (ValueError, ElementTree.ParseError) as exc:
            response = _error(400, "InvalidRequest", str(exc), request.path)
        if self._log is not None:
            self._log.write(
                json.dumps(
                    {
                        "t": round(time.time(), 4),
                        "m": request.method,
                        "p": request.path,
                        "q": dict(request.query),
                        "c": {
                            k: v
                            for k, v in request.headers.items()
                            if k.lower() in ("if-match", "if-none-match", "range")
                        },
                        "s": response.status,
                        "out": response.content_length,
                        "ms": round((time.monotonic() - started) * 1000, 3),
                    }
                )
                + "\n"
            )
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = urllib.parse.unquote(request.raw_path.split("?", 1)[0])
        bucket, _, key = path.lstrip("/").partition("/")
        method = request.method
        if bucket == STATUS_BUCKET:
            return self._status()
        if not bucket:
            if method == "GET":
                return self._list_buckets()
            raise S3Error(405, "MethodNotAllowed")
        if not key:
            return await self._bucket_op(request, method, bucket)
        if "uploads" in request.query or "uploadId" in request.query:
            raise S3Error(501, "NotImplemented", "multipart uploads are not supported")
        if method in ("GET", "HEAD"):
            return self._get(request, bucket, key, head=method == "HEAD")
        if method == "PUT":
            return await self._put(request, bucket, key)
        if method == "DELETE":
            await self.store.delete(bucket, key)
            return web.Response(status=204)
        raise S3Error(405, "MethodNotAllowed")

    def _status(self) -> web.Response:
        """Counts for benches and tests (no S3 bucket name can start with '_')."""
        merges = self.compactor.stats if self.compactor else None
        return web.json_response(
            {
                "objects": {name: len(b.index) for name, b in self.store.buckets.items()},
                "merging": bool(self.compactor and not self.compactor.idle.is_set()),
                "merges": merges.merges if merges else 0,
                "batches_merged": merges.batches_in if merges else 0,
                "bytes_written_by_merges": merges.bytes_written if merges else 0,
            }
        )

    # -- buckets ----------------------------------------------------------------------------

    def _list_buckets(self) -> web.Response:
        items = "".join(
            f"<Bucket><Name>{escape(name)}</Name><CreationDate>{_iso(0)}</CreationDate></Bucket>"
            for name in sorted(self.store.buckets)
        )
        return _xml(
            f'<ListAllMyBucketsResult xmlns="{XMLNS}"><Owner><ID>local</ID></Owner>'
            f"<Buckets>{items}</Buckets></ListAllMyBucketsResult>"
        )

    async def _bucket_op(self, request: web.Request, method: str, name: str) -> web.Response:
        if method == "PUT":
            self.store.create_bucket(name)
            return web.Response(status=200, headers={"Location": f"/{name}"})
        if method == "HEAD":
            self.store.bucket(name)
            return web.Response(status=200)
        if method == "DELETE":
            self.store.delete_bucket(name)
            return web.Response(status=204)
        if method == "POST" and "delete" in request.query:
            return await self._delete_objects(request, name)
        if method == "GET":
            query = request.query
            if "location" in query:
                self.store.bucket(name)
                return _xml(f'<LocationConstraint xmlns="{XMLNS}">us-east-1</LocationConstraint>')
            if query.get("list-type") == "2":
                return self._list(name, query, v2=True)
            return self._list(name, query, v2=False)
        raise S3Error(405, "MethodNotAllowed")

    def _list(self, name: str, query: Any, v2: bool) -> web.Response:
        bucket = self.store.bucket(name)
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        url = query.get("encoding-type") == "url"
        try:
            max_keys = min(int(query.get("max-keys", MAX_KEYS)), MAX_KEYS)
        except ValueError as exc:
            raise S3Error(400, "InvalidArgument", "max-keys is not an integer") from exc
        if max_keys < 0:
            raise S3Error(400, "InvalidArgument", "max-keys is negative")
        token = query.get("continuation-token") if v2 else None
        start_after = query.get("start-after", "") if v2 else query.get("marker", "")
        page = bucket.index.page(prefix, delimiter, start_after, token, max_keys)

        def enc(text: str) -> str:
            return escape(urllib.parse.quote(text, safe="/") if url else text)

        parts = [
            f'<ListBucketResult xmlns="{XMLNS}"><Name>{escape(name)}</Name>',
            f"<Prefix>{enc(prefix)}</Prefix><MaxKeys>{max_keys}</MaxKeys>",
            f"<IsTruncated>{'true' if page.truncated else 'false'}</IsTruncated>",
        ]
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if v2:
            parts.append(f"<KeyCount>{len(page.contents) + len(page.common_prefixes)}</KeyCount>")
            if token is not None:
                parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
            if page.next_token is not None:
                parts.append(f"<NextContinuationToken>{page.next_token}</NextContinuationToken>")
            if start_after:
                parts.append(f"<StartAfter>{enc(start_after)}</StartAfter>")
        else:
            parts.append(f"<Marker>{enc(start_after)}</Marker>")
            if page.truncated:
                last = max(
                    [key for key, _ in page.contents[-1:]] + page.common_prefixes[-1:], default=""
                )
                parts.append(f"<NextMarker>{enc(last)}</NextMarker>")
        parts.extend(
            f"<Contents><Key>{enc(key)}</Key><LastModified>{_iso(entry.mtime)}</LastModified>"
            f'<ETag>"{self.store.etag(bucket, key, entry)}"</ETag><Size>{entry.size}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for key, entry in page.contents
        )
        parts.extend(
            f"<CommonPrefixes><Prefix>{enc(common)}</Prefix></CommonPrefixes>"
            for common in page.common_prefixes
        )
        parts.append("</ListBucketResult>")
        return _xml("".join(parts))

    async def _delete_objects(self, request: web.Request, name: str) -> web.Response:
        self.store.bucket(name)
        tree = ElementTree.fromstring(await self._body(request))
        quiet = False
        keys: list[str] = []
        for element in tree.iter():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "Quiet":
                quiet = (element.text or "").strip().lower() == "true"
            elif tag == "Key":
                keys.append(element.text or "")
        deleted = []
        for key in keys:
            await self.store.delete(name, key)
            if not quiet:
                deleted.append(f"<Deleted><Key>{escape(key)}</Key></Deleted>")
        return _xml(f'<DeleteResult xmlns="{XMLNS}">{"".join(deleted)}</DeleteResult>')

    # -- objects ----------------------------------------------------------------------------

    def _get(self, request: web.Request, bucket: str, key: str, head: bool) -> web.Response:
        if head:
            entry, etag = self.store.head(bucket, key)
            data = b""
        else:
            entry, etag, data = self.store.get(bucket, key)
        headers = _object_headers(entry, etag)
        if_match = request.headers.get("If-Match")
        if if_match is not None and not _matches(etag, if_match):
            raise PreconditionFailed(key)
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and _matches(etag, if_none_match):
            return web.Response(status=304, headers=headers)
        wanted = request.headers.get("Range")
        span = _range(wanted, entry.size) if wanted else None
        if head:
            headers["Content-Length"] = str(entry.size)
            return web.Response(status=200, headers=headers)
        if span is not None:
            first, last = span
            headers["Content-Range"] = f"bytes {first}-{last}/{entry.size}"
            return web.Response(status=206, body=data[first : last + 1], headers=headers)
        return web.Response(status=200, body=data, headers=headers)

    async def _body(self, request: web.Request) -> bytes:
        data = await request.read()
        encoding = request.headers.get("Content-Encoding", "")
        signed = request.headers.get("x-amz-content-sha256", "")
        if "aws-chunked" in encoding or signed.startswith("STREAMING-"):
            data = decode_aws_chunked(data)
        return data

    async def _put(self, request: web.Request, bucket: str, key: str) -> web.Response:
        if "x-amz-copy-source" in request.headers:
            raise S3Error(501, "NotImplemented", "CopyObject is not supported")
        data = await self._body(request)
        entry = await self.store.put(
            bucket,
            key,
            data,
            if_match=request.headers.get("If-Match"),
            if_none_match=request.headers.get("If-None-Match"),
        )
        return web.Response(status=200, headers={"ETag": f'"{entry.etag}"'})


def _matches(etag: str, header: str) -> bool:
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return "*" in wanted or etag in wanted


def make_app(
    store: Store, request_log: Path | None = None, compactor: Compactor | None = None
) -> web.Application:
    s3 = S3App(store, request_log)
    s3.compactor = compactor
    # Tansu's batches are small, but a merged segment or a client upload may not be.
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", s3.handle)
    return app


async def serve(
    root: Path,
    host: str,
    port: int,
    *,
    buckets: list[str],
    compact: bool = True,
    segment_bytes: int = 4 << 20,
    fanout: int = 16,
    keep_tail: int = 16,
    merge_delay: float = 0.5,
    request_log: Path | None = None,
) -> None:
    store = Store(root)
    started = time.monotonic()
    store.load()
    for name in buckets:
        store.create_bucket(name)
    compactor = None
    if compact:
        compactor = Compactor(
            store,
            segment_bytes=segment_bytes,
            fanout=fanout,
            keep_tail=keep_tail,
            delay=merge_delay,
        )
    app = make_app(store, request_log, compactor)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    log.info(
        "s3server on http://%s:%d serving %s: %d objects in %.2fs",
        host,
        port,
        root,
        sum(len(b.index) for b in store.buckets.values()),
        time.monotonic() - started,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = None
    if compactor is not None:
        compactor.touch_all()
        task = asyncio.create_task(compactor.run())
    await stop.wait()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, required=True, help="folder holding the buckets")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append", default=[], help="create if missing")
    parser.add_argument("--no-compact", action="store_true", help="never merge batches")
    parser.add_argument("--segment-bytes", type=int, default=4 << 20, help="merge up to this")
    parser.add_argument("--fanout", type=int, default=16, help="objects merged at a time")
    parser.add_argument("--keep-tail", type=int, default=16, help="newest batches left as is")
    parser.add_argument("--merge-delay", type=float, default=0.5, help="seconds to gather work")
    parser.add_argument("--log-requests", type=Path, help="append one JSON line per request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    run(
        serve(
            args.root,
            args.host,
            args.port,
            buckets=args.bucket,
            compact=not args.no_compact,
            segment_bytes=args.segment_bytes,
            fanout=args.fanout,
            keep_tail=args.keep_tail,
            merge_delay=args.merge_delay,
            request_log=args.log_requests,
        )
    )


if __name__ == "__main__":
    main()
