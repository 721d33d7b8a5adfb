"""ORU^R01 radiology reports map to one ReportIssued per OBR group, field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mappers.errors import ErrorCode, InvalidValue, MissingField
from mappers.events import PatientId, PersonName, Provider, ReportIssued, ReportStatus
from mappers.hl7v2.charset import decode_message
from mappers.hl7v2.results import map_oru
from mappers.hl7v2.rules import MappingRules
from tests.mappers.samples import FIXTURES, RULES, assert_same_events, at, map_text, read_sample


def _map(text: str, rules: MappingRules = RULES) -> list | None:
    return map_text(map_oru, text, rules)


def _map_file(name: str) -> list | None:
    return _map(read_sample(name))


_at = at


GH = "GENERAL_HOSP"
P, F, C = ReportStatus.PRELIMINARY, ReportStatus.FINAL, ReportStatus.CORRECTED


def _dr(ident: str, family: str, given: str, middle: str = "", prefix: str = "DR") -> Provider:
    return Provider(ident, PersonName(family=family, given=given, middle=middle, prefix=prefix))


def _lines(*lines: str) -> str:
    return "\n".join(lines)


LIFECYCLE_FINAL = _lines(
    "FINAL REPORT",
    "EXAMINATION: CT CHEST WITHOUT CONTRAST",
    "",
    "CLINICAL HISTORY: Chest pain and dyspnea. Rule out pneumothorax.",
    "",
    "TECHNIQUE: Axial CT images of the chest were obtained without intravenous contrast.",
    "Multiplanar reformats were reviewed.",
    "",
    "COMPARISON: Chest radiograph 2026-03-01.",
    "",
    "FINDINGS:",
    "Lungs: Mild dependent atelectasis at both bases. No consolidation.",
    "No suspicious pulmonary nodule or mass.",
    "Pleura: No pneumothorax. Trace right pleural effusion.",
    "Mediastinum: Heart size is normal. No pericardial effusion.",
    "No mediastinal or hilar lymphadenopathy by size criteria.",
    "Airways: The trachea and central bronchi are patent.",
    "Upper abdomen: Unremarkable within the limits of a non-contrast study.",
    "Bones: Degenerative change of the thoracic spine. No acute fracture.",
    "",
    "IMPRESSION:",
    "1. No pneumothorax.",
    "2. Trace right pleural effusion and mild bibasilar atelectasis.",
    "",
    "Electronically signed by Lily Chen, MD on 2026-03-02 09:40.",
)

# Expected reports read off each sample by hand.
CASES: dict[str, list[ReportIssued]] = {
    "oru_r01_v231_final_ct.hl7": [
        ReportIssued(
            accession="ACC240317011",
            status=F,
            text=_lines(
                "No acute intra-abdominal process.",
                "Liver, spleen, pancreas and adrenal glands are unremarkable.",
                "Simple 1.2 cm cyst in the upper pole of the left kidney.",
                "No free fluid. No lymphadenopathy.",
                "Electronically signed by Lily Chen, MD on 03/17/2024 11:15.",
            ),
            radiologist=_dr("445566", "CHEN", "LILY"),
            result_at=_at("202403171122"),  # OBR-22 wins over OBX-14 11:15
            patient=PatientId("GH0066231", GH),
        )
    ],
    "oru_r01_v25_prelim_ct_tx.hl7": [
        ReportIssued(
            accession="ACC240501111",
            status=P,
            text=_lines(
                "PRELIMINARY REPORT - NOT FOR CLINICAL DECISION MAKING UNTIL FINALIZED",
                "",
                "EXAM: CT head without contrast.",
                "HISTORY: Fall from standing, headache.",
                "",
                "FINDINGS: No acute intracranial hemorrhage, mass effect or midline shift.",
                "The ventricles and sulci are age appropriate. No calvarial fracture.",
                "",
                "IMPRESSION: No acute intracranial abnormality.",
            ),
            radiologist=_dr("556677", "NOVAK", "PETRA", "M"),
            result_at=_at("202405010315"),
            patient=PatientId("GH0138220", GH),
        )
    ],
    "oru_r01_v251_final_mr_ft.hl7": [
        ReportIssued(
            accession="ACC240502112",
            status=F,
            # One FT value: \.br\ breaks lines, \H\ \N\ highlighting is dropped.
            text=_lines(
                "EXAMINATION: MRI BRAIN WITHOUT CONTRAST",
                "",
                "CLINICAL INDICATION: Follow-up of small vessel ischemic change. Dizziness.",
                "",
                "TECHNIQUE: Multiplanar multisequence MR imaging of the brain without contrast"
                " at 3 T.",
                "",
                "COMPARISON: MRI brain 2023-04-18.",
                "",
                "FINDINGS:",
                "No restricted diffusion to suggest acute infarction.",
                "Scattered T2/FLAIR hyperintensities in the periventricular white matter,"
                " unchanged.",
                "No intracranial hemorrhage on susceptibility-weighted images.",
                "Ventricles and sulci are proportionate. No hydrocephalus.",
                "No extra-axial collection. Normal flow voids in the major intracranial vessels.",
                "The pituitary gland, orbits and cerebellopontine angles are unremarkable.",
                "Mild mucosal thickening in the left maxillary sinus.",
                "",
                "IMPRESSION:",
                "1. No acute intracranial abnormality.",
                "2. Stable mild chronic small vessel ischemic change.",
                "",
                "Electronically signed by Svetlana Ivanova, MD.",
            ),
            radiologist=_dr("1548392210", "IVANOVA", "SVETLANA", "P"),
            result_at=_at("202405021445"),  # 09:45-0500
            patient=PatientId("GH0077125", GH),
        )
    ],
    "oru_r01_v24_corrected_xr.hl7": [
        ReportIssued(
            accession="ACC240503113",
            status=C,
            text=_lines(
                "CORRECTED REPORT: laterality corrected in findings.",
                "FINDINGS: Patchy opacity in the left lower lobe.",
                "No pleural effusion or pneumothorax. Heart size normal.",
                "IMPRESSION: Left lower lobe pneumonia.",
            ),
            radiologist=_dr("778899", "ABERNATHY", "JAMES", "R"),  # OBX-16: OBR-32 empty
            result_at=_at("202405031610"),
            patient=PatientId("GH0103378", GH),
        )
    ],
    "oru_r01_v23_final_us_meditech.hl7": [
        ReportIssued(
            accession="ACC240504114",
            status=F,
            text=_lines(
                "RENAL ULTRASOUND",
                "Right kidney measures 10.8 cm. Left kidney measures 11.2 cm.",
                "No hydronephrosis, stones or masses.",
                "Bladder is unremarkable.",
                "IMPRESSION: Normal renal ultrasound.",
            ),
            radiologist=_dr("7721", "HOLLOWAY", "GRACE"),
            result_at=_at("202405041128"),  # OBX-14: OBR-22 is empty
            patient=PatientId("M000200345", GH),
        )
    ],
    "oru_r01_v26_final_utf8_mr.hl7": [
        ReportIssued(
            accession="ACC240505115",
            status=F,
            text=_lines(
                "Befund: MRT des Schädels nativ.",
                "Keine Diffusionsstörung. Keine intrakranielle Blutung.",
                "Ventrikelsystem normal weit, Mittellinie nicht verlagert.",
                "Beurteilung: Kein Nachweis einer Raumforderung. Größe der Hypophyse regelrecht.",
                "Dr. med. Jürgen Weiß, Facharzt für Radiologie",
            ),
            radiologist=_dr("204477", "Weiß", "Jürgen", prefix="Dr."),
            result_at=_at("202405051415"),
            patient=PatientId("KN00451277", "KLINIKUM_NORD"),
        )
    ],
    "oru_r01_v231_final_latin1_xr.hl7": [
        ReportIssued(
            accession="ACC240506116",
            status=F,
            text=_lines(
                "Røntgen af højre knæ, 3 projektioner.",
                "Ingen tegn på fraktur eller luksation.",
                "Let nedsat ledspalte medialt, forenelig med begyndende artrose.",
                "Konklusion: Ingen akutte forandringer.",
            ),
            radiologist=_dr("667790", "BRØNDUM", "KÅRE"),
            result_at=_at("202405060930"),
            patient=PatientId("GH0120551", GH),
        )
    ],
    "oru_r01_v25_two_obr_ct.hl7": [
        ReportIssued(
            accession="ACC240507117",
            status=F,
            text=_lines(
                "CT CHEST: No pulmonary embolism. No suspicious pulmonary nodule.",
                "Mild centrilobular emphysema.",
            ),
            radiologist=_dr("445566", "CHEN", "LILY"),
            result_at=_at("202405071200"),
            patient=PatientId("GH0138555", GH),
        ),
        ReportIssued(
            accession="ACC240507118",
            status=F,
            text=_lines(
                "CT ABDOMEN AND PELVIS: No acute abnormality.",
                "Sigmoid diverticulosis without diverticulitis.",
            ),
            radiologist=_dr("445566", "CHEN", "LILY"),
            result_at=_at("202405071201"),
            patient=PatientId("GH0138555", GH),
        ),
    ],
    "oru_r01_v251_final_escapes_pt.hl7": [
        ReportIssued(
            accession="ACC240508119",
            status=F,
            text=_lines(
                "PET/CT SKULL BASE TO MID-THIGH",  # ST
                "",
                "CLINICAL: Restaging of non-small cell lung cancer & follow-up after"
                " chemoradiation.",
                "COMPARISON: PET/CT 2023-11-02 (outside study, imported via the PACS|RIS bridge).",
                "TECHNIQUE: 10.2 mCi F-18 FDG IV, uptake 62 min, blood glucose 98 mg/dL.",
                "Images archived under \\\\pet01\\studies\\2024.",
                "",
                # One OBX-5 with four repetitions: four lines.
                "FINDINGS:",
                "Head and neck: No hypermetabolic cervical lymph nodes.",
                "Chest: Post-radiation change in the right upper lobe, SUV max 2.1 (was 9.8).",
                "Right hilar node 9 mm, SUV max 4.2 (was 11.5).",
                "No new pulmonary nodules.",
                # The NM observation (SUV 4.2) is no text.
                "Abdomen and pelvis: Physiologic activity in the bowel and urinary tract.",
                "No hypermetabolic hepatic or adrenal lesion.",
                "Bones: No hypermetabolic osseous lesion.",
                "",
                "IMPRESSION:",
                "Partial metabolic response",  # CE: its text
                "1. Marked decrease in activity of the right upper lobe primary ^ right hilar"
                " node.",
                "2. No new hypermetabolic disease.",
                "3. Deauville-like 5-point score not applicable; PERCIST: partial response.",
                "",
                "Critical result: none.",  # trailing spaces dropped
                "Discussed with Dr Rossi & the thoracic oncology team on 2024-05-08.",
                "Electronically signed by Erik J Lindgren, MD.",
            ),
            radiologist=_dr("610099", "LINDGREN", "ERIK", "J"),
            result_at=_at("202405081535"),
            patient=PatientId("GH0138777", GH),
        )
    ],
    "oru_r01_v24_prelim_mg_birads.hl7": [
        ReportIssued(
            accession="ACC240509120",
            status=P,
            text=_lines(
                "Scattered areas of fibroglandular density.",
                "No suspicious masses, calcifications or architectural distortion.",
                "Benign",
                "Recommend routine screening mammogram in 1 year.",
            ),
            radiologist=_dr("772101", "SATO", "EMIKO"),
            result_at=_at("202405091015"),
            patient=PatientId("WC0045567", "WOMENS_CENTER"),
        )
    ],
    "lifecycle/07_oru_r01_p.hl7": [
        ReportIssued(
            accession="LC0001",
            status=P,
            text=_lines(
                "PRELIMINARY REPORT",
                "CT CHEST WITHOUT CONTRAST",
                "No pneumothorax. No large pleural effusion.",
                "Final report to follow.",
            ),
            radiologist=_dr("445566", "CHEN", "LILY"),
            result_at=_at("202603020910"),
            patient=PatientId("LC-MRN-1", GH),
        )
    ],
    "lifecycle/08_oru_r01_f.hl7": [
        ReportIssued(
            accession="LC0001",
            status=F,
            text=LIFECYCLE_FINAL,
            radiologist=_dr("445566", "CHEN", "LILY"),
            result_at=_at("202603020940"),
            patient=PatientId("LC-MRN-1", GH),
        )
    ],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_oru_sample_maps_field_by_field(name: str) -> None:
    """Each ORU sample yields one report per OBR: accession, status, text, author, time."""
    assert_same_events(_map_file(name), CASES[name])


def test_every_oru_sample_is_in_the_table() -> None:
    """No ORU sample in fixtures/hl7 (or its lifecycle set) goes untested."""
    samples = {p.name for p in FIXTURES.glob("oru_*.hl7")}
    samples |= {f"lifecycle/{p.name}" for p in FIXTURES.glob("lifecycle/*_oru_*.hl7")}
    assert samples == set(CASES)


def test_the_lifecycle_final_report_has_25_lines() -> None:
    """The lifecycle's final report keeps its 25 TX lines, blank ones included."""
    assert len(LIFECYCLE_FINAL.split("\n")) == 25


@pytest.mark.parametrize("separator", ["\n", "\r\n"])
def test_lf_and_crlf_segment_separators_map_the_same(separator: str) -> None:
    """A sample sent with LF or CRLF between segments maps to the same report as with CR."""
    name = "oru_r01_v25_prelim_ct_tx.hl7"
    text, _ = decode_message((FIXTURES / name).read_bytes(), "ASCII")
    assert_same_events(_map(text.replace("\r", separator)), CASES[name])


REPORT = (
    "MSH|^~\\&|RIS|H|GW|R|20261122083000||ORU^R01|X1|P|2.5\r"
    "PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r"
    "ORC|RE|PL1|FI1\r"
    "OBR|1|PL1|FI1|71250^CT CHEST^CPT4||||||||||||||ACC1||||20261122082000|||F\r"
    "OBX|1|TX|RPT||No acute findings.||||||F\r"
)


def test_other_oru_triggers_are_not_mapped() -> None:
    """ORU triggers other than R01 are accepted and change nothing: None."""
    assert _map(REPORT.replace("ORU^R01", "ORU^R30")) is None


def test_without_pid_the_report_has_no_patient() -> None:
    """The PID is optional: a report without one names no patient."""
    events = _map(REPORT.replace("PID|1||P1^^^H^MR||DOE^JANE||19800101|F\r", ""))
    assert events is not None
    assert events[0].patient is None


def test_without_any_interpreter_the_radiologist_is_empty() -> None:
    """No OBR-32 and no OBX-16: an empty Provider, not an error."""
    events = _map(REPORT)
    assert events is not None
    assert events[0].radiologist == Provider()


def test_without_result_times_the_report_is_dated_by_msh_7() -> None:
    """No OBR-22 and no OBX-14: MSH-7."""
    events = _map(REPORT.replace("|20261122082000|", "||"))
    assert events is not None
    assert events[0].result_at == datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


def test_result_time_is_read_in_the_facility_zone() -> None:
    """OBR-22 without an offset is facility time: 08:20 in Chicago in November is 14:20 UTC."""
    events = _map(REPORT, MappingRules(facility_tz=ZoneInfo("America/Chicago")))
    assert events is not None
    assert events[0].result_at == datetime(2026, 11, 22, 14, 20, tzinfo=UTC)


def test_a_stray_component_separator_in_tx_is_text() -> None:
    """TX has no components: an unescaped ^ or & in a report line is kept as written."""
    events = _map(REPORT.replace("No acute findings.", "BP 120^80 & stable"))
    assert events is not None
    assert events[0].text == "BP 120^80 & stable"


def test_specimen_observations_are_not_report_text() -> None:
    """OBX segments after an SPM describe the specimen and stay out of the report."""
    events = _map(REPORT + "SPM|1|S1\rOBX|2|TX|SPEC||Specimen note||||||F\r")
    assert events is not None
    assert events[0].text == "No acute findings."


def test_the_senders_accession_fields_apply() -> None:
    """A site rule for the sender (MSH-3) chooses where the accession is read: ORC-3 here."""
    rules = MappingRules(accession_fields_by_sender={"RIS": ("ORC-3", "OBR-18")})
    events = _map(REPORT, rules)
    assert events is not None
    assert events[0].accession == "FI1"


def test_site_result_status_codes_are_data() -> None:
    """A site table maps its own OBR-25 codes: A (addendum) as corrected."""
    rules = MappingRules(result_status={"A": ReportStatus.CORRECTED, "F": ReportStatus.FINAL})
    events = _map(REPORT.replace("|||F\r", "|||A\r"), rules)
    assert events is not None
    assert events[0].status is ReportStatus.CORRECTED


SECOND = "OBR|2|PL2|FI2|71260||||||||||||||ACC2||||20261122082100|||F\r"


@pytest.mark.parametrize(
    ("text", "error", "location"),
    [
        (REPORT.split("OBR|", maxsplit=1)[0], MissingField, "OBR"),
        (REPORT.replace("|||F\r", "|||\r"), MissingField, "OBR-25"),
        (REPORT.replace("|||F\r", "|||X\r"), InvalidValue, "OBR-25"),
        (REPORT + SECOND.replace("|||F\r", "|||Q\r"), InvalidValue, "OBR(2)-25"),
        (
            REPORT.replace("|FI1|71250", "||71250").replace("ACC1", "").replace("|FI1\r", "|\r"),
            MissingField,
            "OBR-18",
        ),
        (REPORT + SECOND.replace("ACC2", "").replace("|FI2|", "||"), MissingField, "OBR(2)-18"),
        (REPORT.replace("|20261122082000|", "|2026-11-22|"), InvalidValue, "OBR-22"),
        (
            REPORT.replace("|20261122082000|", "||").replace(
                "findings.||||||F\r", "findings.||||||F|||noon\r"
            ),
            InvalidValue,
            "OBX-14",
        ),
        (
            REPORT.replace("|20261122082000|", "||").replace("|20261122083000|", "||"),
            MissingField,
            "OBR-22",
        ),
    ],
)
def test_unmappable_reports_name_the_field(text: str, error: type, location: str) -> None:
    """A report missing what it needs raises an error naming the segment and field."""
    with pytest.raises(error) as raised:
        _map(text)
    assert str(raised.value.location) == location


def test_an_unknown_result_status_is_a_table_error() -> None:
    """An OBR-25 outside the site's table is HL7 error 103, table value not found."""
    with pytest.raises(InvalidValue) as raised:
        _map(REPORT.replace("|||F\r", "|||I\r"))
    assert raised.value.code is ErrorCode.TABLE_VALUE_NOT_FOUND
