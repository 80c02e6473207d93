"""The citizens' data keys (crypto-shredding): the store, its cache, and `jobmatch keys`.

Keys live outside Kafka and outside the views' Redis, so that neither a replay nor a Redis
wipe can bring back a deleted one, and deleting one erases the citizen's personal data in
every record that holds it (see docs/privacy.md).
"""
