"""Generated protobuf and gRPC code for package tracesvc.v1 (see scripts/gen_protos.py). Do not edit."""
