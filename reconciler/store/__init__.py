"""The reconciler's SQL, by aggregate: shard locks (`locks`), what the rules read (`loads`), writing a
batch's flags and chains (`sync`), run records (`runs`), reading findings back (`findings`,
`suspects`) and rule B's per-token input and flags (`buyers`). Every result is a typed row.

Everything a batch touches is keyed by code (or, for rule S, by sale event, for rule B by buyer
token), and a batch holds advisory locks on the shards of those keys only: two runs never work on
the same keys at once, and nothing takes a global lock.
"""
