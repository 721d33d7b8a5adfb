"""Studies and procedure steps: counted once, linked to their order whichever comes first."""

from __future__ import annotations

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
