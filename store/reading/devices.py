"""An order's device in SQL, for the few reads that go to the orders themselves."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from store.schema import devices, orders, procedure_steps, studies


def order_device(order_id: ColumnElement[int] = orders.c.id) -> ColumnElement[str]:
    """The order's device: its first-started step's known one, else its first study's, else ""
    (the rule of store.fold.readmodels.order_device)."""
    step = (
        select(devices.c.ae_title)
        .select_from(procedure_steps.join(devices, procedure_steps.c.device_id == devices.c.id))
        .where(procedure_steps.c.order_id == order_id)
        .order_by(procedure_steps.c.started_at.asc().nulls_last(), procedure_steps.c.id)
        .limit(1)
        .scalar_subquery()
    )
    study = (
        select(devices.c.ae_title)
        .select_from(studies.join(devices, studies.c.device_id == devices.c.id))
        .where(studies.c.order_id == order_id)
        .order_by(studies.c.first_instance_at, studies.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(step, study, "")
