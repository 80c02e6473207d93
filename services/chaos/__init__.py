"""Chaos drills: drive commands and queries against a running stack, SIGKILL its processes
(and wipe Redis once) at random moments, then reconcile the whole log against what the
commands were told, what the views show and what the matching worker holds.

- `workload`: the load generator (asyncio + httpx) and its model of what it was told;
- `launch`: the stack under test, started in-process (the harness restarts what it kills)
  or as `jobmatch up` (its supervisor must restart what is killed);
- `faults`: the kill schedule and the injector, which times each recovery;
- `logread`: the whole log, read from offset 0 to the fetch highwater;
- `observe`: what the services show (matching state, views), settling, checksum vs rebuild,
  a fresh replay of the matching worker;
- `reconcile`: the invariants, as pure functions of the above;
- `run`: a drill from start to report; `report`: the report's table and JSON; `cli`:
  `jobmatch chaos`.
"""
