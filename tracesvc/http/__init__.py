"""HTTP adapters (NHSA, EPCIS 2.0) beside the gRPC servicers: thin, calling the same use cases."""
