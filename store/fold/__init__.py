"""The store's functional core: current rows + a batch's events -> new rows, with no I/O.

One module per aggregate (patients, arrivals, orders, schedule, reports, devices, equipment,
studies, steps, milestones, links; the message log's rule in messages); `fold_batch` (batch)
runs each message's events over the rows the shell loaded, and a message it refuses leaves
no trace. A read model later is one more module here, one more table in state.KEYED or
state.APPENDED, and its columns in store.load / store.flush.
"""
