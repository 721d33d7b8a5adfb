"""Studies and procedure steps: counted once, linked to their order whichever comes first."""

from __future__ import annotations

from dataclasses import replace

from mappers.events import (
    InstanceStored,
    OrderDetails,
    OrderPlaced,
    PatientId,
    ProcedureStepCreated,
    ProcedureStepUpdated,
    ScheduledStep,
    StepStatus,
)
from store.errors import EventRejected, Rejection
from tests.store.fold.helpers import fold
from tests.store.fold.scenario import at


def _instance(sop: str, minute: int) -> InstanceStored:
    return InstanceStored(
        "1.2.3",
        "1.2.3.1",
        sop,
        "1.2.840.10008.5.1.4.1.1.2",
        "",
        "A1",
        None,
        "CT",
        "",
        None,
        "",
        "",
        at(minute),
    )


def test_the_same_instance_twice_is_counted_once() -> None:
    """C-STORE of one SOP Instance twice: one instance, counts of one."""
    folded = fold((_instance("1.2.3.1.1", 5),), (_instance("1.2.3.1.1", 6),))
    assert folded.state.get("studies", "1.2.3")["instance_count"] == 1
    assert folded.state.get("series", "1.2.3.1")["instance_count"] == 1


def test_images_before_their_order_link_when_it_is_placed() -> None:
    """A study that matched nothing links to the order that names it, images available."""
    folded = fold(
        (_instance("1.2.3.1.1", 30),),
        (OrderPlaced("A1", PatientId("M1"), OrderDetails(), at(1)),),
    )
    assert folded.state.get("studies", "1.2.3")["order"] == "A1"
    assert folded.state.get("orders", "A1")["images_available_at"] == at(30)


def test_an_update_of_a_finished_step_is_refused_alone() -> None:
    """N-SET after completion is refused; the messages before it stay applied."""
    created = ProcedureStepCreated(
        "9.9",
        StepStatus.IN_PROGRESS,
        (ScheduledStep(accession="A1"),),
        None,
        "",
        "CT",
        at(1),
        None,
        (),
        at(1),
    )
    done = ProcedureStepUpdated("9.9", StepStatus.COMPLETED, at(9), (), at(9))
    folded = fold((created,), (done,), (done,))
    assert folded.refusals[:2] == [None, None]
    refused = folded.refusals[2]
    assert isinstance(refused, EventRejected) and refused.kind is Rejection.NOT_UPDATABLE
    assert folded.state.get("steps", "9.9")["status"] == "COMPLETED"


def test_an_availability_notification_keeps_what_images_said() -> None:
    """An IAN after the images (no modality, no transfer syntax) adds its new instance and
    leaves the series' modality and the stored instance as they were."""
    stored = _instance("1.2.3.1.1", 5)
    announced = replace(stored, modality="", transfer_syntax="", received_at=at(9))
    more = replace(announced, sop_instance_uid="1.2.3.1.2")
    folded = fold((stored,), (announced, more))
    assert folded.state.get("series", "1.2.3.1")["modality"] == "CT"
    assert folded.state.get("series", "1.2.3.1")["instance_count"] == 2
    assert folded.state.get("instances", "1.2.3.1.1")["received_at"] == at(5)


def test_a_notification_links_its_study_through_the_referenced_step() -> None:
    """A study UID and accession no order knows link through the MPPS the IAN references."""
    step = ProcedureStepCreated(
        "9.9",
        StepStatus.IN_PROGRESS,
        (ScheduledStep(accession="A1"),),
        None,
        "CT01",
        "CT",
        at(1),
        None,
        (),
        at(1),
    )
    notice = replace(
        _instance("1.2.3.1.1", 5), accession="", study_instance_uid="7.7", performed_step_uid="9.9"
    )
    folded = fold((OrderPlaced("A1", PatientId("M1"), OrderDetails(), at(0)),), (step,), (notice,))
    assert folded.state.get("studies", "7.7")["order"] == "A1"
    assert folded.state.get("orders", "A1")["images_available_at"] == at(5)


def test_an_instance_announced_then_received_keeps_how_it_came() -> None:
    """IAN first, then the C-STORE of the same instance: counted once, with the transfer
    syntax and file the C-STORE brought."""
    received = replace(
        _instance("1.2.3.1.1", 9), transfer_syntax="1.2.840.10008.1.2.1", stored_path="/x.dcm"
    )
    announced = replace(
        received, modality="", transfer_syntax="", stored_path="", received_at=at(5)
    )
    folded = fold((announced,), (received,))
    row = folded.state.get("instances", "1.2.3.1.1")
    assert (row["transfer_syntax"], row["stored_path"]) == ("1.2.840.10008.1.2.1", "/x.dcm")
    assert folded.state.get("studies", "1.2.3")["instance_count"] == 1
