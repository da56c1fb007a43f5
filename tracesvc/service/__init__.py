"""Use cases as plain async services: ingestion, verification, enforcement reads and evidence,
reconciliation run control, and the access rules they apply. No gRPC here: the servicers in
`tracesvc.api` convert the wire to these calls and back, and map `service.errors` to statuses."""
