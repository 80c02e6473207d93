"""Pure business rules that more than one service applies (no I/O, no framework)."""
