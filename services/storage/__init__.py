"""Durable storage for the embedded broker: Tansu's S3 engine on a local S3 server.

`start_durable_broker` is what the stack calls; `s3server` is the server, `store` its disk
layout and crash safety, `batches` the merging that keeps Tansu's fetches short.
"""
