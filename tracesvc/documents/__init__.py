"""Documents a person reads: the evidence report, case file rendering, CSV/XLSX exports and the
one CJK font they embed. Built from the wire contract and the shared read model, never from SQL."""
