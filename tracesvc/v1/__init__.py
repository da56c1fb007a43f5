"""Generated protobuf and gRPC code for package tracesvc.v1 (see tracesvc/protogen.py). Do not edit."""
