"""Foreign documents (NHSA 3501–3506 messages, GS1 EPCIS 2.0) → tracesvc event drafts.

Pure mapping: no SQL, no gRPC. Every row or event of a document ends in exactly one of
`Intake.mapped` (a draft for the Ingestor), `Intake.unmapped` (rejected or skipped, with its
position and reason) or `Intake.evidence` (kept, but no custody change: EPCIS decommissioning
and errorDeclaration retractions).
"""
