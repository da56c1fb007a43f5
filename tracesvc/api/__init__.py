"""gRPC servicers: proto <-> domain, status codes, interceptors. Thin by design."""
