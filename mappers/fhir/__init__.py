"""Store rows to FHIR R4 resources (plain dicts) and FHIR search parameters to typed queries.

- `vocabulary`: resource types, identifier systems and status mappings, shared by all below;
- `rows`: the store's rows as the facade reads them;
- `resources` (with `codes`): Patient, ServiceRequest, ImagingStudy, DiagnosticReport, Device
  and Procedure as plain dicts (no model objects on the response path: orjson writes them in
  about a microsecond); the tests prove each one valid with `fhir.resources.R4B`;
- `audit_event`: AuditEvent from the audit trail;
- `bundle`: the searchset Bundle;
- `search_table`: what each type can be searched, sorted and included by; `search` reads a
  search into a `SearchQuery` by it, and `capability` describes it in the CapabilityStatement.
"""
