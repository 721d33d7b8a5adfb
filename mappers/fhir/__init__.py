"""Store rows to FHIR R4 resources (plain dicts) and FHIR search parameters to typed queries.

`resources` builds Patient, ServiceRequest, ImagingStudy, DiagnosticReport, Device and
Procedure as plain dicts (no model objects on the response path: orjson writes them in about a
microsecond); the tests prove each one valid with `fhir.resources.R4B`. `search` reads the
search parameters into a `SearchQuery` and describes them in the CapabilityStatement, from one
table.
"""
