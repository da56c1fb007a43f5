"""tracesvc: drug traceability-code reconciliation service."""

import os

# The embedded PostgreSQL is driven through subprocesses; gRPC's fork handlers only
# warn about them ("Other threads are currently calling into gRPC").
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

__version__ = "0.1.0"
